# ddbproj — make demo (the whole story on embedded defaults), make test (the whole suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit mysql bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/ddbproj demo

## the whole suite: lint, then unit and MySQL integration tests (starts MySQL when needed)
test: $(STAMP) lint mysql
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not mysql"

## benchmarks against baselines in one process (see bench/README.md)
bench: $(STAMP) mysql
	$(BIN)/python -m bench

## make sure a MySQL-compatible server answers for the integration tests
mysql:
	bash tests/ensure-mysql.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis ddbproj.db
