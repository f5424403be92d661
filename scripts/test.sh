#!/usr/bin/env bash
# `make test`: lint, then every test (unit, sandbox, integration on MariaDB, end-to-end DAG runs,
# and the whole-stack runs). MariaDB (the IDENT database) and PostgreSQL (Airflow's metadata in the
# whole-stack test) are found or started first; if that is impossible outside CI, their tests are
# skipped and pytest's summary says so.
set -euo pipefail
cd "$(dirname "$0")/.."

for service in mariadb postgres; do
  if ! bash "scripts/ensure_$service.sh"; then
    if [ "${CI:-}" = true ]; then
      echo "[test] CI=true: $service is required; its tests will fail" >&2
    else
      echo "[test] $service unavailable: its tests will be SKIPPED (see the summary below)" >&2
    fi
  fi
done

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[test] pytest"
exec .venv/bin/python -m pytest -ra "$@"
