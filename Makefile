# Two entry points for a new machine: `make demo` and `make test`.
# Each makes the virtual environment it needs, so nothing is set up by hand.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# Stamp files: reinstall only when pyproject.toml changes.
RUNTIME_STAMP := $(VENV)/.installed-runtime
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
# Results file bench-compare compares latest.json against.
BASELINE ?=

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

# bench/ is also a folder: without .PHONY, `make bench` would find it up to date.
.PHONY: bench bench-quick bench-compare profile

$(BENCH_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	touch $@ $(RUNTIME_STAMP)

# Every system side by side; results, tables and plots in bench/results/.
bench: $(BENCH_STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(BENCH_STAMP)
	$(BIN)/python bench/run.py --quick

bench-compare: $(BENCH_STAMP)
	@test -n "$(BASELINE)" || { echo "usage: make bench-compare BASELINE=file.json"; exit 2; }
	$(BIN)/python bench/compare.py $(BASELINE)

# py-spy cannot see inside compiled kernels; the script prints the spreads'
# own counters beside the profiles.
PROFILE_DIR := bench/results/profile
profile: $(BENCH_STAMP)
	mkdir -p $(PROFILE_DIR)
	$(BIN)/py-spy record --subprocesses --format flamegraph \
		-o $(PROFILE_DIR)/flame.svg -- $(BIN)/python bench/profile_workload.py
	$(BIN)/py-spy record --subprocesses --format speedscope \
		-o $(PROFILE_DIR)/speedscope.json -- $(BIN)/python bench/profile_workload.py

clean-cache:
	rm -rf $${XDG_CACHE_HOME:-$$HOME/.cache}/engram-actors
