# allot — two commands on a fresh machine with Python 3.11:
#   make demo   set up everything and serve the demo city on http://127.0.0.1:8000 (with the scheduler)
#   make test   run the whole test suite (lint, types, migrations check, SQLite pass, PostgreSQL pass)

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: demo test install lint serve clean

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON) (or: make PYTHON=python3 ...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

.env:
	$(PY) config/make_env.py .env

demo: install .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py load_demo
	$(PY) manage.py serve_demo

serve: install .env
	$(PY) manage.py serve_demo

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

test: install lint
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -m "not postgres" -p no:cacheprovider
	ALLOT_TEST_ON_POSTGRES=1 ALLOT_TEST_DATABASE_URL=$(PG_URL) $(PY) -m pytest -m postgres -p no:cacheprovider

clean:
	rm -rf $(VENV) var .env
