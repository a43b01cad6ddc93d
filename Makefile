# Yaocai — the two set-up commands are `make run` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
FLASK := $(BIN)/flask --app wsgi
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: install run test lint translations-extract translations-update bench clean

$(BIN)/python:
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required"'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

# Install everything and compile the translation catalogs.
install: $(VENV)/.installed
	$(BIN)/pybabel compile --statistics -d translations 2>&1 | tail -n 2

# Start the platform with demo data on the embedded default (SQLite + in-process jobs).
run: install
	$(FLASK) db upgrade
	$(FLASK) demo load
	$(FLASK) run --host $(HOST) --port $(PORT) --no-reload --with-threads

# Run every test (SQLite by default; PostgreSQL when TEST_DATABASE_URL is set).
test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

translations-extract:
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output -o translations/messages.pot core listing procurement direct_pay supply_finance governance

translations-update: translations-extract
	$(BIN)/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) instance/yaocai.db* translations/*/LC_MESSAGES/*.mo
