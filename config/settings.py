"""Settings for the trial system: one module, every deploy-time value from the environment.

Two modes:

* **Embedded default** (``DATABASE_URL`` unset): SQLite, a Celery broker on local disk, files on
  local disk and generated development keys kept under ``var/``. For trying the system and
  for development; ``make run`` starts it.
* **Production** (``DATABASE_URL`` set): PostgreSQL, Redis, real secrets. Unsafe values (``DEBUG``
  on, a missing secret key or encryption key) refuse to start with a one-line message.
"""

import base64
import re
import secrets
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF
from django.utils.translation import gettext_lazy as _

from config.env import ConfigError, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))

DATABASE_URL = env_str("DATABASE_URL", "")
EMBEDDED = DATABASE_URL == ""


def _embedded_secret(name: str) -> str:
    """A development secret generated once and kept under var/, never in the repository."""
    path = VAR_DIR / "keys" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        value = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        path.write_text(value)
        path.chmod(0o600)
    return path.read_text().strip()


def _secret(name: str) -> str:
    if EMBEDDED:
        return env_str(name, _embedded_secret(name.lower()))
    return env_str(name)  # raises "NAME must be set"


DEBUG = env_bool("DEBUG", default=False)
if DEBUG and not EMBEDDED:
    raise ConfigError("DEBUG must be off when DATABASE_URL is set (production); unset DEBUG")

SECRET_KEY = _secret("SECRET_KEY")
if not EMBEDDED and len(SECRET_KEY) < 32:
    raise ConfigError("SECRET_KEY must be at least 32 characters long")

# Personal numbers are encrypted with Fernet keys. The first key encrypts; all keys decrypt,
# so a new key can be put in front and data re-encrypted later.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", [])
if not FIELD_ENCRYPTION_KEYS:
    if not EMBEDDED:
        raise ConfigError("FIELD_ENCRYPTION_KEYS must be set (comma-separated Fernet keys)")
    FIELD_ENCRYPTION_KEYS = [_embedded_secret("field_encryption_key")]
for _key in FIELD_ENCRYPTION_KEYS:
    try:
        if len(base64.urlsafe_b64decode(_key.encode())) != 32:
            raise ValueError
    except ValueError:
        raise ConfigError(
            "FIELD_ENCRYPTION_KEYS must hold url-safe base64 Fernet keys of 32 bytes"
        ) from None
# Keyed hash for finding a person by personal number without decrypting every row.
PERSONAL_NUMBER_HASH_KEY = _secret("PERSONAL_NUMBER_HASH_KEY")
# The allocation log is chained under a keyed MAC (randomisation/chain.py), never stored in the
# database. Comma-separated: the first key signs, all verify; rotate with
# `manage.py anchor_allocation_chain --all` (docs/security.md). Outside the embedded default a
# missing key does not stop the server, but every randomisation is refused, naming the variable.
ALLOCATION_CHAIN_KEYS = env_list("ALLOCATION_CHAIN_KEYS", [])
if not ALLOCATION_CHAIN_KEYS and EMBEDDED:
    ALLOCATION_CHAIN_KEYS = [_embedded_secret("allocation_chain_key")]
if any(len(_key) < 32 for _key in ALLOCATION_CHAIN_KEYS):
    raise ConfigError("ALLOCATION_CHAIN_KEYS must hold keys of at least 32 characters each")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if EMBEDDED else [])
if not ALLOWED_HOSTS:
    raise ConfigError("ALLOWED_HOSTS must be set (comma-separated host names)")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "trial",
    "occupations",
    "instruments",
    "randomisation",
    "fidelity",
    "pathways",
    "economics",
    "reports",
    "trialimport",
    "demo",
    "accounts",
    "privacy",
    "surveys",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # A lost database connection answers 503 (retry) rather than 500.
    "config.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # A NUL or unpaired surrogate in the address, query or form fields answers 400 (in the
    # reader's language, hence after LocaleMiddleware) before any view queries with it.
    "config.characters.InvalidCharactersMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A signed-in user who has, or must have, a second factor does nothing else until the
    # session is verified by it.
    "accounts.middleware.TwoFactorMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, so that a locked-out login never reaches the view.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "trial.context_processors.navigation",
            ],
        },
    },
]

if EMBEDDED:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES: dict[str, Any] = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(VAR_DIR / "db.sqlite3")),
            "OPTIONS": {"transaction_mode": "IMMEDIATE", "timeout": 20},
        }
    }
else:
    try:
        DATABASES = {
            "default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("CONN_MAX_AGE", 60))
        }
    except ValueError as exc:
        raise ConfigError(f"DATABASE_URL is not a valid database URL: {exc}") from None
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The application's restricted PostgreSQL role. When set, ``migrate`` (run as the owner of the
# tables) grants it read and write on ordinary tables and only SELECT/INSERT on the append-only
# ones (trial/dbroles.py; README "Run it in production").
DATABASE_APP_ROLE = env_str("DATABASE_APP_ROLE", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    # Refuses every password while PASSWORD_SIGN_IN is off (single sign-on only).
    "accounts.backends.PasswordSignInSwitch",
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 12},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "trial:home"
LOGOUT_REDIRECT_URL = "login"

# Reverse proxies in front of the app that add the client's address to X-Forwarded-For (nginx,
# a load balancer). 0: the header is ignored and REMOTE_ADDR is the client (config/network.py).
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
if TRUSTED_PROXY_COUNT < 0:
    raise ConfigError("TRUSTED_PROXY_COUNT must be 0 or more")

# Failed logins: after AXES_FAILURE_LIMIT failures for one user name from one address the login
# is refused for AXES_COOLOFF_MINUTES. The pair, not the name alone, so that failures from one
# address never lock the user out elsewhere; the address is the client's, seen through the
# trusted proxies (django-ipware is not used: one rule for axes and the API's throttles).
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_int("AXES_COOLOFF_MINUTES", 15) / 60
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "config.network.client_ip"
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False

# API tokens (accounts.ApiToken) stop working this many days after they were issued.
API_TOKEN_DAYS = env_int("API_TOKEN_DAYS", 30)
if API_TOKEN_DAYS < 1:
    raise ConfigError("API_TOKEN_DAYS must be 1 or more")

# Two-factor sign-in (TOTP, django-otp). Optional for everyone; required for users who can
# unblind or download data (trial.permissions.TWO_FACTOR_PERMS) and for admin-site users,
# except in the embedded default, whose demo users sign in with a password alone.
TWO_FACTOR_REQUIRED = env_bool("TWO_FACTOR_REQUIRED", default=not EMBEDDED)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Work-inclusion trials")
# Wrong codes make the next try wait 1, 2, 4, 8 ... seconds (per device, kept in the database).
OTP_TOTP_THROTTLE_FACTOR = env_int("OTP_TOTP_THROTTLE_FACTOR", 1)
OTP_STATIC_THROTTLE_FACTOR = OTP_TOTP_THROTTLE_FACTOR

# Single sign-on with OpenID Connect (accounts/oidc.py, docs/sso.md). Off unless OIDC_ISSUER is
# set: the embedded default, and any deployment that sets nothing, keeps local accounts only.
# The provider's endpoints come from its discovery document, fetched when someone signs in.
OIDC_ISSUER = env_str("OIDC_ISSUER", "")
OIDC_DISCOVERY_URL = env_str(
    "OIDC_DISCOVERY_URL",
    OIDC_ISSUER.rstrip("/") + "/.well-known/openid-configuration" if OIDC_ISSUER else "",
)
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID", "")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET", "")
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid profile email")
# How the app authenticates at the token endpoint: client_secret_post or client_secret_basic.
OIDC_TOKEN_AUTH_METHOD = env_str("OIDC_TOKEN_AUTH_METHOD", "client_secret_post")
OIDC_SIGN_ALGORITHM = env_str("OIDC_SIGN_ALGORITHM", "RS256")
# Sent as acr_values to ask for a level of assurance (ID-porten: idporten-loa-high).
OIDC_ACR_VALUES = env_str("OIDC_ACR_VALUES", "")
# The provider vouches for a second factor when the ID token's amr holds one of these methods
# (RFC 8176) or its acr is one of these levels; the session is then verified as after a code
# from the authenticator app. Otherwise the app's own two-factor step follows, as after a
# password.
OIDC_SECOND_FACTOR_AMR = env_list("OIDC_SECOND_FACTOR_AMR", ["mfa", "otp", "hwk", "sc"])
OIDC_SECOND_FACTOR_ACR = env_list("OIDC_SECOND_FACTOR_ACR", [])
OIDC_USERINFO = env_bool("OIDC_USERINFO", default=True)
# A first sign-in makes a user (without any trial membership) from the claims; off: only
# identities already linked may sign in.
OIDC_CREATE_USERS = env_bool("OIDC_CREATE_USERS", default=True)
# A first sign-in may link to the one local user with the same e-mail address, if the provider
# says the address is verified (email_verified). Off by default: never by name.
OIDC_LINK_BY_EMAIL = env_bool("OIDC_LINK_BY_EMAIL", default=False)
OIDC_TIMEOUT = env_int("OIDC_TIMEOUT", 10)
# Signing out of the app also ends the session at the provider (OpenID Connect RP-Initiated
# Logout): the browser goes on to its end_session_endpoint and back to the sign-in page. Off, or
# with a provider that has no such endpoint, signing out ends only the app's session.
OIDC_PROVIDER_LOGOUT = env_bool("OIDC_PROVIDER_LOGOUT", default=True)
# Off: the sign-in page offers only the identity provider, and passwords sign no one in (the
# page, the admin site and the API token endpoint alike).
PASSWORD_SIGN_IN = env_bool("PASSWORD_SIGN_IN", default=True)
if OIDC_ISSUER:
    for _name in ("OIDC_PROVIDER_NAME", "OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET"):
        if not globals()[_name]:
            raise ConfigError(f"{_name} must be set when OIDC_ISSUER is set")
    for _name in ("OIDC_ISSUER", "OIDC_DISCOVERY_URL"):
        _url = globals()[_name]
        if not re.match(r"https://|http://(127\.0\.0\.1|localhost|\[::1\])[:/]", _url):
            raise ConfigError(f"{_name} must be an https:// URL (http:// only on this machine)")
    if "openid" not in OIDC_SCOPES.split():
        raise ConfigError("OIDC_SCOPES must include openid")
    if OIDC_TOKEN_AUTH_METHOD not in ("client_secret_post", "client_secret_basic"):
        raise ConfigError(
            "OIDC_TOKEN_AUTH_METHOD must be client_secret_post or client_secret_basic"
        )
    if not re.fullmatch(r"(RS|ES)(256|384|512)", OIDC_SIGN_ALGORITHM):
        raise ConfigError(
            "OIDC_SIGN_ALGORITHM must be an asymmetric algorithm such as RS256 or ES256"
        )
    if OIDC_TIMEOUT < 1:
        raise ConfigError("OIDC_TIMEOUT must be 1 or more")
elif not PASSWORD_SIGN_IN:
    raise ConfigError("PASSWORD_SIGN_IN may be off only when OIDC_ISSUER is set")

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("nb", _("Norwegian Bokmål"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# One date and time format per language, ISO-like in both (config/formats/).
FORMAT_MODULE_PATH = ["config.formats"]
TIME_ZONE = env_str("TIME_ZONE", "Europe/Oslo")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Report files and uploads live outside the web root and are served only by authorised views.
FILES_ROOT = Path(env_str("FILES_ROOT", str(VAR_DIR / "files")))
# The allocation log's witness files (one per trial), outside the database; empty means
# FILES_ROOT/allocation-witness. Put it where the database's administrators cannot write.
ALLOCATION_WITNESS_DIR = env_str("ALLOCATION_WITNESS_DIR", "")
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": FILES_ROOT, "base_url": None},
    },
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if EMBEDDED
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = EMBEDDED

# Security headers. Cookies are secure outside the embedded default (which runs on plain http).
SECURE_COOKIES = env_bool("SECURE_COOKIES", default=not EMBEDDED)
SESSION_COOKIE_SECURE = SECURE_COOKIES
CSRF_COOKIE_SECURE = SECURE_COOKIES
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if EMBEDDED else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
if env_bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so that an unauthenticated request gets 401 with WWW-Authenticate.
        "accounts.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    # drf-spectacular's AutoSchema plus the error responses of every operation.
    "DEFAULT_SCHEMA_CLASS": "config.api.AutoSchema",
    # One error body for the whole API: {"detail", "code"}, plus "errors" by field on a 400.
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.NamespaceVersioning",
    "DEFAULT_VERSION": "v1",
    "ALLOWED_VERSIONS": ["v1"],
    # Rates from API_THROTTLE_RATES, read on each request (config.throttles); 429, Retry-After.
    "DEFAULT_THROTTLE_CLASSES": ["config.throttles.AnonThrottle", "config.throttles.UserThrottle"],
}
# Requests per client address without a user, and per signed-in user ("N/second|minute|hour|
# day"). The user rate is far above what people and integrations send (a contact batch holds 500
# contacts); it stops a runaway client. Counted in the cache: while Redis is down, not at all.
API_THROTTLE_RATES = {
    "anon": env_str("API_THROTTLE_ANON", "30/minute"),
    "user": env_str("API_THROTTLE_USER", "3000/minute"),
    # The mail/SMS provider's bounce and opt-out reports, per client address.
    "surveys_provider": env_str("API_THROTTLE_SURVEYS_PROVIDER", "120/minute"),
}
for _scope, _rate in API_THROTTLE_RATES.items():
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", _rate):
        raise ConfigError(
            f"API_THROTTLE_{_scope.upper()} must look like 30/minute (per second, minute, hour "
            f"or day), not {_rate!r}"
        )
SPECTACULAR_SETTINGS = {
    "TITLE": "Work-inclusion trials API",
    "DESCRIPTION": "Trials, participants, randomisation, contacts and reports.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Request bodies get components of their own, which state what input refuses (a blank
    # string: minLength 1) and leave out read-only fields.
    "COMPONENT_SPLIT_REQUEST": True,
    # Bodies are documented as JSON only, as docs/api.md says: form encodings cannot express
    # null, an empty list or a nested object, so the schema could not describe them truthfully.
    # The form parsers stay, so that a form request that works today keeps working.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # Several models have a "kind"; name the unit cost's so the schema needs no numbered name.
    "ENUM_NAME_OVERRIDES": {"UnitCostKindEnum": "economics.models.UnitCost.Kind"},
}

# Celery. The embedded default keeps its queue in files under var/, so no broker server is needed.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://" if EMBEDDED else None)
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue = VAR_DIR / "celery"
    for _sub in ("queue", "processed", "control"):
        (_queue / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue / "queue"),
        "data_folder_out": str(_queue / "queue"),
        "processed_folder": str(_queue / "processed"),
        "store_processed": False,
        # Exchange tables (the workers' remote-control mailboxes); kombu's default is a
        # "control" folder in the current directory, i.e. the checkout.
        "control_folder": str(_queue / "control"),
    }
else:
    # A task a worker took but never acknowledged (the worker was killed) goes back to the queue
    # after this many seconds. It must exceed the longest task and countdown. Jobs do not wait
    # for it: the sweep resumes a dead worker's job by its lease (trial/jobs.py), and the late
    # message then finds the job taken or finished.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)
    }
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_IGNORE_RESULT = True  # progress and results live on the database rows
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 30 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Background jobs (report builds, simulations, imports; trial/jobs.py). A worker renews its
# job's lease every JOB_HEARTBEAT_SECONDS, also through long single steps; a job silent for
# JOB_LEASE_SECONDS has lost its worker, and the sweep (every minute) queues it again while it
# has had fewer than JOB_MAX_ATTEMPTS tries, else fails it. So a killed worker's job is resumed
# or failed within about two minutes, whatever the broker's visibility timeout. A job no
# worker took for JOB_QUEUED_HOURS (imports: IMPORT_QUEUED_MINUTES, someone waits at the page)
# is failed: the broker lost its queue (a Redis without persistence that restarted) or no
# worker runs.
JOB_LEASE_SECONDS = env_int("JOB_LEASE_SECONDS", 90)
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 15)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 3)
JOB_QUEUED_HOURS = env_int("JOB_QUEUED_HOURS", 24)
IMPORT_QUEUED_MINUTES = env_int("IMPORT_QUEUED_MINUTES", 60)
if not 0 < 3 * JOB_HEARTBEAT_SECONDS <= JOB_LEASE_SECONDS:
    raise ConfigError(
        "JOB_HEARTBEAT_SECONDS must be positive and at most a third of JOB_LEASE_SECONDS"
    )
# Report builds one user may have queued or running at a time, in all trials together; a
# further order is refused with the reason (page) or 429 (API).
REPORT_ACTIVE_PER_USER = env_int("REPORT_ACTIVE_PER_USER", 5)
# Checked files of a browser import wait for the "Import" button at most IMPORT_KEEP_HOURS,
# encrypted under FILES_ROOT.
IMPORT_KEEP_HOURS = env_int("IMPORT_KEEP_HOURS", 24)

# Redis doubles as the cache where it is configured; otherwise a per-process cache. While Redis
# is down the cache misses and skips writes (config/cache.py), so pages keep working uncached;
# short socket timeouts keep an unreachable Redis from holding requests up.
CACHE_URL = env_str("CACHE_URL", "")
CACHES = {
    "default": (
        {
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": CACHE_URL,
            # Apart from other deployments' (or test processes') keys in the same Redis.
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX", ""),
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
        if CACHE_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

EMAIL_BACKEND = env_str(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if EMBEDDED
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "trials@localhost")
# Scheme, host and port of the web pages, for links in e-mails (which have no request to ask).
# Required outside the embedded default, where a wrong guess would mail unusable links.
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000" if EMBEDDED else None).rstrip("/")

# Participant questionnaire links (surveys/): SMS goes through SMS_BACKEND, a dotted path to a
# class (surveys/sms.py). The default writes each message to the console log without the
# number; surveys.sms.HttpGatewayBackend posts to SMS_GATEWAY_URL (docs/participant-
# questionnaires.md). Link pages are throttled per client address like sign-in lock-outs.
SMS_BACKEND = env_str("SMS_BACKEND", "surveys.sms.ConsoleBackend")
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL", "")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN", "")
SMS_SENDER = env_str("SMS_SENDER", "Trial")
SMS_GATEWAY_TIMEOUT = env_int("SMS_GATEWAY_TIMEOUT", 10)
SURVEY_LINK_RATE = env_str("SURVEY_LINK_RATE", "60/minute")
SURVEY_MAX_ATTEMPTS = env_int("SURVEY_MAX_ATTEMPTS", 5)
# How many messages a run of participant invitations has on their way at once: each sender has
# a database connection and a mail connection of its own (surveys.delivery.send_due).
SURVEY_SEND_CONNECTIONS = env_int("SURVEY_SEND_CONNECTIONS", 8)
# Days a consent link (surveys/consent) works after it is made.
CONSENT_LINK_DAYS = env_int("CONSENT_LINK_DAYS", 30)
# The shared secret the mail or SMS provider sends in X-Provider-Secret when it reports a bounce
# or an opt-out (POST /api/v1/surveys/bounces/). Empty: the endpoint answers 404.
SURVEY_PROVIDER_SECRET = env_str("SURVEY_PROVIDER_SECRET", "")

# How long the author of a logged contact may still correct it; after that it is locked.
CONTACT_EDIT_HOURS = env_int("CONTACT_EDIT_HOURS", 72)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"axes": {"level": "WARNING"}},
}
