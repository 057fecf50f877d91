# The two set-up commands of the README: `make test` (the whole suite) and `make demo`.
# Both create the virtual environment in $(VENV) when there is none.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/test

.PHONY: test test-postgres lint typecheck build clean help demo

help:
	@echo "make demo           serve the example site on http://127.0.0.1:8000"
	@echo "make test           run the whole test suite (SQLite)"
	@echo "make test-postgres  run it on PostgreSQL ($(PG_URL))"
	@echo "make lint           ruff check and ruff format --check"
	@echo "make typecheck      mypy --strict with the django-stubs plugin"
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

test: $(BIN)/.installed-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-postgres: $(BIN)/.installed-test
	DATABASE_URL=$(PG_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(BIN)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed-dev
	$(BIN)/mypy django_twitter_oauth tests

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
