# oauth-broker: the two commands are `make dev` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 3000
export SAM_CLI_TELEMETRY := 0

.PHONY: dev test venv system-deps lint typecheck unit integration infrastructure contract e2e sam-check security-scan bench fmt clean

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	$(VENV)/bin/uv pip install --python $(PY) -q -e ".[dev]"
	@touch $@

venv: $(VENV)/.installed

## make dev: serve the whole broker on http://127.0.0.1:$(PORT) (fake Google, moto, demo page)
dev: venv
	$(VENV)/bin/oauth-broker dev --port $(PORT)

## make test: everything CI runs, from a fresh machine
# (integration before infrastructure: it records the AWS calls the IAM checks compare with template.yaml)
test: system-deps venv lint typecheck unit integration infrastructure contract e2e sam-check security-scan

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

sam-check:
	bash scripts/sam_check.sh

## make security-scan: checkov (pinned, in .venv-checkov) on template.yaml; every failure fixed or
## suppressed on its resource with a reason
security-scan:
	bash scripts/security_scan.sh

## make bench: benchmarks that print figures (see docs/benchmarks.md)
bench: venv
	$(PY) -m bench

fmt: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .venv-sam .venv-checkov .aws-sam .local .test-artifacts .pytest_cache .mypy_cache .ruff_cache
