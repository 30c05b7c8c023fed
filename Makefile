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

## the Lambda zip (dist/lambda.zip) for arm64: runtime dependencies only (the runtime has boto3)
package: $(STAMP)
	rm -rf build/lambda dist/lambda.zip
	mkdir -p build/lambda dist
	$(BIN)/python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; print('\n'.join(d for d in deps if not d.startswith('boto3')))" > build/requirements.txt
	$(BIN)/pip install --quiet --target build/lambda --platform manylinux2014_aarch64 --implementation cp --python-version 3.12 --only-binary=:all: --upgrade -r build/requirements.txt
	cp -r core adapters handlers projections build/lambda/
	rm -f build/lambda/handlers/pytest_plugin.py
	find build/lambda -name __pycache__ -prune -exec rm -rf {} +
	cd build/lambda && ../../$(BIN)/python -m zipfile -c ../../dist/lambda.zip $$(ls -A)
	@$(BIN)/python -c "import os; print(f'dist/lambda.zip {os.path.getsize(\"dist/lambda.zip\") / 2**20:.1f} MiB')"

## write the event filter generated from the projectors into infra/template.yaml
deploy-config: $(STAMP)
	$(BIN)/ddbproj filter-criteria --template infra/template.yaml
