# One-command entry points. `make reproduce` and `make test` both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env test lint bench reproduce sweeps measure conformance mutate lab docs clean-venv

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
	$(PY) -c "from durable_sim.kernel import main; main(['--install'])"  # the `durable-sim` kernel, in this venv
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

# Runs every notebook with papermill (parameter set params/paper/, the project kernel durable-sim
# of this venv) into a scratch tree, normalizes the notebooks, builds paper/build/paper.pdf, then
# moves what changed into the tree in one recoverable step. Afterwards `git status --porcelain`
# prints nothing. Another set: make reproduce REPRO_PARAMS=params/quick
REPRO_PARAMS ?= params/paper

reproduce: $(STAMP)
	$(PY) tools/reproduce.py --params $(REPRO_PARAMS)

# The full sensitivity grids (params/sweeps/sensitivity_<name>.yaml) into data/sweeps/<name>/: one
# CSV (+ .meta.json) per grid point and index.csv, incremental (points already there with the same
# digest are skipped). Notebook 04 runs their coarse versions (params/sweeps/coarse/); `make test`
# checks the committed sweeps are current (their digests name this code and these files) and that
# the notebook's rows are their first runs: rerun after any change to src/ and commit data/sweeps.
# A few minutes on 2 cores; in parallel: make sweeps SWEEP_WORKERS=2
SWEEPS := chunks failures polling cores
SWEEP_WORKERS ?= 1

sweeps: $(STAMP)
	for name in $(SWEEPS); do \
		$(VENV)/bin/durable-sim sweep params/sweeps/sensitivity_$$name.yaml \
			--out data/sweeps/sensitivity_$$name --workers $(SWEEP_WORKERS) || exit 1; \
	done

# The measured data set (wall clock, real encoder, official local runner, this machine) and the
# calibration taken with it, into data/measured/. Takes a few minutes; rerun on a quiet machine.
measure: $(STAMP)
	mkdir -p data/measured
	$(PY) -m benchmarks.calibrate --out data/measured/calibration.csv
	$(PY) -m durable_sim.measure --params params/measured --out data/measured

# Mutation testing (mutmut) of durable/, baseline/ and analysis/stats.py against their tests:
# the score per package and every surviving mutant. One target: make mutate MUTATE=stats
MUTATE ?= durable baseline stats

mutate: $(STAMP)
	$(PY) tools/mutate.py $(MUTATE)

# Runs AWS's conformance requirements (tests/conformance) on both engines and writes the pass table
# paper/conformance/conformance{.csv,.md} and conformance_notes.csv (about two minutes; `make test`
# checks the committed table is current).
conformance: $(STAMP) $(CONFORMANCE_WHEEL)
	$(PY) tools/conformance.py

# JupyterLab on notebooks/, with the project kernel (durable_sim.kernel.KERNEL_NAME, this venv's
# Python) as the default for new notebooks; as root (containers) with --allow-root.
# Extra JupyterLab options: make lab ARGS="--port 8890 --no-browser"
ARGS ?=

lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks \
		--MappingKernelManager.default_kernel_name=$$($(PY) -c \
			"from durable_sim.kernel import KERNEL_NAME; print(KERNEL_NAME)") \
		$$(test "$$(id -u)" = 0 && echo --allow-root) $(ARGS)

# The API reference, from the docstrings, into docs/api (any warning fails the build; the same
# build runs in `make test`, tests/test_docs.py). Elsewhere: make docs DOCS_DIR=/tmp/api
DOCS_DIR ?= docs/api
docs: $(STAMP)
	$(PY) tools/build_docs.py $(DOCS_DIR)

clean-venv:
	rm -rf $(VENV)
