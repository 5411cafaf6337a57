# The two commands of README.md. Each creates .venv and installs what it needs on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-production lint install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

## Run the product on embedded defaults (Prefect server, worker, web app, mail sink) and open a demo case.
demo: $(STAMP)
	$(BIN)/aftersales up

## Run the whole test suite (lint, types, unit, integration, flows on a real Prefect stack, browser).
test: $(STAMP)
	./scripts/ensure-chromium.sh
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile -m "not production"

## The production topology with the 60 cases of issue 13 (about 30 minutes on 2 cores; not part of `make test`).
test-production: $(STAMP)
	AFTERSALES_TEST_PRODUCTION_CASES=60 $(BIN)/python -m pytest -q -p no:cacheprovider tests/flows/test_production.py

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .aftersales
