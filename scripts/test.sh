#!/usr/bin/env bash
# `make test`: lint, then every test (unit, sandbox, integration on MariaDB, end-to-end DAG runs,
# and one smoke run of the whole demo stack). MariaDB is found or started first; if that is
# impossible outside CI, its tests are skipped and pytest's summary says so.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! bash scripts/ensure_mariadb.sh; then
  if [ "${CI:-}" = true ]; then
    echo "[test] CI=true: MariaDB is required; the MariaDB tests will fail" >&2
  else
    echo "[test] MariaDB unavailable: its tests will be SKIPPED (see the summary below)" >&2
  fi
fi

echo "[test] ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .

echo "[test] pytest"
exec .venv/bin/python -m pytest -ra "$@"
