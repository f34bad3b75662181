"""Tokens of DRF's authtoken app (one per user, the key stored as it is), which this project
used before accounts.ApiToken, carried over so that integrations keep working: the digest of
each key, valid for API_TOKEN_DAYS from now. They are marked as issued without a second factor
(nothing recorded whether one was asked), so users whose roles need one must get a new token.
The old table is read with SQL because the authtoken app is no longer installed; it is left in
place, and can be dropped once this has run."""

import datetime as dt
import hashlib

from django.conf import settings
from django.db import migrations
from django.utils import timezone
from django.utils.dateparse import parse_datetime

LEGACY_TABLE = "authtoken_token"


def _aware(value):
    """The column as an aware datetime: SQLite gives text, in UTC, without a zone."""
    if isinstance(value, str):
        value = parse_datetime(value)
    if value is not None and timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    return value


def copy_tokens(apps, schema_editor):
    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return
    ApiToken = apps.get_model("accounts", "ApiToken")
    now = timezone.now()
    expires = now + dt.timedelta(days=settings.API_TOKEN_DAYS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {LEGACY_TABLE}")  # noqa: S608
        rows = cursor.fetchall()
    ApiToken.objects.bulk_create(
        [
            ApiToken(
                user_id=user_id,
                digest=hashlib.sha256(key.encode()).hexdigest(),
                prefix=key[:8],
                two_factor=False,
                created_at=_aware(created) or now,
                expires_at=expires,
            )
            for key, user_id, created in rows
        ],
        ignore_conflicts=True,
    )


class Migration(migrations.Migration):
    dependencies = [("accounts", "0001_api_tokens")]

    operations = [migrations.RunPython(copy_tokens, migrations.RunPython.noop)]
