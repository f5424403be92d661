#!/usr/bin/env bash
# Prepare everything the project needs; safe to run again (it only does what is missing).
#  - system packages for mysqlclient (pkg-config, libmariadb-dev, a C compiler), redis-server (make stack) and chromium (page tests)
#  - .venv with the pinned requirements and the local provider (ident_hooks)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null; then sudo "$@"
  else echo "[setup] need root to run: $*" >&2; return 1; fi
}

missing=()
command -v pkg-config >/dev/null || missing+=(pkg-config)
pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev)
command -v gcc >/dev/null || missing+=(gcc)
command -v redis-server >/dev/null || missing+=(redis-server)  # the Celery broker of make stack
command -v chromium >/dev/null || missing+=(chromium)  # the browser the page tests drive (Playwright)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing system packages: ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

PYTHON=${PYTHON:-}
if [ -z "$PYTHON" ]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON=$candidate; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "[setup] Python 3.11 or newer is required" >&2; exit 1; }

if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PYTHON --version)"
  "$PYTHON" -m venv .venv
fi

# Reinstall only when the pins or the provider metadata changed.
stamp=.venv/.ident-installed
want=$(cat requirements.txt constraints.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing pinned requirements (first time takes a minute or two)"
  .venv/bin/python -m pip install -q -r requirements.txt -c constraints.txt
  say "installing the local provider (connection types, Test button)"
  .venv/bin/python -m pip install -q --no-deps -e . > .venv/provider-install.log 2>&1 \
    || { cat .venv/provider-install.log >&2; exit 1; }
  echo "$want" > "$stamp"
else
  say ".venv is up to date"
fi
