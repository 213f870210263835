# The two commands a newcomer needs: `make run` and `make test`. Both create or update .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test lint typecheck browser bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps make re-runs cheap: pip runs again only when a requirements file or pyproject changes.
$(VENV)/.runtime-installed: requirements.txt requirements-local.txt pyproject.toml | $(BIN)/python
	$(PIP) install -r requirements.txt -r requirements-local.txt
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	@touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/chatbot serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# Debian's Chromium drives tests/e2e/test_web_page.py through Playwright's bundled driver.
browser:
	scripts/ensure-chromium

test: lint typecheck browser
	$(BIN)/python -m pytest

bench: $(VENV)/.dev-installed
	$(BIN)/python bench/gateway.py

clean:
	rm -rf $(VENV) .chatbot .mypy_cache .pytest_cache .ruff_cache
