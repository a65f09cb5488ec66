# The only interface for people and CI. `make run` and `make test` set up everything they need.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_VERSION := $(shell cat .python-version)
PYTHON_MINOR := $(basename $(PYTHON_VERSION))
# The Python that creates .venv: pyenv's (selected by .python-version), else python3.13.
BOOTSTRAP_PYTHON ?= $(firstword $(shell pyenv which python 2>/dev/null) \
	$(wildcard $(HOME)/.pyenv/versions/$(PYTHON_VERSION)/bin/python) \
	$(shell command -v python$(PYTHON_MINOR) 2>/dev/null))

VENV := .venv
PY := $(VENV)/bin/python
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
CHECKOV_VENV := .venv-checkov
ARTIFACTS := artifacts
REPORTS := $(ARTIFACTS)/test-reports

# sam build runs `python3.13` and pip for the layer: find them in .venv first.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export SAM_CLI_TELEMETRY := 0
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# swagger-ui-dist pulls in @scarf/scarf, whose install script reports installs; not from here.
export SCARF_ANALYTICS := false

.PHONY: help setup build lint typecheck test test-unit test-integration test-acceptance validate run up down seed webhook \
	reconcile invoke deploy openapi format bench bench-coldstart bench-entitlements bench-webhooks \
	bench-reconciliation bench-usage bench-push bench-chart soak clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt layers/shared/requirements.txt .python-version pyproject.toml setup.cfg \
		admin/pyproject.toml devstack/pyproject.toml clients/python/pyproject.toml
	@test -n "$(BOOTSTRAP_PYTHON)" || { echo "Python $(PYTHON_MINOR) not found: install it (pyenv install $(PYTHON_VERSION)) or set BOOTSTRAP_PYTHON" >&2; exit 2; }
	@$(BOOTSTRAP_PYTHON) -c 'import sys; v="$(PYTHON_MINOR)"; sys.exit(0 if "%d.%d" % sys.version_info[:2] == v else "need Python " + v + ", got " + sys.version.split()[0])'
	@echo "==> creating $(VENV) with $(BOOTSTRAP_PYTHON)"
	rm -rf $(VENV)
	$(BOOTSTRAP_PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e . -e admin -e devstack -e clients/python
	@touch $@

$(SAM_VENV)/.installed: requirements-sam.txt .python-version
	@echo "==> creating $(SAM_VENV) (AWS SAM CLI)"
	rm -rf $(SAM_VENV)
	$(BOOTSTRAP_PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet -r requirements-sam.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt .python-version
	@echo "==> creating $(CHECKOV_VENV) (checkov)"
	rm -rf $(CHECKOV_VENV)
	$(BOOTSTRAP_PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

node_modules/.package-lock.json: package.json package-lock.json clients/typescript/package.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js 20+ with npm" >&2; exit 2; }
	@echo "==> installing node packages (DynamoDB Local, Swagger UI, the TypeScript client's)"
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(VENV)/.installed $(SAM_VENV)/.installed node_modules/.package-lock.json ## Install everything (idempotent)

lint: $(VENV)/.installed $(CHECKOV_VENV)/.installed ## ruff (lint + format check), the import contracts between the packages (lint-imports), checkov on template.yaml
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	@# Every check passes or is skipped in template.yaml itself, with its reason.
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download \
		--compact --quiet

format: $(VENV)/.installed ## Fix what ruff can: ruff check --fix, ruff format, then list what is left (pre-commit: docs/testing.md)
	$(VENV)/bin/ruff check --fix --exit-zero --silent .
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check .

typecheck: $(VENV)/.installed ## mypy --strict
	$(VENV)/bin/mypy layers/shared/billing admin/billing_admin devstack/billing_devstack functions/*/app.py \
		bench tests clients/python/src

test-unit: $(VENV)/.installed ## Unit tests (sockets disabled, AWS faked in-process)
	@mkdir -p $(REPORTS)
	$(PY) -m pytest tests/unit -m "not integration" --disable-socket --allow-unix-socket \
		--junitxml=$(REPORTS)/unit.xml \
		--cov=layers/shared/billing --cov=admin/billing_admin --cov=devstack/billing_devstack \
		--cov=functions --cov-report=term:skip-covered \
		--cov-report=xml:$(ARTIFACTS)/coverage/unit.xml --cov-report=html:$(ARTIFACTS)/coverage/html

test-integration: setup ## Integration tests over HTTP against the local stack
	@mkdir -p $(REPORTS)
	$(PY) -m pytest tests/integration -m integration --junitxml=$(REPORTS)/integration.xml

test-acceptance: setup ## Acceptance: localstripe drives subscriptions through the local stack
	@mkdir -p $(REPORTS)
	$(PY) -m pytest tests/acceptance -m acceptance --junitxml=$(REPORTS)/acceptance.xml

# make test: load 20 s, 25 hostile examples a generator, 25 schemathesis examples an operation.
soak: setup ## Load for 5 min, hostile generators and schemathesis at 20x and 10x make test's size (SOAK_SECONDS, SOAK_EXAMPLES, SOAK_FUZZ_EXAMPLES)
	BILLING_SOAK_SECONDS=$(or $(SOAK_SECONDS),300) \
	BILLING_HOSTILE_EXAMPLES=$(or $(SOAK_EXAMPLES),500) \
	BILLING_FUZZ_EXAMPLES=$(or $(SOAK_FUZZ_EXAMPLES),250) \
		$(PY) -m pytest tests/integration/test_load.py tests/integration/test_hostile_input.py \
		tests/integration/test_openapi_fuzz.py -m integration
	@$(PY) -m tests.support.soak_report

.PHONY: clients test-clients
clients: node_modules/.package-lock.json ## Regenerate the TypeScript client's types from the OpenAPI document (after make openapi)
	npm run generate --silent --workspace clients/typescript

test-clients: node_modules/.package-lock.json ## The TypeScript client: its types match the OpenAPI document, and it type-checks (tsc)
	npm run check --silent --workspace clients/typescript

validate: $(SAM_VENV)/.installed ## sam validate --lint
	$(SAM) validate --lint

build: $(SAM_VENV)/.installed $(VENV)/.installed ## sam build, compile bytecode into the package, check the layer ships only billing
	$(SAM) build
	@# Lambda unpacks zips with their own timestamps: unchecked-hash .pyc files stay valid.
	$(PY) -m compileall -q -j 0 --invalidation-mode unchecked-hash .aws-sam/build
	@# What ships: billing and its dependencies; no admin, devstack or test code (tests/build).
	@mkdir -p $(REPORTS)
	$(PY) -m pytest tests/build -q --junitxml=$(REPORTS)/build.xml
	@du -sh .aws-sam/build/* | sort -h | tail -n 5

test: setup lint typecheck test-unit test-clients test-integration test-acceptance validate build ## Everything CI runs
	@echo "==> make test: all green"

# SEED=1 also loads the seed's demo data (project 1, key sk_demo_space_journal, price_123).
run: setup ## The whole service on http://localhost:8000, in the foreground (SEED=1: demo data, PERSIST=1: keep data)
	LOCAL_SEED_DEMO=$(SEED) LOCAL_PERSIST=$(PERSIST) $(PY) -m billing_devstack run

up: setup ## The local stack in the background (artifacts/local/; SEED=1: demo data, PERSIST=1: keep data)
	LOCAL_SEED_DEMO=$(SEED) LOCAL_PERSIST=$(PERSIST) $(PY) -m billing_devstack up

seed: $(VENV)/.installed ## Load the demo data into the running local stack (idempotent)
	$(VENV)/bin/billing-admin demo seed

reconcile: $(VENV)/.installed ## Reconcile the running local stack with Stripe now, and print the report
	$(VENV)/bin/billing-admin reconcile run

down: $(VENV)/.installed ## Stop the background local stack
	$(PY) -m billing_devstack down

invoke: setup ## Run one function on an event file, starting and stopping what it needs (no running stack): make invoke FN=HealthFunction EVENT=events/health.json
	@test -n "$(FN)" -a -n "$(EVENT)" || { echo "usage: make invoke FN=<LogicalId> EVENT=events/<file>.json" >&2; exit 2; }
	$(PY) -m billing_devstack invoke $(FN) $(EVENT)

webhook: $(VENV)/.installed ## Sign a Stripe event and POST it to the running stack: make webhook EVENT=events/stripe/payment_intent.succeeded.json
	@test -n "$(EVENT)" || { echo "usage: make webhook EVENT=events/stripe/<file>.json" >&2; exit 2; }
	$(PY) -m billing_devstack webhook $(EVENT)

openapi: $(VENV)/.installed ## Rebuild the OpenAPI document from the handlers (served at /api/v1/openapi.json), then the TypeScript client's types
	$(PY) -m billing_devstack.openapi
	$(MAKE) --no-print-directory clients

deploy: build ## sam deploy with samconfig.toml (first time: .venv-sam/bin/sam deploy --guided)
	$(SAM) deploy

.aws-sam/build/template.yaml:
	$(MAKE) build

bench-coldstart: $(VENV)/.installed .aws-sam/build/template.yaml ## Import time of each function's handler vs the floor, and its built package's size
	$(PY) -m bench.coldstart

bench-entitlements: setup ## Entitlement reads: handler vs a raw GetItem in process, and over HTTP at 1/8/32 clients
	$(PY) -m bench.entitlement_read

bench-webhooks: setup ## The webhook consumer on a realistic mix vs a bare conditional PutItem loop
	$(PY) -m bench.webhook_consumer

bench-reconciliation: setup ## Nightly reconciliation over 1k, 10k and 100k subscriptions: time and memory vs the listing floor
	$(PY) -m bench.reconciliation

bench-push: setup ## Entitlement tokens (issue over HTTP, verify offline) beside the read, and the outbound webhooks' delivery lag p50/p99
	$(PY) -m bench.push

bench-usage: setup ## POST /api/v1/usage beside one raw conditional UpdateItem; DynamoDB and Stripe calls per request
	$(PY) -m bench.usage

bench-chart: $(VENV)/.installed ## Draw artifacts/bench/*.json into artifacts/bench/benchmarks.png
	$(PY) -m bench.chart

bench: bench-coldstart bench-entitlements bench-webhooks bench-reconciliation bench-usage bench-push bench-chart ## Every benchmark, then the chart (about 12 min on 2 cores; run after make test)

clean: ## Remove build output and artifacts (keeps the virtualenvs)
	rm -rf .aws-sam $(ARTIFACTS) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
