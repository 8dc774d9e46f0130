# The two commands: `make demo` (sandbox + example DAG with real refresh and rotation) and `make test`.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

# Two workers; the multi-process proofs are pinned to xdist groups (tests/conftest.py).
PYTEST_ARGS ?= -n 2 --dist loadgroup

.PHONY: install lint test demo bench services clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade "pip>=24"
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: $(STAMP)

lint: install
	$(BIN)/ruff check airflow_oauth_provider tests example_dags benchmarks scripts
	$(BIN)/ruff format --check airflow_oauth_provider tests example_dags benchmarks scripts
	$(BIN)/mypy

services:
	bash scripts/start-services.sh

test: install lint services
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: install
	$(BIN)/python scripts/demo.py

bench: install services
	$(BIN)/python benchmarks/contention.py

clean:
	rm -rf $(VENV) .demo test-output
