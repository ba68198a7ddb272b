# firstpass: `make demo` and `make test` set everything up from a clean clone.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# llama-cpp-python compiles llama.cpp once (pip caches the wheel); use every core for it.
export CMAKE_BUILD_PARALLEL_LEVEL ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: install install-dev demo test lint bench browser postgres clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip

$(VENV)/.installed: pyproject.toml | $(PY)
	$(PIP) install -e ".[models]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml $(VENV)/.installed
	$(PIP) install -e ".[models,dev]"
	touch $@

install: $(VENV)/.installed

install-dev: $(VENV)/.installed-dev browser postgres

# Debian's Chromium for the browser tests (Playwright drives it; it does not download a browser).
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; \
	fi

# Debian's PostgreSQL for the storage tests: they start a throwaway cluster of their own (as the postgres user,
# on 127.0.0.1 and a free port); no service is started here.
postgres:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql; \
	fi

demo: install
	$(VENV)/bin/firstpass demo
	$(VENV)/bin/firstpass review --no-auth --run demo

# The import-layer contract, ruff and mypy: zero findings.
lint: install-dev
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# The suite on the embedded SQLite file, then again with every test's database on PostgreSQL (what runs on both
# backends already, and what is about the SQLite file itself, is skipped the second time).
test: lint
	@for backend in sqlite postgresql; do \
		echo "== tests on $$backend"; \
		$(PY) -m pytest -q -rs --backend $$backend; rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; \
		if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	done

bench: install-dev
	$(PY) tests/bench_gate.py
	$(PY) tests/bench_panel.py
	$(PY) tests/bench_eval.py
	$(PY) tests/bench_workers.py

clean:
	rm -rf $(VENV) build *.egg-info
