# commitlake: `make run` runs the whole pipeline on embedded defaults; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPOS ?=

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

RUN_EXTRAS := transform,quality,ml,embedded
DEV_EXTRAS := $(RUN_EXTRAS),workflows,dev

.PHONY: help run test lint bench docs clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(RUN_EXTRAS)]"
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(DEV_EXTRAS)]"
	@touch $@ $(VENV)/.installed-run

run: $(VENV)/.installed-run ## the whole pipeline on embedded defaults (REPOS="jsonl:... github:..." to choose sources)
	$(BIN)/commitlake run $(if $(REPOS),--repos $(REPOS))

test: $(VENV)/.installed-dev ## the test suite (real Postgres, dbt, GX, MLflow, helm)
	$(BIN)/python -m pytest -q -ra

lint: $(VENV)/.installed-dev ## ruff and mypy
	$(BIN)/ruff check src tests workflows bench
	$(BIN)/mypy

bench: $(VENV)/.installed-dev ## benchmarks: JSON and PNG under bench/results/
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

docs: $(VENV)/.installed-run ## build and serve the dbt docs for the warehouse in use
	$(BIN)/commitlake dbt -- docs generate
	$(BIN)/commitlake dbt -- docs serve --host 127.0.0.1 --port 8081 --no-browser

clean: ## stop the embedded server and remove local state
	-$(BIN)/commitlake db stop
	rm -rf .commitlake

-include charts/kind.mk
-include images/images.mk
-include workflows/workflows.mk
