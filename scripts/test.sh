#!/usr/bin/env bash
# Everything the tests need, then all of them: real PostgreSQL, real Redis, a real Celery worker
# and Debian's Chromium for the browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ] || ! command -v pdftotext >/dev/null; then
  echo "Installing chromium and poppler-utils (apt)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null
fi
bash scripts/services.sh
EXTRAS=test bash scripts/venv.sh

export DATABASE_URL=${TEST_DATABASE_URL:-postgres://app:app@127.0.0.1:5432/hepwatch}
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
export SECRET_KEY=test-only-secret
export PLAYWRIGHT_BROWSERS_PATH=0

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/lint-imports
.venv/bin/python manage.py makemigrations --check --dry-run >/dev/null
.venv/bin/python manage.py collectstatic --noinput -v0
exec .venv/bin/python -m pytest "$@"
