# Two commands do everything on a fresh machine:
#   make demo   set up, start the bundled API simulator on loopback, run the job on sample_data
#   make test   set up, lint, type-check, run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The benchmarks measure the job as a production install has it: sync-job installed by pip
# (not editable, bytecode compiled) with its runtime dependencies only. In .venv, pandera also
# imports the dev tool hypothesis at the first validate (+0.1 s), and the editable install's
# finder costs every start about 10 ms.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: setup demo test lint typecheck unit soffice chromium bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(BIN)/python scripts/demo.py

lint: setup
	$(BIN)/ruff check .

typecheck: setup
	$(BIN)/mypy sync_job
	@# As on Windows: an os or signal name Windows lacks is an error there.
	$(BIN)/mypy --platform win32 --cache-dir .mypy_cache/win32 sync_job

# tests/test_libreoffice.py makes workbooks with LibreOffice Calc (soffice) and fails without
# it: install it when it is missing (Debian's package; CI runs as root).
soffice:
	@command -v soffice >/dev/null 2>&1 || { \
	  echo "soffice is missing: installing libreoffice-calc for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends libreoffice-calc; }

# tests/test_report_browser.py opens the HTML run report in headless Chromium (Selenium and
# chromedriver) and fails without them: install Debian's packages when they are missing.
chromium:
	@{ command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; } || { \
	  echo "chromium or chromedriver is missing: installing chromium chromium-driver for the tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium chromium-driver; }

unit: setup soffice chromium
	$(BIN)/pytest

test: lint typecheck unit

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/python -m pip install --quiet .
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@# The sources as they are now, installed as pip installs a release.
	$(BENCH_VENV)/bin/python -m pip install --quiet --no-deps --force-reinstall .
	$(BENCH_VENV)/bin/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) $(BENCH_VENV) .demo .pytest_cache .mypy_cache .ruff_cache benchmarks/.data
