"""A small OpenID Connect provider for the single sign-on tests: django-oauth-toolkit in a
Django project of its own, run in its own process (``serve.py``, started by ``process.py``)."""
