# Two commands: `make dev` runs Lingti on this machine, `make test` runs every test.
# `make bench` runs the benchmark suite (BENCHMARKS.md), `make bench-quick` a small version of it.
# Both create .venv (Python 3.11) and install the project into it when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: dev test bench bench-quick clean-venv

dev: $(STAMP)
	$(VENV)/bin/lingti dev

test: $(STAMP)
	$(VENV)/bin/pytest -q

bench: $(STAMP)
	$(VENV)/bin/python -m benchmarks $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(VENV)/bin/python -m benchmarks --quick $(BENCH_ARGS)

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
