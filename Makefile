# One-command entry points. `make reproduce` and `make test` both build .venv from nothing.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: env test lint bench reproduce mutate lab clean-venv

env: $(STAMP)

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip==26.3"
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m durable_sim.kernel --install
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks tools
	$(VENV)/bin/ruff format --check src tests benchmarks tools
	$(VENV)/bin/mypy

test: $(STAMP) lint
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

# Mutation testing (mutmut) of durable/, baseline/ and analysis/stats.py against their tests:
# the score per package and every surviving mutant. One target: make mutate MUTATE=stats
MUTATE ?= durable baseline stats

mutate: $(STAMP)
	$(PY) tools/mutate.py $(MUTATE)

# JupyterLab on notebooks/; its python3 kernel (.venv/share/jupyter/kernels) runs this venv.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab --notebook-dir=notebooks

clean-venv:
	rm -rf $(VENV)
