# modelfleet: `make demo` runs the main job end to end, `make test` installs and runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEV    := $(VENV)/.installed-dev
LOWEST := .venv-lowest

.PHONY: install install-dev demo test test-faults test-slow test-lowest lint typecheck up flower screenshot clean bench bench-quick

# What the demo and a worker need; `make test` adds the dev, text and sink extras.
install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $(STAMP)

install-dev: $(DEV)

# The text extra (minilm) pins torch==2.13.0, a CPU build; an unpinned torch is a CUDA one.
$(DEV): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,text,sink]'
	touch $(DEV)

demo: install
	$(BIN)/modelfleet demo

test: install-dev lint typecheck
	$(BIN)/python -m pytest -n 3 --dist loadfile --ignore=tests/faults --ignore=tests/slow

# 1,000,000 IDs to Parquet with a SIGKILLed producer resumed (a few minutes on 2 cores);
# MODELFLEET_SLOW_IDS scales it down on a slower machine.
test-slow: install-dev
	$(BIN)/python -m pytest tests/slow -s

# Real SIGKILL/SIGTERM, Redis restarts, poison inputs, time limits (a few minutes on 2 cores).
test-faults: install-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile tests/faults

# The fast tests in a second venv with every direct dependency at the lowest version
# pyproject.toml admits (.ci/lowest.py writes the pins): a lower bound we claim is one we run.
# A real worker and a real client on the lowest versions, plus every check of the APIs we patch;
# the rest of the suite runs at the usual versions (CI's 30-minute budget).
FAST := -m "not slow" tests/test_upstream_canary.py tests/test_contract.py tests/test_clients.py \
	tests/test_lifecycle.py tests/test_batching.py tests/test_cost_model.py tests/test_wire_json.py \
	tests/test_json_log.py tests/test_sentinel_config.py tests/test_worker_setup.py
test-lowest: install-dev
	rm -rf $(LOWEST)
	$(PYTHON) -m venv $(LOWEST)
	$(BIN)/python .ci/lowest.py $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST)/bin/python -m pip install --quiet -c $(LOWEST)/constraints.txt -e . \
		-r $(LOWEST)/test-tools.txt
	$(LOWEST)/bin/python -m pytest -p no:cacheprovider $(FAST)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: install-dev
	$(BIN)/mypy

# A worker and Flower against $CELERY_BROKER_URL (default: Redis on 127.0.0.1:6379) until Ctrl+C,
# which stops both.
up: install
	@trap 'kill $$worker 2>/dev/null; wait $$worker' EXIT INT TERM; \
	$(BIN)/celery -A tasks worker --loglevel=INFO & worker=$$!; \
	$(BIN)/modelfleet flower --address=127.0.0.1 --port=5555

# Flower is a core dependency: no dev or text extra (no torch) needed.
flower: install
	$(BIN)/modelfleet flower --address=127.0.0.1 --port=5555

# Refresh docs/flower-*.png: the browser test logs into a real Flower and copies its screenshots.
screenshot: install-dev
	MODELFLEET_SCREENSHOT_DIR=$(CURDIR)/docs $(BIN)/python -m pytest tests/ecosystem/test_browser.py

# Every configuration side by side in one run, with its own Redis and workers (benchmarks/).
bench: install-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

bench-quick: install-dev
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) $(LOWEST) .pytest_cache .mypy_cache .ruff_cache *.egg-info
