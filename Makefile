# edgekit developer entry points. `make demo` and `make test` work on a fresh machine:
# they create the virtual environment and install everything they need first.
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3
TARGET ?= rpi4

# Debian packages the tests and the artifacts need: cross compilers (Cortex-M bare metal,
# 64- and 32-bit Raspberry Pi OS), newlib, QEMU (board and user-mode emulation), and OpenSSH
# (edgekit deploy; its test starts a server on loopback).
APT_PACKAGES := gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm \
	gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf qemu-user openssh-client openssh-server
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup system-deps demo test test-fast lint clean

setup: system-deps $(VENV)/.installed

system-deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; fi

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/edgekit build --target $(TARGET)

# pytest-xdist: the suite on TEST_WORKERS processes, 2 for CI's 2 cores. worksteal hands each
# worker a contiguous half of the collection order (conftest puts the longest files first) and
# lets an idle one take tests from the other, so most files' fixtures are still built once
TEST_WORKERS ?= 2

test: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal --durations=15

test-fast: setup
	$(BIN)/pytest -q -n $(TEST_WORKERS) --dist worksteal -m "not slow"

lint: setup
	$(BIN)/ruff check edgekit tests bench
	$(BIN)/ruff format --check edgekit tests bench
	$(BIN)/lint-imports

clean:
	rm -rf build .pytest_cache .ruff_cache
