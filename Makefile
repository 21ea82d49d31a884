# The habits of this project, one command each. `make run` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := wsgi
# Compiled modules are kept (__pycache__, ignored by git), even where the shell says not to write them:
# every server process a test starts would otherwise compile the app and its libraries again (a few
# seconds of CPU each), and pytest would rewrite every test module's asserts again in each worker.
unexport PYTHONDONTWRITEBYTECODE
export TEST_DATABASE_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: run dev test test-fast fuzz lint db-upgrade outbox bench bench-staff audit clean translations

# uv installs the pinned requirements in seconds where pip takes a minute (docs/dependencies.md).
UV_VERSION := 0.13.9
UV := $(BIN)/uv pip install --quiet --python $(BIN)/python

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)

# Reinstall only when a requirements file changes.
$(VENV)/.installed: requirements.txt $(BIN)/activate
	$(UV) -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt $(VENV)/.installed
	$(UV) -r requirements-dev.txt
	touch $@

db-upgrade: $(VENV)/.installed
	$(BIN)/flask --app wsgi db upgrade

# The Spanish pages' catalogue: microsite/translations/es/LC_MESSAGES/messages.po is under version control,
# its compiled .mo is not: the app compiles it as it starts when it is missing or older (microsite/i18n.py).
# `make translations` brings every new or changed message into the .po (to translate there;
# tests/test_spanish.py fails until each has its Spanish).
TRANSLATIONS := microsite/translations
translations: $(VENV)/.installed
	$(BIN)/pybabel extract --width 110 --no-location --omit-header --sort-by-file -F babel.cfg -k _l -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update --width 110 --no-fuzzy-matching --ignore-obsolete -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

# What production runs: gunicorn with gunicorn.conf.py, on http://127.0.0.1:5000.
run: db-upgrade
	$(BIN)/gunicorn -c gunicorn.conf.py --bind 127.0.0.1:5000 wsgi:app

# Flask's development server with its reloader and debugger, for editing code and templates.
dev: db-upgrade
	$(BIN)/flask --app wsgi run --debug --host 127.0.0.1 --port 5000

outbox: db-upgrade
	$(BIN)/flask --app wsgi outbox run

# The suite runs on every core (pytest-xdist); the browser and server tests in a group each (conftest.py).
PYTEST_WORKERS ?= auto
PYTEST := $(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadgroup

test: $(VENV)/.installed-dev node_modules
	@# The local PostgreSQL by default; tests that need it skip when it is missing (and fail under CI=true).
	$(PYTEST) --durations=25 $(PYTEST_ARGS)

# The in-process tests alone (no browser, no gunicorn or nginx): the edit-test loop.
test-fast: $(VENV)/.installed-dev node_modules
	$(PYTEST) -m "not slow and not browser" $(PYTEST_ARGS)

# Every route and method with generated input, on SQLite and PostgreSQL, far longer than the suite's run
# (tests/test_fuzz.py); a failing example is kept in .hypothesis/ and tried first next time.
FUZZ_EXAMPLES ?= 5000
fuzz: $(VENV)/.installed-dev
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest -p no:xdist -q tests/test_fuzz.py $(PYTEST_ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_imports.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache

# axe-core (browser tests) and Lighthouse (audit), pinned in package-lock.json; node_modules/ is not committed.
node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

# Lighthouse, mobile, on / and a location page served by gunicorn; reports and screenshots go to reports/.
audit: $(VENV)/.installed node_modules
	$(BIN)/python scripts/audit.py

# The app against a Flask hello-world and nginx, side by side on this machine (wrk and nginx from Debian); reports/bench.json.
bench: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench.py $(BENCH_ARGS)

# The staff pages with 10k, 100k and 1M seeded leads on SQLite and PostgreSQL; reports/bench-staff.json.
# BENCH_STAFF_SIZES=10000,100000 for a shorter run (1M takes a while).
bench-staff: $(VENV)/.installed-dev
	$(BIN)/python scripts/bench_staff.py
