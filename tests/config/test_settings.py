"""Wrong or missing environment values stop the process with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.config.production import PRODUCTION, ROOT


def run_check(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "DEBUG"}
    clean.update(env)
    clean["VAR_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def without(name: str) -> dict[str, str]:
    return {k: v for k, v in PRODUCTION.items() if k != name}


# Single sign-on with Microsoft Entra ID (docs/sso.md).
TENANT = "00000000-0000-0000-0000-000000000000"
SSO = {
    **PRODUCTION,
    "OIDC_ISSUER": f"https://sts.windows.net/{TENANT}/",
    "OIDC_DISCOVERY_URL": (
        f"https://login.microsoftonline.com/{TENANT}/.well-known/openid-configuration"
    ),
    "OIDC_PROVIDER_NAME": "NAV",
    "OIDC_CLIENT_ID": "11111111-1111-1111-1111-111111111111",
    "OIDC_CLIENT_SECRET": "z" * 40,
}


def sso_without(name: str) -> dict[str, str]:
    return {k: v for k, v in SSO.items() if k != name}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (without("SECRET_KEY"), "SECRET_KEY must be set"),
        ({**PRODUCTION, "SECRET_KEY": "short"}, "SECRET_KEY must be at least 32 characters"),
        (without("FIELD_ENCRYPTION_KEYS"), "FIELD_ENCRYPTION_KEYS must be set"),
        ({**PRODUCTION, "FIELD_ENCRYPTION_KEYS": "not-a-key"}, "FIELD_ENCRYPTION_KEYS must hold"),
        (without("PERSONAL_NUMBER_HASH_KEY"), "PERSONAL_NUMBER_HASH_KEY must be set"),
        (without("CELERY_BROKER_URL"), "CELERY_BROKER_URL must be set"),
        (without("ALLOWED_HOSTS"), "ALLOWED_HOSTS must be set"),
        (without("SITE_URL"), "SITE_URL must be set"),
        ({**PRODUCTION, "DEBUG": "1"}, "DEBUG must be off"),
        ({**PRODUCTION, "DEBUG": "maybe"}, "DEBUG must be a boolean"),
        ({**PRODUCTION, "DATABASE_URL": "nosuchdb://x"}, "DATABASE_URL is not a valid"),
        (sso_without("OIDC_CLIENT_ID"), "OIDC_CLIENT_ID must be set when OIDC_ISSUER is set"),
        (sso_without("OIDC_CLIENT_SECRET"), "OIDC_CLIENT_SECRET must be set"),
        (sso_without("OIDC_PROVIDER_NAME"), "OIDC_PROVIDER_NAME must be set"),
        ({**SSO, "OIDC_ISSUER": "http://idp.example.org/"}, "OIDC_ISSUER must be an https://"),
        ({**SSO, "OIDC_DISCOVERY_URL": "ftp://x/"}, "OIDC_DISCOVERY_URL must be an https://"),
        ({**SSO, "OIDC_SCOPES": "profile email"}, "OIDC_SCOPES must include openid"),
        ({**SSO, "OIDC_SIGN_ALGORITHM": "HS256"}, "OIDC_SIGN_ALGORITHM must be an asymmetric"),
        ({**SSO, "OIDC_TOKEN_AUTH_METHOD": "none"}, "OIDC_TOKEN_AUTH_METHOD must be"),
        ({**PRODUCTION, "PASSWORD_SIGN_IN": "0"}, "PASSWORD_SIGN_IN may be off only when"),
    ],
)
def test_unsafe_or_wrong_production_settings_refuse_to_start(
    env: dict[str, str], message: str, tmp_path: Path
) -> None:
    result = run_check(env, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("configuration error: ")
    assert message in lines[0]


def test_complete_production_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    result = run_check(PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr


def test_single_sign_on_settings_pass_the_deploy_check(tmp_path: Path) -> None:
    result = run_check({**SSO, "PASSWORD_SIGN_IN": "0"}, tmp_path)
    assert result.returncode == 0, result.stderr


def test_embedded_default_starts_with_generated_keys_outside_the_repository(
    tmp_path: Path,
) -> None:
    result = run_check({"DEBUG": "1"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "keys" / "secret_key").exists()
    assert (tmp_path / "keys" / "field_encryption_key").exists()
    assert oct((tmp_path / "keys" / "secret_key").stat().st_mode)[-3:] == "600"
