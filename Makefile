# textgate: `make serve` runs it, `make test` passes the tests. Both set everything up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SMSC := tests/peers/smsc

.PHONY: install serve test lint typecheck peers browser bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

serve: install
	$(BIN)/textgate serve

# The SMPP test peer (npm `smpp`), when the tree has it.
peers:
	@if [ -f $(SMSC)/package.json ]; then \
		npm ci --prefix $(SMSC) --no-audit --no-fund --loglevel=error; fi

# Debian's Chromium and its driver for the console's browser test (no browser download).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update && apt-get install -y chromium chromium-driver)

# Uses PostgreSQL on 127.0.0.1:5432 when it answers (CI always asks for it: see .ci/run).
test: install peers browser
	@if [ -z "$$TEXTGATE_TEST_POSTGRES_URL" ] && pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		export TEXTGATE_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test; fi; \
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy

bench: install
	bench/run.sh

clean:
	rm -rf $(VENV) var .pytest_cache
