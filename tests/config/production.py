"""The environment of a production process, which the settings and header tests start."""

from __future__ import annotations

from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[2]


PRODUCTION = {
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/worktrials",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    "SECRET_KEY": "x" * 50,
    "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    "PERSONAL_NUMBER_HASH_KEY": "y" * 40,
    "ALLOWED_HOSTS": "trials.example.org",
    "SITE_URL": "https://trials.example.org",
}
