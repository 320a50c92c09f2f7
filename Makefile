# commitlake: `make run` runs the whole pipeline on embedded defaults; `make test` runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
REPOS ?=
comma := ,

export DBT_SEND_ANONYMOUS_USAGE_STATS := false
export GX_ANALYTICS_ENABLED := false
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

RUN_EXTRAS := transform,quality,ml,embedded
DEV_EXTRAS := $(RUN_EXTRAS),workflows,dev

.PHONY: help run test lint lock lock-check bench docs clean

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# uv installs exactly what uv.lock says (--frozen: nothing resolves at install time). The uv version is pinned
# once, in pyproject.toml ([tool.uv] required-version); a machine without uv gets that release from PyPI.
UV_VERSION := $(shell sed -n 's/^required-version = "==\(.*\)"$$/\1/p' pyproject.toml)
UV := .tools/uv/bin/uv
export UV_PYTHON := $(PYTHON)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_LINK_MODE := copy
# Bytecode at install time, as the images do: uv leaves only sources, and a machine with PYTHONDONTWRITEBYTECODE
# set (CI's machines) then compiles every imported module on every start. Measured: importing great_expectations
# 18.6 s → 8.2 s, skops 11.6 → 4.2, mlflow 9.7 → 3.3, scikit-learn 8.9 → 3.1 (every loky worker pays it too).
export UV_COMPILE_BYTECODE := 1
UV_SYNC := $(UV) sync --frozen --no-progress --quiet

$(UV):
	@test -n "$(UV_VERSION)" || { echo "no [tool.uv] required-version in pyproject.toml" >&2; exit 1; }
	$(PYTHON) -m venv .tools/uv
	.tools/uv/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed-run: pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) $(addprefix --extra ,$(subst $(comma), ,$(RUN_EXTRAS)))
	@touch $@

$(VENV)/.installed-dev: pyproject.toml uv.lock | $(UV)
	$(UV_SYNC) $(addprefix --extra ,$(subst $(comma), ,$(DEV_EXTRAS)))
	@touch $@ $(VENV)/.installed-run

lock: $(UV) ## re-resolve every dependency to today's newest allowed release and rewrite uv.lock (commit it)
	$(UV) lock --upgrade

lock-check: $(UV) ## fail if uv.lock does not match pyproject.toml
	$(UV) lock --check --offline

run: $(VENV)/.installed-run ## the whole pipeline on embedded defaults (REPOS="jsonl:... github:..." to choose sources)
	$(BIN)/commitlake run $(if $(REPOS),--repos $(REPOS))

test: $(VENV)/.installed-dev ## the test suite (real Postgres, dbt, GX, MLflow, helm)
	$(BIN)/python -m pytest -q -ra

lint: $(VENV)/.installed-dev ## ruff and mypy
	$(BIN)/ruff check src tests workflows bench
	$(BIN)/mypy

bench: $(VENV)/.installed-dev ## benchmarks: JSON and PNG under bench/results/
	@for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Each `commitlake dbt` stops the embedded server it started (an external DATABASE_URL is left alone), so
# nothing keeps running after Ctrl-C.
docs: $(VENV)/.installed-run ## build the dbt docs, serve them on http://127.0.0.1:8081 until Ctrl-C, stop what it started
	$(BIN)/commitlake dbt -- docs generate
	@echo "dbt docs on http://127.0.0.1:8081 (Ctrl-C stops the docs server)"
	$(BIN)/commitlake dbt -- docs serve --host 127.0.0.1 --port 8081 --no-browser

clean: ## stop the embedded server and remove local state
	-$(BIN)/commitlake db stop
	rm -rf .commitlake

-include charts/kind.mk
-include images/images.mk
-include workflows/workflows.mk
-include bench/bench.mk
