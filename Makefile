# Backoffice developer commands. Quick start: `make run`, `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Runtime packages are installed at the versions pinned in requirements.txt (what Heroku
# installs), so the tests run against exactly what is deployed.
CONSTRAINTS := $(VENV)/constraints.txt

.PHONY: run test soak lint format requirements artifact bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(CONSTRAINTS): requirements.txt | $(BIN)/python
	grep -v '^\.$$' requirements.txt > $@

$(VENV)/.installed-run: pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(CONSTRAINTS)
	$(BIN)/pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

## run: install, migrate the default SQLite database, create an admin and demo data once, serve
run: $(VENV)/.installed-run
	$(BIN)/backoffice migrate
	$(BIN)/backoffice bootstrap
	$(BIN)/backoffice serve --host 127.0.0.1 --port $${PORT:-8000}

# Third-party tools the tests hold the product to, each in its own environment: the OpenAPI
# client generator pins an older typer than the product (tests/contract/test_generated_client.py).
TOOLS := .venv-tools
OPENAPI_CLIENT_GENERATOR := $(TOOLS)/bin/openapi-python-client

$(OPENAPI_CLIENT_GENERATOR):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet 'openapi-python-client==0.29.1'

# axe-core, which the accessibility tests inject into admin pages (tests/e2e/test_accessibility.py),
# installed from the lock file whenever it changes; node_modules is never committed.
E2E_NODE := tests/e2e/node
AXE_INSTALLED := $(E2E_NODE)/node_modules/.installed

$(AXE_INSTALLED): $(E2E_NODE)/package-lock.json
	npm ci --prefix $(E2E_NODE) --no-audit --no-fund --loglevel=error
	touch $@

## test: install with test extras and the test tools, lint, run the whole suite
test: $(VENV)/.installed-dev $(OPENAPI_CLIENT_GENERATOR) $(AXE_INSTALLED) lint
	AXE_REQUIRED=1 $(BIN)/pytest -n 2 --dist loadfile

## soak: 32 clients for ~2 min on a PostgreSQL of its own, through a worker kill and a DB restart (tests/load)
soak: $(VENV)/.installed-dev
	SOAK=1 $(BIN)/pytest -p no:cacheprovider -s -q tests/load

## artifact: build the wheel, install it in fresh venvs (pinned, floors) and deploy it (tests/artifact)
artifact: $(VENV)/.installed-dev
	$(BIN)/pytest tests/artifact

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check app tests alembic scripts
	$(BIN)/ruff format --check app tests alembic scripts
	$(BIN)/mypy app

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix app tests alembic scripts
	$(BIN)/ruff format app tests alembic scripts

## requirements: re-pin requirements.txt from pyproject.toml and the installed versions
requirements: $(VENV)/.installed-dev
	$(BIN)/python scripts/pin_requirements.py

## bench: the speed benchmark of SPEC §11 on a throwaway PostgreSQL database (docs/performance.md)
bench: $(VENV)/.installed-run
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(TOOLS) $(E2E_NODE)/node_modules .pytest_cache .mypy_cache .ruff_cache
