# The few targets a newcomer needs. `make run` serves the platform; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The sandbox provider is served by the web process: it follows PORT unless set.
SANDBOX_BASE_URL ?= http://127.0.0.1:$(PORT)
DEV_ENV := DJANGO_DEBUG=1 PORT=$(PORT) SANDBOX_BASE_URL=$(SANDBOX_BASE_URL)

.PHONY: install run test lint format browser node-deps migrate demo clean prod journey

$(BIN)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

migrate: install
	$(DEV_ENV) $(BIN)/python manage.py migrate --no-input

demo: migrate
	$(DEV_ENV) $(BIN)/python manage.py seed_demo

## Create the environment, migrate, seed the demo, serve web + worker + beat on :$(PORT) (8000).
run: demo
	# The Procfile names `python` and `celery`: the venv comes first on PATH.
	PATH="$(CURDIR)/$(BIN):$$PATH" $(DEV_ENV) $(BIN)/honcho start -f Procfile.dev

## Install what the tests need (Python packages and Debian's Chromium) and run the whole suite.
test: install browser node-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser:
	@sh scripts/ensure-chromium.sh

## Node packages the tests use (axe-core), from package.json and package-lock.json.
node-deps:
	@sh scripts/ensure-node-deps.sh

## The production layout (gunicorn + worker + beat, Procfile) against PostgreSQL and Redis on :8080.
## DATABASE_URL / REDIS_URL / PORT default to 127.0.0.1; see docs/guide-operators.md.
prod: install
	BIN=$(BIN) bash scripts/prod.sh

## Only the end-to-end journey (production layout + example app + Chromium); CI runs it in `make test`.
journey: install browser
	$(BIN)/python -m pytest tests/journey -v $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var/db.sqlite3 var/celery
