# oauth-broker: the two commands are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0

.PHONY: dev dev-reset token test venv system-deps lint typecheck unit integration infrastructure contract e2e fuzz fuzz-bounded sam-check security-scan bench catalog-json mutation fmt clean lock lock-upgrade

# uv, pinned: uv.lock's format and the layer's exported requirements follow uv's version
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv

# The venv holds exactly uv.lock's versions (runtime and the dev extra) and the project, editable;
# --inexact keeps what the bootstrap installed (pip, uv). A change to uv.lock re-syncs it.
$(VENV)/.installed: pyproject.toml uv.lock
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "uv==$(UV_VERSION)"
	UV_PROJECT_ENVIRONMENT="$(abspath $(VENV))" $(UV) sync -q --frozen --extra dev --inexact
	@touch $@

venv: $(VENV)/.installed

## make lock: after editing pyproject.toml's dependencies, re-lock uv.lock (versions already locked
## stay) and regenerate the layer's requirements (layers/shared/requirements.txt); then `make test`.
## make lock-upgrade: the same with the newest versions pyproject.toml allows.
lock lock-upgrade:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@[ "$$($(UV) --version 2>/dev/null)" = "uv $(UV_VERSION)" ] || $(PY) -m pip install -q "uv==$(UV_VERSION)"
	UV="$(abspath $(UV))" bash scripts/lock.sh $(if $(filter lock-upgrade,$@),--upgrade,)

## make dev: serve the whole broker on http://127.0.0.1:$(PORT) (fake Google, moto, demo page);
## its data (clients, connections) is kept in .local/ across restarts (BROKER_STATE_DIR moves it)
dev: venv
	$(VENV)/bin/oauth-broker dev --port $(PORT)

## make dev-reset: delete the data `make dev` kept, so the next one starts clean
dev-reset: venv
	$(VENV)/bin/oauth-broker dev-reset

## make token: print a dev token for the local broker (12 hours), by default the banner's:
## TENANT=demo USER=admin@demo, admin; e.g. `make token USER=bob@demo` (ADMIN=1/0 to choose)
TENANT ?= demo
# USER only from the command line: the environment's USER is the login name
TOKEN_USER := $(if $(filter command line,$(origin USER)),$(USER),admin@demo)
token: venv
	@$(VENV)/bin/oauth-broker dev-token --tenant '$(TENANT)' --user '$(TOKEN_USER)' \
	  $(if $(filter 1 yes true,$(ADMIN)),--admin,$(if $(filter 0 no false,$(ADMIN)),--no-admin,))

## make test: everything CI runs, from a fresh machine
# (integration before infrastructure: it records the AWS calls the IAM checks compare with template.yaml)
test: system-deps venv lint typecheck unit integration infrastructure contract e2e fuzz-bounded sam-check security-scan

system-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
	  echo "installing Debian's chromium for the browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; \
	fi

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	MYPYPATH=layers/shared $(VENV)/bin/mypy -p oauth_broker

unit: venv
	$(VENV)/bin/pytest tests/unit -q -p no:cacheprovider

integration: venv
	$(VENV)/bin/pytest tests/integration -q -p no:cacheprovider

infrastructure: venv
	$(VENV)/bin/pytest tests/infrastructure -q -p no:cacheprovider

contract: venv
	$(VENV)/bin/pytest tests/contract -q -p no:cacheprovider

e2e: venv system-deps
	$(VENV)/bin/pytest tests/e2e -q -p no:cacheprovider

## make fuzz: every operation of the OpenAPI document fuzzed (schemathesis) against the local broker
## as a tenant's admin, user and API key, FUZZ_MAX_EXAMPLES per operation and caller (default 100).
## It prints its seed: `FUZZ_SEED=<seed> make fuzz` replays the same requests.
## `make test` runs a bounded fuzz (fuzz-bounded: 12 examples, about a minute or two).
ifndef FUZZ_SEED
FUZZ_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
fuzz: venv
	@echo "fuzz seed: $(FUZZ_SEED)   (replay: FUZZ_SEED=$(FUZZ_SEED) make fuzz)"
	FUZZ_SEED=$(FUZZ_SEED) FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-100} $(VENV)/bin/pytest tests/fuzz -q \
	  -p no:cacheprovider --hypothesis-seed=$(FUZZ_SEED)
	@echo "fuzz seed was: $(FUZZ_SEED)"

# The bounded run in `make test` uses a fixed seed, so CI replays the same requests every time (a
# new finding comes from `make fuzz`, whose seed is random); FUZZ_BOUNDED_SEED=<n> picks another.
FUZZ_BOUNDED_SEED ?= 20261206
fuzz-bounded: venv
	@echo "fuzz (bounded) seed: $(FUZZ_BOUNDED_SEED)   (replay: FUZZ_BOUNDED_SEED=$(FUZZ_BOUNDED_SEED) make fuzz-bounded)"
	@start=$$SECONDS; FUZZ_SEED=$(FUZZ_BOUNDED_SEED) FUZZ_MAX_EXAMPLES=$${FUZZ_MAX_EXAMPLES:-12} \
	  $(VENV)/bin/pytest tests/fuzz -q -p no:cacheprovider --hypothesis-seed=$(FUZZ_BOUNDED_SEED) && \
	  echo "fuzz (bounded) took $$((SECONDS - start)) s, seed $(FUZZ_BOUNDED_SEED)"

sam-check: venv
	LOCK_CHECK_PYTHON=$(PY) bash scripts/sam_check.sh

## make security-scan: checkov (pinned, in .venv-checkov) on template.yaml; every failure fixed or
## suppressed on its resource with a reason
security-scan:
	bash scripts/security_scan.sh

## make mutation: mutmut (pinned in the dev extras) on the security-critical modules, one at a time
## against the unit tests that cover each (the callback's checks: its integration tests); prints each
## module's score (killed / total) and fails below 90%. Not in `make test`: about half an hour on
## 2 cores. One module: `make mutation MODULES=paths`; parallel mutants: MUTATION_JOBS=2.
mutation: venv
	$(PY) scripts/mutation.py $(MODULES)

## make bench: benchmarks that print figures (see docs/benchmarks.md)
bench: venv
	$(PY) -m bench

## make catalog-json: regenerate the pre-validated provider catalog (providers/catalog.json) after
## editing providers/catalog.yaml (a unit test fails while it is stale)
catalog-json: venv
	$(PY) scripts/gen_catalog_json.py

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-sam .venv-checkov .aws-sam .local .test-artifacts .pytest_cache .mypy_cache .ruff_cache
