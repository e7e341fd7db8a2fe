# The two commands a newcomer needs: `make demo` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint format worker sandbox chaos golden bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/python -m compileall -q workflows  # the sandbox re-imports it for each journey
	touch $@

demo: install  ## Dev server + sandbox + worker + sample signups; Ctrl-C or closing the terminal stops everything
	$(BIN)/onboarding demo

test: lint  ## Lint, type-check, then the whole suite against real servers
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

worker: install
	$(BIN)/onboarding worker

sandbox: install
	$(BIN)/onboarding sandbox

chaos: install  ## 300 journeys while workers are SIGKILLed and the server restarts; fails on any loss or duplicate
	$(BIN)/python -m chaos.run

bench: install  ## Ingest, throughput vs the engine's ceiling, alert latency, journeys in flight → bench/results/
	$(BIN)/python -m bench.run

golden: install  ## Re-record the golden histories, on purpose (see "Changing the journey safely")
	$(BIN)/python -m tests.golden.record

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
