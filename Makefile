# The two set-up commands of the README: `make test` (the whole suite) and `make demo`.
# Both create the virtual environment in $(VENV) when there is none.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/15

.PHONY: axe messages translations-check test test-fast test-sqlite test-postgres test-custom-user test-second-db lint typecheck security docs build bench bench-load clean help demo

help:
	@echo "make demo           serve the example site on http://127.0.0.1:8000"
	@echo "make test           the whole suite on SQLite and on PostgreSQL ($(PG_URL)),"
	@echo "                    with Redis ($(REDIS_URL)), then in the two other project shapes"
	@echo "                    below; 100% branch coverage of the four runs combined"
	@echo "make test-fast      the suite without the tests marked slow, on SQLite, no coverage gate"
	@echo "                    (well under a minute: what to run while working)"
	@echo "make test-sqlite    the suite on SQLite only (PostgreSQL-only tests skip)"
	@echo "make test-postgres  the suite on PostgreSQL only"
	@echo "make test-custom-user  the suite with a user model without username (SQLite)"
	@echo "make test-second-db    the suite with the app's tables in a second PostgreSQL"
	@echo "                       database, reached as another role"
	@echo "make axe            install axe-core (npm) for the browser tests' accessibility checks"
	@echo "make messages       update the translation catalogs (django_twitter_oauth/locale) and compile them"
	@echo "make translations-check  fail if a message is untranslated or fuzzy, or a .po/.mo is stale"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make typecheck      mypy --strict with the django-stubs plugin"
	@echo "make security       bandit, pip-audit and check --deploy of the example's production settings"
	@echo "make bench          the flow, revoke, rotate and admin benchmarks (benchmarks/README.md)"
	@echo "make bench-load     sign-ins per second under load, gunicorn and uvicorn (~4 min)"
	@echo "make docs           build the Sphinx docs warning-free (docs/_build/html)"
	@echo "make build          build the sdist and wheel, twine check, check the wheel's contents"

# Re-install whenever the packaging metadata changes.
$(BIN)/.installed-test: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(BIN)/.installed-dev: $(BIN)/.installed-test
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Both databases, then the two other project shapes (a custom user model without
# username; the app's tables in a second database), then one coverage gate over the four
# runs: some tests (real task workers sharing a database) run on PostgreSQL only, and
# tests/custom_user and tests/routers.py run only in their shape.
SHAPE_CUSTOM_USER := DJANGO_SETTINGS_MODULE=tests.settings_custom_user REDIS_URL=$(REDIS_URL)
SHAPE_SECOND_DB := DJANGO_SETTINGS_MODULE=tests.settings_second_db DATABASE_URL=$(PG_URL) \
	REDIS_URL=$(REDIS_URL)

# axe-core for the accessibility checks of the browser tests, from the npm registry;
# the file itself is the stamp, so npm runs once.
AXE_JS := .cache/axe/node_modules/axe-core/axe.min.js
axe: $(AXE_JS)
$(AXE_JS):
	npm install --prefix .cache/axe --no-audit --no-fund --silent axe-core@4

CHROMIUM ?= /usr/bin/chromium
BROWSER_NOTE = @test -x $(CHROMIUM) || echo "NOTE: Chromium not found at $(CHROMIUM): the browser tests (tests/test_e2e.py) are SKIPPED. Install Debian's 'chromium' package to run them."

test: $(BIN)/.installed-test
	$(BROWSER_NOTE)
	rm -f .coverage .coverage.*
	COVERAGE_FILE=.coverage.sqlite REDIS_URL=$(REDIS_URL) \
		$(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)
	COVERAGE_FILE=.coverage.postgres DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL) \
		$(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)
	COVERAGE_FILE=.coverage.custom_user $(SHAPE_CUSTOM_USER) \
		$(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)
	COVERAGE_FILE=.coverage.second_db $(SHAPE_SECOND_DB) \
		$(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)
	$(BIN)/python -m coverage combine .coverage.sqlite .coverage.postgres \
		.coverage.custom_user .coverage.second_db
	$(BIN)/python -m coverage report --fail-under=100

# The quick lane while working: everything but the tests marked slow (subprocesses,
# interrupts, the browser, fuzzing, real task workers; setup.cfg lists the marker), on
# SQLite, without coverage. make test still runs them all.
test-fast: $(BIN)/.installed-test
	DATABASE_URL= $(BIN)/python -m pytest -m "not slow" --no-cov $(PYTEST_ARGS)

test-sqlite: $(BIN)/.installed-test
	$(BROWSER_NOTE)
	REDIS_URL=$(REDIS_URL) $(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)

test-postgres: $(BIN)/.installed-test
	$(BROWSER_NOTE)
	DATABASE_URL=$(PG_URL) REDIS_URL=$(REDIS_URL) $(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)

test-custom-user: $(BIN)/.installed-test
	$(SHAPE_CUSTOM_USER) $(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)

test-second-db: $(BIN)/.installed-test
	$(SHAPE_SECOND_DB) $(BIN)/python -m pytest --cov-fail-under=0 $(PYTEST_ARGS)

# The translation catalogs (GNU gettext needed: Debian's `gettext`). The options are also
# in .ci/check_translations.py, which fails on an untranslated, fuzzy or stale message.
messages: $(BIN)/.installed-test
	cd django_twitter_oauth && ../$(BIN)/python -m django makemessages --add-location=file \
		--no-obsolete --all
	cd django_twitter_oauth && ../$(BIN)/python -m django compilemessages

translations-check: $(BIN)/.installed-test
	$(BIN)/python .ci/check_translations.py

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy django_twitter_oauth tests

# bandit: nothing above low severity (each waiver is justified inline with `# nosec`).
# pip-audit: no installed dependency with a known vulnerability (.ci/audit.py says how
# many it could audit). check --deploy: the example's production settings, no warning.
security: $(BIN)/.installed-dev
	$(BIN)/bandit -q -r django_twitter_oauth example_project --severity-level medium
	$(BIN)/python .ci/audit.py
	cd example_project && env DJANGO_SETTINGS_MODULE=example.settings_production \
		DJANGO_SECRET_KEY=ci-check-deploy-x7Qm2vR9kLp4sWz8nB3cF6hJ1dG5yT0uAq \
		DJANGO_ALLOWED_HOSTS=example.com FERNET_KEYS=ci-check-deploy \
		TWITTER_OAUTH_CONSUMER_KEY=ci TWITTER_OAUTH_CONSUMER_SECRET=ci \
		DATABASE_URL=sqlite:///:memory: \
		../$(BIN)/python manage.py check --deploy --fail-level WARNING

# Figures, not tests: see benchmarks/README.md (takes a few minutes).
# Reduced sizes (a few minutes); the full-size commands are in benchmarks/README.md.
# The flow benchmark compares with django-allauth only where allauth is importable
# (a scratch environment: benchmarks/README.md); otherwise it says it skipped that.
# flow.py runs on SQLite and on PostgreSQL ($(PG_URL)), each against the floor
# (benchmarks/floor), and prints MET/MISSED for the goals against it.
bench: $(BIN)/.installed-test
	$(BIN)/python benchmarks/flow.py --compare-allauth
	$(BIN)/python benchmarks/flow.py --compare-allauth --database-url $(PG_URL)
	$(BIN)/python benchmarks/revoke.py --tokens 1000 --workers 8 32 --repeat 3
	$(BIN)/python benchmarks/rotate.py --rows 1000 10000 --repeat 3 $(if $(DATABASE_URL),--database-url $(DATABASE_URL))
	$(BIN)/python benchmarks/admin.py --tokens 100 10000 --repeat 10

# Sign-ins per second over HTTP on 127.0.0.1 against the sandbox (150 ms per Twitter
# call), gunicorn then uvicorn, this app and the floor, 8, 32 and 128 browsers: about
# four minutes. BENCH_LOAD_ARGS adds options, e.g. --database-url $(PG_URL).
bench-load: $(BIN)/.installed-test
	$(BIN)/python benchmarks/load.py $(BENCH_LOAD_ARGS)

docs: $(BIN)/.installed-dev
	$(BIN)/sphinx-build -n -W --keep-going -b html docs docs/_build/html

build: $(BIN)/.installed-dev
	rm -rf dist build
	$(BIN)/python -m build --outdir dist .
	$(BIN)/python .ci/check_wheel.py dist

clean:
	rm -rf $(VENV) .tox build dist *.egg-info .coverage

$(BIN)/.installed-example: setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[example]'
	touch $@

.PHONY: demo
demo: $(BIN)/.installed-example
	cd example_project && ../$(BIN)/python manage.py migrate --noinput
	cd example_project && ../$(BIN)/python manage.py demo_setup
	cd example_project && ../$(BIN)/python manage.py runserver 127.0.0.1:8000
