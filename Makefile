# The two commands a newcomer needs: `make run` and `make test`. Both create or update .venv.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8080
CDK := node_modules/.bin/cdk
CDK_APP := --app "$(BIN)/python app.py"
STAGE ?= dev

# Node 20 is what many machines have; jsii's banner about it is noise, not a warning to act on.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: run test lint typecheck browser bench synth bootstrap deploy destroy clean preflight

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Stamps make re-runs cheap: pip runs again only when a requirements file or pyproject changes.
# torch first, alone: its CPU build from pip's configured sources, else from PyTorch's CPU index
# (scripts/install_torch.py); then everything else in one pinned call, torch already satisfied.
$(VENV)/.runtime-installed: requirements.txt requirements-local.txt pyproject.toml \
		scripts/install_torch.py | $(BIN)/python
	$(BIN)/python scripts/install_torch.py requirements-local.txt --disable-pip-version-check -q
	$(PIP) install -r requirements.txt -r requirements-local.txt
	$(PIP) install --no-deps -e .
	@touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed requirements-dev.txt
	$(PIP) install -r requirements-dev.txt
	@touch $@

# The page's libraries (marked, DOMPurify, highlight.js) come from npm, pinned in package.json.
run: $(VENV)/.runtime-installed node_modules/.installed
	$(BIN)/chatbot serve --host $(HOST) --port $(PORT)

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev-installed
	$(BIN)/mypy

# Chromium for the browser tests (tests/e2e): Debian's chromium package if present or
# installable through apt, else Playwright's own download (scripts/ensure-chromium).
browser: $(VENV)/.dev-installed
	scripts/ensure-chromium $(BIN)/python

# The whole suite, then the unit tests again at a month's end seconds before midnight UTC
# (libfaketime), so a test that depends on today's date or the time of day fails here.
test: lint typecheck browser node_modules/.installed
	CHATBOT_SCREENSHOTS=$(CURDIR)/test-artifacts/screenshots $(BIN)/python -m pytest
	scripts/test-shifted-clock $(BIN)/python

# The CDK CLI, pinned in package.json.
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	@touch $@

synth: $(VENV)/.dev-installed node_modules/.installed
	$(CDK) synth $(CDK_APP) -c stage=$(STAGE) --no-notices --quiet

# Once per account and region, with AWS credentials: the CDK's staging bucket and roles.
bootstrap: $(VENV)/.dev-installed node_modules/.installed
	$(CDK) bootstrap $(CDK_APP) --no-notices

# Before the first deploy, with the operator's credentials: what the account and region lack
# (bootstrap, Bedrock model access, quotas), each with its fix. Fails when something would.
preflight: $(VENV)/.dev-installed
	$(BIN)/chatbot doctor --stage $(STAGE)

# Needs AWS credentials and a bootstrapped account/region (make bootstrap). Writes the stack's
# outputs to cdk-outputs.json, then asks the deployed chatbot one question.
# The router's example vectors for the deployed embedding model are computed here, with the
# operator's credentials, only when the model, its width or route_examples.yaml changed; then
# bundled, so no cold engine embeds them (commit the file it writes).
EMBEDDING_MODEL_ID ?= $(shell python3 -c "import json; print(json.load(open('cdk.json'))['context']['embeddingModelId'])")
EMBEDDING_DIMENSIONS ?= $(shell python3 -c "import json; print(json.load(open('cdk.json'))['context']['embeddingDimensions'])")

deploy: $(VENV)/.dev-installed node_modules/.installed
	-$(BIN)/python scripts/route_vectors.py --titan --model-id $(EMBEDDING_MODEL_ID) \
		--dimensions $(EMBEDDING_DIMENSIONS)
	-$(BIN)/python scripts/train_router.py --titan --model-id $(EMBEDDING_MODEL_ID) \
		--dimensions $(EMBEDDING_DIMENSIONS)
	$(CDK) deploy $(CDK_APP) -c stage=$(STAGE) --no-notices --require-approval broadening \
		--outputs-file cdk-outputs.json
	$(BIN)/python scripts/smoke.py --outputs cdk-outputs.json

destroy: $(VENV)/.dev-installed node_modules/.installed
	$(CDK) destroy $(CDK_APP) -c stage=$(STAGE) --no-notices --force

# The speed budgets (bench/README.md): each check exits non-zero when over budget. Not in CI:
# the figures depend on the machine. One budget check per line.
bench: $(VENV)/.dev-installed
	$(BIN)/python bench/gateway.py --budget --clients 200 --messages 20
	$(BIN)/python bench/cold_start.py --check --no-bundles

clean:
	rm -rf $(VENV) .chatbot .mypy_cache .pytest_cache .ruff_cache cdk.out node_modules
