# Two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   - install, then run the mission demo
#   make test   - install (including PostgreSQL and Chromium for the tests), then lint, type-check and test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# Bytecode is written as modules are first imported (the install skips compiling up front): a
# machine that sets PYTHONDONTWRITEBYTECODE would otherwise compile every library from source
# in each of the hundreds of Python processes the demo and the tests start (about 5 s each).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: demo test pytest install system-deps lint bench clean vendor

install: $(STAMP)

# --no-compile: bytecode is written on first import, for the modules actually used; compiling
# every installed file up front took half of the install's time. --no-deps: the lock pins every
# package, so pip has nothing to resolve (`pip check` then proves that nothing is missing).
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --no-compile --no-deps -r requirements.lock
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	$(BIN)/pip check --disable-pip-version-check
	bash scripts/vendor-js.sh || echo "npm unavailable: keeping the committed dashboard libraries"
	touch $(STAMP)

# The dashboard's browser libraries, from npm at the versions in web/package-lock.json.
vendor:
	bash scripts/vendor-js.sh

demo: $(STAMP)
	$(BIN)/stratolink demo

system-deps:
	bash scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

# Lint and type-check run beside the tests (both must pass): mypy's minute of one core
# overlaps the suite's waits on real processes.
test: $(STAMP) system-deps
	$(MAKE) --no-print-directory -j2 lint pytest

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
