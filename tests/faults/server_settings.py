"""Settings for the servers and workers the fault tests start: the project's settings, with
static files served from the source folders (as the in-process tests do), because production
storage needs a manifest that only ``collectstatic`` writes."""

from config.settings import *  # noqa: F403

STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
