# The two commands a newcomer needs: `make demo` runs the product, `make test` runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install demo test lint format worker sandbox clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: install  ## Dev server + sandbox + worker + sample signups; Ctrl-C stops everything
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

clean:
	rm -rf $(VENV) .demo .pytest_cache .mypy_cache .ruff_cache *.egg-info
