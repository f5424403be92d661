#!/usr/bin/env bash
# Make sure a PostgreSQL answers at ${IDENT_TEST_PG_HOST:-127.0.0.1}:${IDENT_TEST_PG_PORT:-5432} for
# Airflow's own metadata in the whole-stack tests: find it, else start the local cluster, else
# install it from Debian's packages and start it. Exit 0 when it answers; otherwise explain and
# exit 1 (make test then skips those tests, except under CI=true where they fail loudly).
set -uo pipefail
host=${IDENT_TEST_PG_HOST:-127.0.0.1}
port=${IDENT_TEST_PG_PORT:-5432}

answers() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
wait_for() { for _ in $(seq 1 30); do answers && return 0; sleep 1; done; return 1; }

answers && { echo "[postgres] answering at $host:$port"; exit 0; }
if [ "$host" != 127.0.0.1 ] && [ "$host" != localhost ]; then
  echo "[postgres] nothing answers at $host:$port and it is not local, so it cannot be started here" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "[postgres] nothing answers at $host:$port; start PostgreSQL or set IDENT_TEST_PG_*" >&2
  exit 1
fi
if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
  echo "[postgres] installing postgresql from Debian's packages"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || exit 1
fi
version=$(ls /etc/postgresql | sort -V | tail -1)
# Loopback connections without a password (trust), as on the development machines; tests connect
# as the postgres role.
hba=/etc/postgresql/$version/main/pg_hba.conf
if ! grep -q "ident-integrations" "$hba"; then
  sed -i '1i host all all 127.0.0.1/32 trust # ident-integrations tests\nhost all all ::1/128 trust # ident-integrations tests' "$hba"
fi
echo "[postgres] starting the local cluster $version/main"
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null || pg_ctlcluster --skip-systemctl-redirect "$version" main reload
if wait_for; then echo "[postgres] answering at $host:$port"; exit 0; fi
echo "[postgres] started the cluster but nothing answers at $host:$port after 30 s" >&2
exit 1
