# One-command entry points. `make reproduce` and `make test` both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env test lint bench reproduce clean-venv

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/mypy

test: $(STAMP) lint
	$(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) -m benchmarks

reproduce: $(STAMP)
	@echo "No notebooks yet: reproduce builds the environment only (see README)."

clean-venv:
	rm -rf $(VENV)
