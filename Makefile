.PHONY: demo test lint format

# Install and start the dashboard with a seeded demo study at http://127.0.0.1:8000 (SQLite).
demo:
	bash scripts/demo.sh

# Install what the tests need and run all of them against PostgreSQL, Redis, a Celery worker
# and Chromium.
test:
	bash scripts/test.sh

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check .

format:
	.venv/bin/ruff format . && .venv/bin/ruff check --fix .
