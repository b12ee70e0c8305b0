# Two commands: `make dev` runs Lingti on this machine, `make test` runs every test.
# Both create .venv (Python 3.11) and install the project into it when pyproject.toml changes.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
STAMP  := $(VENV)/.installed

.PHONY: dev test clean-venv

dev: $(STAMP)
	$(VENV)/bin/lingti dev

test: $(STAMP)
	$(VENV)/bin/pytest -q

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

clean-venv:
	rm -rf $(VENV)
