# One-command entry points. `make reproduce` and `make test` both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env test lint bench reproduce conformance measure lab clean-venv

# AWS's conformance requirements ship in a wheel that installs only on Python >= 3.14; the tests
# read it as a file, so it is downloaded (pinned by sha256), never installed, and never committed.
CONFORMANCE_DIR := .cache/conformance
CONFORMANCE_WHEEL := $(CONFORMANCE_DIR)/aws_durable_execution_conformance_tests-1.0.0-py3-none-any.whl

env: $(STAMP) $(CONFORMANCE_WHEEL)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

$(CONFORMANCE_WHEEL): tests/conformance/wheel-requirements.txt | $(STAMP)
	$(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.14 \
		--require-hashes -r tests/conformance/wheel-requirements.txt -d $(CONFORMANCE_DIR)
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/mypy

test: $(STAMP) $(CONFORMANCE_WHEEL) lint
	$(PY) -m pytest -n 2 tests

bench: $(STAMP)
	$(PY) -m benchmarks

# Runs every notebook in place with papermill (params/paper.yaml, kernel python3 resolved to this
# venv, cwd notebooks/), strips run-varying metadata, regenerates data, tables, figures and
# paper/build/paper.pdf. Afterwards `git status --porcelain` prints nothing.
REPRO_PARAMS ?= params/paper.yaml

reproduce: $(STAMP)
	$(PY) tools/reproduce.py --params $(REPRO_PARAMS)

# Runs AWS's conformance requirements (tests/conformance) on both engines and writes the pass table
# paper/generated/conformance{.csv,_differences.csv,.md} (about two minutes; `make test` checks the
# committed table is current).
conformance: $(STAMP) $(CONFORMANCE_WHEEL)
	$(PY) tools/conformance.py

# The measured data set (wall clock, real encoder, official local runner, this machine) and the
# calibration taken with it, into data/measured/. Takes a few minutes; rerun on a quiet machine.
measure: $(STAMP)
	mkdir -p data/measured
	$(PY) -m benchmarks.calibrate --out data/measured/calibration.csv
	$(PY) -m durable_sim.measure --params params/measured.yaml --out data/measured

# JupyterLab on notebooks/; its python3 kernel (.venv/share/jupyter/kernels) runs this venv.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

clean-venv:
	rm -rf $(VENV)
