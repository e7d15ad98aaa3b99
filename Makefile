# edgekit developer entry points. `make demo` and `make test` work on a fresh machine:
# they create the virtual environment and install everything they need first.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
TARGET ?= rpi4

.PHONY: setup demo test test-fast lint clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/edgekit build --target $(TARGET)

test: setup
	$(BIN)/pytest -q

test-fast: setup
	$(BIN)/pytest -q -m "not slow"

lint: setup
	$(BIN)/ruff check edgekit tests bench
	$(BIN)/ruff format --check edgekit tests bench

clean:
	rm -rf build .pytest_cache .ruff_cache
