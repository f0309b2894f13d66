# StreamSite: `make run` serves the demo, `make test` runs every check CI runs.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

# The test suite's own PostgreSQL database and Redis db number, never the ones `make run` uses.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/streamsite
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
# Tests run in parallel (pytest-xdist), each worker on a test database of its own
# (test_streamsite_gw0, gw1…) and a Redis db of its own (15, 14…; tests/conftest.py). Most of
# the slow tests wait on a browser, ffmpeg or a server rather than the CPU, so more workers
# than cores pays. The modules that start a topology or cluster once stay on one worker and go
# out first (--dist loadgroup, XDIST_GROUPS in tests/conftest.py); the rest one at a time.
TEST_WORKERS ?= 4

.PHONY: run test test-fast lint format install install-dev services migrate demo worker beat bench loadtest vendor clean

run: $(VENV)/.runtime migrate demo
	$(MANAGE) runserver $(HOST):$(PORT)

test: $(VENV)/.dev services
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MANAGE) makemigrations --check --dry-run
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_TASK_ALWAYS_EAGER=true \
		$(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# The edit loop: every test but those marked slow (browser, ffmpeg, nginx, gunicorn, Celery
# workers, the topology, a fresh Python: tests/conftest.py), spread test by test. No lint:
# `make test` is what CI runs. (Not --reuse-db: a kept database has lost the rows the
# migrations seed, emptied by the previous run's last tests.)
test-fast: $(VENV)/.dev services
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) CELERY_TASK_ALWAYS_EAGER=true \
		$(BIN)/pytest -n $(TEST_WORKERS) -m "not slow" $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

$(VENV)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	@touch $@

services:
	@scripts/ensure-services.sh

migrate: $(VENV)/.runtime
	$(MANAGE) migrate --noinput

# Loads the demo catalog on the first run only, gives a few films a video of their own (made
# once), then makes sure an admin account exists.
demo: $(VENV)/.runtime
	$(MANAGE) load_demo --if-empty
	$(MANAGE) demo_videos
	$(MANAGE) ensure_admin --site-url http://$(HOST):$(PORT)

# Both need REDIS_URL (the broker). Without it, tasks run inside the web process and `make run`
# is all there is to start.
worker: $(VENV)/.runtime
	@test -n "$$REDIS_URL" || { echo "make worker needs REDIS_URL (the Celery broker)"; exit 1; }
	$(BIN)/celery -A streamsite worker --loglevel=INFO

beat: $(VENV)/.runtime
	@test -n "$$REDIS_URL" || { echo "make beat needs REDIS_URL (the Celery broker)"; exit 1; }
	$(BIN)/celery -A streamsite beat --loglevel=INFO

bench: $(VENV)/.dev services
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Whole user journeys through the live topology (loadtest/run.py): a mixed run by default,
# `make loadtest LOADTEST_ARGS="--capacity"` for the step-load search, `--host https://…` for a
# site running elsewhere. The report lands in loadtest-report/ (index.html).
LOADTEST_ARGS ?=
loadtest: $(VENV)/.dev services
	$(BIN)/python -m loadtest.run $(LOADTEST_ARGS)

# Browser libraries are committed under static/vendor/ (axe-core, for the accessibility tests
# only, under tests/vendor/), so `make run` and `make test` need no npm. To update one:
# `npm install --save-exact hls.js@<version>`, then `make vendor`, then commit package.json,
# package-lock.json and the vendored files together.
vendor:
	npm ci
	mkdir -p static/vendor/hls.js
	cp node_modules/hls.js/dist/hls.min.js node_modules/hls.js/LICENSE static/vendor/hls.js/
	mkdir -p tests/vendor/axe-core
	cp node_modules/axe-core/axe.min.js node_modules/axe-core/LICENSE tests/vendor/axe-core/

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache
