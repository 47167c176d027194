# Two commands do all the set-up on a fresh machine:
#   make demo   runs the example blog on the embedded default (real PostgreSQL, local files)
#   make test   runs the whole test suite (installs and starts every server it uses)
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NATIVE := $(VENV)/.native

# The analysis tests but the scanner's own, run again with the Python readers alone.
PYTHON_READER_TESTS := $(filter-out tests/test_analysis_native.py,$(wildcard tests/test_analysis_*.py))

.PHONY: demo test lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(NATIVE)

# The analysis reader's C scanner, rebuilt in place when its source changes.
$(NATIVE): $(STAMP) telemetry/analysis/_scan.c
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

demo: $(NATIVE)
	$(BIN)/python -m examples.blog --posts 8

system-deps:
	bash scripts/install-system-deps.sh

test: $(NATIVE) system-deps
	$(BIN)/ruff check telemetry tests examples benchmarks
	$(BIN)/ruff format --check telemetry tests examples benchmarks
	$(BIN)/mypy
	$(BIN)/python -m pytest
	# As where no C compiler was found at install:
	TELEMETRY_NATIVE_READER=0 $(BIN)/python -m pytest -q $(PYTHON_READER_TESTS)

bench: $(NATIVE)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) telemetry-data .pytest_cache .mypy_cache .ruff_cache telemetry/analysis/_scan*.so
