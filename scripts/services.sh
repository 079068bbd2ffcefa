#!/usr/bin/env bash
# Make sure PostgreSQL and Redis run on 127.0.0.1 (installing them with apt when absent), and
# that the `app` role the tests log in as exists. Safe to run again: fast when all is up.
set -euo pipefail

need=()
ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
if ((${#need[@]})); then
  echo "Installing ${need[*]} (apt)..."
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  read -r PGVER PGCLUSTER _ < <(pg_lsclusters -h | head -1)
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" "$PGCLUSTER" start || pg_ctlcluster "$PGVER" "$PGCLUSTER" start
  for _ in $(seq 1 40); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
pg_isready -h 127.0.0.1 -p 5432 >/dev/null || { echo "PostgreSQL did not start" >&2; exit 1; }

runuser -u postgres -- psql -v ON_ERROR_STOP=1 -q <<'SQL'
SELECT 'CREATE ROLE app LOGIN PASSWORD ''app'' CREATEDB' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname='app')\gexec
SELECT 'CREATE DATABASE hepwatch OWNER app' WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname='hepwatch')\gexec
SQL

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.25; done
fi
redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null || { echo "Redis did not start" >&2; exit 1; }
