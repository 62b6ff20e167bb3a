# `make demo` and `make test` set everything up on a fresh machine first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.interp-installed

.PHONY: setup demo test lint docs docs-serve bench organism clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup.sh
	VENV=$(VENV) bash scripts/setup.sh

# The paper's pipeline on both organisms, the positive control first, with replication on fresh scenes;
# it prints an estimate of its length at start (see the README); `interp demo --help` for options.
demo: $(STAMP)
	$(VENV)/bin/interp demo

# Two pytest workers (pytest-xdist) for the 2-core machines the project runs on; PYTEST_WORKERS=0
# runs the suite in one process.
PYTEST_WORKERS ?= 2
test: $(STAMP)
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -n $(PYTEST_WORKERS)

# ruff, mypy, and the layer contract (pyproject's [tool.importlinter]): a back edge fails it.
lint: $(STAMP)
	$(PY) -m ruff check interp tests scripts benchmarks
	$(PY) -m mypy interp
	$(VENV)/bin/lint-imports

# The documentation site (mkdocs material + mkdocstrings) into build/site/; warnings are errors.
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

# Speed and memory figures against the paper's reference way (benchmarks/run_all.py --help).
bench: $(STAMP)
	$(PY) benchmarks/run_all.py

organism: $(STAMP)
	$(PY) scripts/train_organism.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build/site
