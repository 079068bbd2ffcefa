#!/usr/bin/env bash
# Install and start the dashboard on the embedded default: SQLite, Celery tasks in-process,
# a seeded demo study, at http://127.0.0.1:8000. The demo lives in its own file, demo.sqlite3,
# so it never mixes with a study imported into the default database (hepwatch.sqlite3).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/venv.sh
export DEBUG=${DEBUG:-1}
export DATABASE_URL="sqlite:///$PWD/demo.sqlite3"
unset REDIS_URL
.venv/bin/python manage.py migrate --noinput -v0
.venv/bin/python manage.py seed_demo --if-empty
exec .venv/bin/python manage.py runserver 127.0.0.1:8000
