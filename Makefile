# Two entry points for a new machine: `make demo` and `make test`.
# Each makes the virtual environment it needs, so nothing is set up by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Stamp files: reinstall only when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test lint bench-reference clean-cache

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(TEST_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@ $(RUNTIME_STAMP)

demo: $(RUNTIME_STAMP)
	$(BIN)/engram-actors demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest

lint: $(TEST_STAMP)
	$(BIN)/ruff check engram_actors shm scheduler tests bench
	$(BIN)/ruff format --check engram_actors shm scheduler tests bench

bench-reference: $(RUNTIME_STAMP)
	$(BIN)/python bench/reference_speed.py

clean-cache:
	rm -rf $${XDG_CACHE_HOME:-$$HOME/.cache}/engram-actors
