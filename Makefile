# The two commands: `make run` (everything up, with a demo club) and `make test` (every check).
# Both install what they need into .venv first. DATABASE_URL / CELERY_BROKER_URL switch to real services.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO_CLUB ?= infinity-mall
DEMO_MEMBERS ?= 200

.PHONY: install run test bench lint format migrate clean

# Two runs at once (a `make test` while `make run` starts) install one after the other, where flock exists.
SERIAL := $(shell command -v flock >/dev/null 2>&1 && echo flock .venv.lock)

$(STAMP): pyproject.toml
	$(SERIAL) sh -c "$(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet --upgrade pip \
		&& $(BIN)/python -m pip install --quiet -e '.[dev]'"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --no-input

## run: install, migrate, bootstrap the demo club (prints its API token), start API + worker + beat.
run: migrate
	$(BIN)/python manage.py loyalty_bootstrap --club $(DEMO_CLUB) --name "Infinity Mall" --timezone Europe/Oslo
	@if $(BIN)/python manage.py help seed_demo >/dev/null 2>&1; then \
		$(BIN)/python manage.py seed_demo --members $(DEMO_MEMBERS); fi
	@echo "API on http://127.0.0.1:8000  (docs: /api/docs/, admin: /admin/). Ctrl-C stops everything."
	PATH="$(CURDIR)/$(BIN):$$PATH" DJANGO_DEBUG=$${DJANGO_DEBUG:-true} $(BIN)/honcho -f Procfile start

## test: lint, format check, import contracts, migrations check, OpenAPI validation, the whole pytest suite.
test: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose" >&2; exit 1; fi; exit $$rc

## bench: every benchmark target in one run (PostgreSQL; about half an hour; BENCH_ARGS="--quick" for less).
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
