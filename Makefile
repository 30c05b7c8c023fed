# ddbproj — make demo (the whole story on embedded defaults), make test (the whole suite).
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit mysql docker-mysql bench clean package lock deploy-config

## the venv at the versions of constraints.txt (the Lambda zip is built from the same pins)
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

## refresh constraints.txt: install the newest versions pyproject.toml allows, then pin them all
## (review the diff, run make test, commit constraints.txt)
LOCK_VENV := build/lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/pip install --quiet -e '.[dev]'
	{ echo "# Every package the dev venv installs, pinned (make lock refreshes it: the newest"; \
	  echo "# versions pyproject.toml allows). The venv and the Lambda zip install these."; \
	  $(LOCK_VENV)/bin/pip freeze --exclude-editable --exclude ddbproj; } > constraints.txt
	rm -rf $(LOCK_VENV)
	$(MAKE) $(STAMP)

demo: $(STAMP)
	$(BIN)/ddbproj demo

## the whole suite: lint; every test on the server the plugin chooses (TEST_DATABASE_URL, else a
## testcontainers MySQL from the image tests/docker builds when a Docker engine answers or can be
## started, else the local server); then the MySQL tests once more on the plain local server, so
## both paths stay proved (skipped when the suite ran there already)
TEST_MYSQL_IMAGE := $(or $(DDBPROJ_TEST_MYSQL_IMAGE),ddbproj-test-mysql:latest)
TEST_RYUK_DISABLED := $(or $(TESTCONTAINERS_RYUK_DISABLED),true)
LOCAL_DATABASE_URL := mysql+pymysql://root@127.0.0.1:3306/
SUITE_ENV := DDBPROJ_TEST_MYSQL_IMAGE=$(TEST_MYSQL_IMAGE) TESTCONTAINERS_RYUK_DISABLED=$(TEST_RYUK_DISABLED)

test: $(STAMP) lint docker-mysql
	$(SUITE_ENV) PYTHON=$(BIN)/python bash tests/ensure-mysql.sh
	$(SUITE_ENV) $(BIN)/python -m pytest
	@if [ "$$($(SUITE_ENV) $(BIN)/python -m ddbproj.handlers.pytest_plugin --which | cut -d' ' -f1)" = local ]; then \
	  echo "make: the suite ran on the local server already"; \
	else \
	  set -x; PYTHON=$(BIN)/python bash tests/ensure-mysql.sh --local && \
	  TEST_DATABASE_URL=$(LOCAL_DATABASE_URL) $(BIN)/python -m pytest -m mysql; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest -m "not mysql"

## benchmarks against baselines in one process (see bench/README.md); the cold start also from the
## Lambda zip that make package builds
bench: package
	PYTHON=$(BIN)/python bash tests/ensure-mysql.sh --local
	$(BIN)/python -m bench --zip dist/lambda.zip --zip-python $(LAMBDA_PYTHON)

## make sure the server the plugin will choose answers for the integration tests
mysql: $(STAMP)
	PYTHON=$(BIN)/python bash tests/ensure-mysql.sh

## a Docker engine for the testcontainers path (dockerd started when none answers) and the test
## image; without one the tests use the local server
docker-mysql: $(STAMP)
	@if [ -n "$$TEST_DATABASE_URL" ]; then echo "docker: not needed, TEST_DATABASE_URL is set"; \
	elif PYTHON=$(BIN)/python bash tests/docker/ensure-engine.sh; then \
	  case "$(TEST_MYSQL_IMAGE)" in ddbproj-test-mysql:*) \
	    IMAGE=$(TEST_MYSQL_IMAGE) bash tests/docker/build-mysql-image.sh;; esac; \
	else echo "docker: none answers; the tests use the local server"; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis ddbproj.db

## the Lambda zip (dist/lambda.zip): pure-Python runtime dependencies at the pinned versions (not
## boto3: the runtime has it), ddbproj and projections/, bytecode compiled by LAMBDA_PYTHON, which
## must be the Python of the template's Runtime (the build refuses another); then its sizes and
## its cold start (import, first and second batch of 1,000 records) on the local server
LAMBDA_PYTHON ?= $(shell $(BIN)/python infra/package.py --find-python)

package: $(STAMP)
	$(BIN)/python infra/package.py --python $(LAMBDA_PYTHON) --zip dist/lambda.zip --work build
	PYTHON=$(BIN)/python bash tests/ensure-mysql.sh --local
	$(BIN)/python -m bench.coldstart --zip dist/lambda.zip --python $(LAMBDA_PYTHON)

## write the event filter generated from the projectors into infra/template.yaml
deploy-config: $(STAMP)
	$(BIN)/ddbproj filter-criteria --template infra/template.yaml
