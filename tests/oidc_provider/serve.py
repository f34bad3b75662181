"""Run the test OpenID Connect provider until terminated: ``python -m
tests.oidc_provider.serve --db PATH --client-id ID --client-secret SECRET --redirect-uri URI
[--post-logout-redirect-uri URI]``.

At start it generates the RSA key that signs its ID tokens, migrates its own SQLite database,
makes the users of ``people.PEOPLE`` and registers one confidential client (authorization code
with PKCE, RS256, no consent screen, and the addresses it may send the browser back to after
signing out at its end_session_endpoint). It listens on a free port of 127.0.0.1 and prints the
port on the first line of its output; its issuer is ``http://127.0.0.1:PORT/o``.
"""

from __future__ import annotations

import argparse
import os
import secrets

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def _rsa_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret", required=True)
    parser.add_argument("--redirect-uri", action="append", required=True)
    parser.add_argument("--post-logout-redirect-uri", action="append", default=[])
    args = parser.parse_args()
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.oidc_provider.settings"
    os.environ["OIDC_PROVIDER_DB"] = args.db
    os.environ["OIDC_PROVIDER_SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ["OIDC_PROVIDER_RSA_KEY"] = _rsa_key()

    import django

    django.setup()

    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
    from django.core.wsgi import get_wsgi_application
    from oauth2_provider.models import Application

    from tests.oidc_provider.people import PASSWORD, PEOPLE

    call_command("migrate", verbosity=0, interactive=False)
    for username in PEOPLE:
        if not User.objects.filter(username=username).exists():
            User.objects.create_user(username, password=PASSWORD)
    Application.objects.filter(client_id=args.client_id).delete()
    Application.objects.create(
        name="Work-inclusion trials",
        client_id=args.client_id,
        client_secret=args.client_secret,
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris=" ".join(args.redirect_uri),
        post_logout_redirect_uris=" ".join(args.post_logout_redirect_uri),
        algorithm=Application.RS256_ALGORITHM,
        skip_authorization=True,
    )
    server = ThreadedWSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(get_wsgi_application())
    print(server.server_port, flush=True)  # noqa: T201 - the port, for the test that started it
    server.serve_forever()


if __name__ == "__main__":
    main()
