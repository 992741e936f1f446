# Casebook. `make run` serves the demo; `make test` runs the checks and the suite.
VENV := .venv

.PHONY: run test typecheck fuzz lint format bench bench-dossier bench-analysis load

run:
	@bin/bootstrap run
	@bin/serve

test:
	@bin/bootstrap test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	DJANGO_SETTINGS_MODULE=config.test_settings $(VENV)/bin/python manage.py makemigrations --check --dry-run
	$(VENV)/bin/pytest

# mypy over the apps, as configured in pyproject.toml ([tool.mypy]).
typecheck:
	@bin/bootstrap test
	$(VENV)/bin/mypy

# Schemathesis over the live /api/schema/ (tests/test_api_fuzz.py) with many more
# generated requests per operation than `make test` sends (FUZZ_EXAMPLES, FUZZ_SEED).
fuzz:
	@bin/bootstrap test
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} FUZZ_COVERAGE=$${FUZZ_COVERAGE:-1} $(VENV)/bin/pytest tests/test_api_fuzz.py -p no:cacheprovider

lint:
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Query-log ingestion: 1,000,000 rows over HTTP against a bare COPY (BENCH_ROWS to
# change). Needs PostgreSQL; drops and recreates casebook_bench (see bench/ingest.py).
bench:
	@bin/bootstrap run
	$(VENV)/bin/python -m bench.ingest

# Dossier rendering: a 1,000,000-row case (50 exhibits x 20 custody events, 5 forensic
# results) against a bare 5,000-row WeasyPrint table (BENCH_ROWS to change). Needs
# PostgreSQL; drops and recreates casebook_bench (see bench/dossier.py).
bench-dossier:
	@bin/bootstrap run
	$(VENV)/bin/python -m bench.dossier

# Account-linkage analysis: a 1,000,000-row generated case (20,000 accounts, two
# planted campaigns) against a bare GROUP BY account_id count (BENCH_ROWS,
# BENCH_ACCOUNTS to change). Needs PostgreSQL; drops and recreates casebook_bench
# (see bench/analysis.py).
bench-analysis:
	@bin/bootstrap run
	$(VENV)/bin/python -m bench.analysis

# Load: the demo case under 30 browsing people and two detectors posting query-log
# batches and alerts (Locust, headless, loopback, 30 s idle pass then 60 s of load)
# on gunicorn + PostgreSQL + Redis + a Celery worker; prints p50/p95 per page beside
# the idle figures and PASS/FAIL (no error; p95 within 3x idle). Drops and recreates
# casebook_load (see bench/load.py).
load:
	@bin/bootstrap test
	$(VENV)/bin/python -m bench.load
