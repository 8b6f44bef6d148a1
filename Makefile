# The few targets a newcomer needs. `make run` serves the platform; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEV_ENV := DJANGO_DEBUG=1

.PHONY: install run test lint format browser migrate demo clean

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

## Create the environment, migrate, seed the demo, serve web + worker + beat on :8000.
run: demo
	$(DEV_ENV) $(BIN)/honcho start -f Procfile.dev

## Install what the tests need (Python packages and Debian's Chromium) and run the whole suite.
test: install browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

browser:
	@sh scripts/ensure-chromium.sh

clean:
	rm -rf $(VENV) var/db.sqlite3 var/celery
