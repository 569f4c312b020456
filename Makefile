# dssportal: the two commands that matter are `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run serve test lint fmt bench install static migrate clean-data

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --editable '.[dev]'
	@touch $(STAMP)

# A local .env with DEBUG on and a random SECRET_KEY, written once; real environment wins.
# Not on a server whose environment already holds the secret (README "Production"): a .env
# with DEBUG=1 there would turn on debug for every command run without that environment.
.env:
	@if [ -n "$${SECRET_KEY:-}$${SECRET_KEY_FILE:-}" ]; then \
	  echo "SECRET_KEY is set in the environment: no .env written."; \
	else \
	  echo "DEBUG=1" > .env; \
	  echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env; \
	  echo "Wrote .env for local development (DEBUG=1, a random SECRET_KEY)."; \
	fi

install: $(STAMP) .env static

# Hashed, compressed static files and their manifest for WhiteNoise (DEBUG=0 serves them; see
# README "Production"). Always built with the production storage, whatever DEBUG says in .env.
static: $(STAMP) .env
	DEBUG=0 $(PY) manage.py collectstatic --noinput --skip-checks --verbosity 0

migrate: install
	$(PY) manage.py migrate --noinput

run: migrate
	$(PY) manage.py runportal --host $(HOST) --port $(PORT)

# The production shape on this host: gunicorn + qcluster + runftpd with DEBUG=0, over plain HTTP
# on $(HOST):$(PORT) (so cookies are not marked Secure unless the environment says so). Behind
# nginx with TLS, use the deploy/ units instead (README "Production").
serve: migrate
	DEBUG=0 ALLOWED_HOSTS=$${ALLOWED_HOSTS:-$(HOST),localhost,127.0.0.1} \
	SESSION_COOKIE_SECURE=$${SESSION_COOKIE_SECURE:-0} CSRF_COOKIE_SECURE=$${CSRF_COOKIE_SECURE:-0} \
	$(PY) manage.py serveportal --bind $(HOST):$(PORT)

test: install
	./scripts/ensure-test-tools
	$(PY) -m pytest -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy dssportal accounts extraction

fmt: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install
	@for script in bench/bench_*.py; do echo "== $$script"; $(PY) $$script || exit 1; done

clean-data:
	rm -rf var
