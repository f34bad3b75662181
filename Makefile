# `make run` starts the app on the embedded default (web server and worker, stopped together by
# Ctrl-C: scripts/run_embedded.py); `make test` runs the whole suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
ADDR ?= 127.0.0.1:8000

.PHONY: run test lint typecheck bench translations clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@ $(VENV)/.installed

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,dev]"
	@touch $@ $(VENV)/.installed-test $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo --if-empty
	@echo ""
	@echo "  Open http://$(ADDR)/  (demo logins: coordinator, caseworker, caseworker-bergen,"
	@echo "  reviewer, statistician, unblinded, datamanager, monitor; password demo-trials-2026)"
	@echo ""
	@$(BIN)/python scripts/run_embedded.py $(ADDR)

# Outside the embedded default (DATABASE_URL set) the settings need real secrets; tests get
# throw-away ones unless the caller provides them.
test: $(VENV)/.installed-test
	@SECRET_KEY="$${SECRET_KEY:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')}" \
	FIELD_ENCRYPTION_KEYS="$${FIELD_ENCRYPTION_KEYS:-$$($(BIN)/python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')}" \
	ALLOWED_HOSTS="$${ALLOWED_HOSTS:-localhost,127.0.0.1}" CONN_MAX_AGE=0 \
	SITE_URL="$${SITE_URL:-http://127.0.0.1:8000}" \
	PERSONAL_NUMBER_HASH_KEY="$${PERSONAL_NUMBER_HASH_KEY:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(32))')}" \
	sh -c '$(BIN)/python manage.py makemigrations --check --dry-run >/dev/null && \
	       $(BIN)/python -m pytest -n auto --dist loadfile $(PYTEST_ARGS)'

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy with the configuration in pyproject.toml. The django-stubs plugin imports the settings, so
# they load in the embedded default (the types do not depend on the mode); the incremental cache
# is kept in var/mypy_cache.
typecheck: $(VENV)/.installed-dev
	env -u DATABASE_URL -u CELERY_BROKER_URL -u CACHE_URL $(BIN)/mypy

bench: $(VENV)/.installed-test
	$(BIN)/python bench/run.py

# Regenerate message catalogues after changing strings (needs GNU gettext).
translations: $(VENV)/.installed
	$(BIN)/python manage.py makemessages -l nb --no-obsolete --ignore=.venv --ignore=var
	$(BIN)/python manage.py makemessages -d djangojs -l nb --no-obsolete --ignore=.venv --ignore=var --ignore=static/vendor
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf var
