#!/usr/bin/env bash
# `make stack` / `make stack-stop`: the multi-machine layout of docker-compose.yaml on this machine,
# without Docker — Airflow with the CeleryExecutor, each component its own process:
#   PostgreSQL (metadata and Celery results: database $STACK_PG_DB on the local server),
#   our own redis-server (the Celery broker, port $STACK_REDIS_PORT, nothing saved to disk),
#   the sandbox, the api-server, scheduler, dag-processor and triggerer,
#   and two Celery workers: one on the queue `default`, one on `clinic` (an integration's `queue:`),
# with the IDENT database on MariaDB ($STACK_MYSQL_DB) and the demo's connections to the sandbox.
#
#   scripts/stack.sh start    start everything (waits until healthy), or say it already runs
#   scripts/stack.sh stop     SIGTERM the workers, then the rest (each up to $STACK_STOP_TIMEOUT s), then SIGKILL what is left
#   scripts/stack.sh status   each component's pid and state, and the api-server's health (exit 0 = all up)
#
# Everything lives under $STACK_HOME (default .airflow/stack): stack.env (source it for the `airflow`
# CLI against the stack), logs/<component>.log, run/<component>.pid, Airflow's task logs.
# IDENT_INTEGRATIONS_FILE picks the integrations file (default include/integrations.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ACTION=${1:-start}

STACK_HOME=${STACK_HOME:-$ROOT/.airflow/stack}
STACK_AIRFLOW_PORT=${STACK_AIRFLOW_PORT:-8081}
STACK_SANDBOX_PORT=${STACK_SANDBOX_PORT:-8766}
STACK_REDIS_PORT=${STACK_REDIS_PORT:-6390}
STACK_PG_HOST=${STACK_PG_HOST:-${IDENT_TEST_PG_HOST:-127.0.0.1}}
STACK_PG_PORT=${STACK_PG_PORT:-${IDENT_TEST_PG_PORT:-5432}}
STACK_PG_USER=${STACK_PG_USER:-${IDENT_TEST_PG_USER:-postgres}}
STACK_PG_DB=${STACK_PG_DB:-ident_stack}
STACK_MYSQL_HOST=${STACK_MYSQL_HOST:-${IDENT_TEST_MYSQL_HOST:-127.0.0.1}}
STACK_MYSQL_PORT=${STACK_MYSQL_PORT:-${IDENT_TEST_MYSQL_PORT:-3306}}
STACK_MYSQL_USER=${STACK_MYSQL_USER:-${IDENT_TEST_MYSQL_USER:-root}}
STACK_MYSQL_PASSWORD=${STACK_MYSQL_PASSWORD:-${IDENT_TEST_MYSQL_PASSWORD:-}}
STACK_MYSQL_DB=${STACK_MYSQL_DB:-ident_stack}
STACK_QUEUES=${STACK_QUEUES:-default clinic}     # one Celery worker per queue
STACK_WORKER_CONCURRENCY=${STACK_WORKER_CONCURRENCY:-3}
STACK_START_TIMEOUT=${STACK_START_TIMEOUT:-300}
STACK_STOP_TIMEOUT=${STACK_STOP_TIMEOUT:-30}
STACK_HOME=$(mkdir -p "$STACK_HOME" && cd "$STACK_HOME" && pwd)
LOGS=$STACK_HOME/logs/stack
RUN=$STACK_HOME/run

say() { printf '\033[1m[stack]\033[0m %s\n' "$*"; }
die() { echo "[stack] $*" >&2; exit 1; }

# Components in start order; stop goes the other way round (workers first, the broker last).
components() {
  echo redis sandbox api-server scheduler dag-processor triggerer
  for queue in $STACK_QUEUES; do echo "worker-$queue"; done
}
reversed() { components | tr ' ' '\n' | tac; }

pid_of() { cat "$RUN/$1.pid" 2>/dev/null || true; }
# /proc/PID/stat from its third field on (state, ppid, pgrp, session, ..., the 20th: start time)
stat_of() { local stat; stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; echo "${stat##*) }"; }
# The component's process is the one launch() started: same pid, same start time (a stale pid file's
# pid reused by something else is left alone), and not a zombie.
alive() {
  local pid fields
  pid=$(pid_of "$1"); [ -n "$pid" ] || return 1
  fields=($(stat_of "$pid")) || return 1
  [ "${fields[0]}" != Z ] && [ "${fields[19]}" = "$(cat "$RUN/$1.start" 2>/dev/null)" ]
}
# Each component runs in a session of its own (setsid), and so does everything it forks (Celery's
# pool, the task supervisors and task processes, which only change their process group): the
# stack's processes are those of its sessions. Not their environment: processes that set their
# title (Celery, the api-server, redis-server) overwrite it.
sessions() {
  local name pid fields
  for name in $(components); do
    pid=$(pid_of "$name"); [ -n "$pid" ] || continue
    if fields=($(stat_of "$pid")) && [ "${fields[19]}" != "$(cat "$RUN/$name.start" 2>/dev/null)" ] \
      && [ "${fields[3]}" = "$pid" ]; then
      continue  # the pid is now another session's leader: not ours
    fi
    echo "$pid"
  done
}
stack_pids() {
  local sids
  sids=" $(sessions | tr '\n' ' ')"
  [ "$sids" = " " ] && return 0
  # processes come and go while cat reads: its failures are not errors (pipefail, set -e)
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v sids="$sids" -v me=$$ '{
    pid = $1; rest = $0; sub(/^.*\) /, "", rest); split(rest, f, " ")
    if (f[1] != "Z" && pid != me && index(sids, " " f[4] " ")) print pid
  }'
}

# SIGTERM to the given components' process groups and to what left them, then wait for the
# stack's processes to end (up to $STACK_STOP_TIMEOUT s).
terminate() {
  local name pid left
  for name in "$@"; do
    alive "$name" || continue
    pid=$(pid_of "$name")
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 "$STACK_STOP_TIMEOUT"); do
    left=$(for name in "$@"; do if alive "$name"; then echo "$name"; fi; done)
    [ -z "$left" ] && return 0
    sleep 1
  done
}

stop_stack() {
  local left
  [ -d "$RUN" ] || { say "nothing to stop in $STACK_HOME"; return 0; }
  # The workers first, while the api-server, the broker and the databases still answer: a Celery
  # worker's warm shutdown lets its running tasks finish. Then the rest, the broker last.
  terminate $(components | tr ' ' '\n' | grep '^worker-')
  terminate $(reversed | grep -v '^worker-')
  left=$(stack_pids)
  if [ -n "$left" ]; then  # what left its process group, or outlived the timeout
    # shellcheck disable=SC2086
    kill -TERM $left 2>/dev/null || true
    sleep 3
    left=$(stack_pids)
  fi
  if [ -n "$left" ]; then
    say "still running after SIGTERM, killing: $(echo $left)"
    # shellcheck disable=SC2086
    kill -KILL $left 2>/dev/null || true
    sleep 1
  fi
  left=$(stack_pids)
  [ -z "$left" ] || die "processes left behind: $(echo $left)"
  rm -f "$RUN"/*.pid "$RUN"/*.start
  say "stopped (nothing of $STACK_HOME runs)"
}

status_stack() {
  local name up=0 total=0
  for name in $(components); do
    total=$((total + 1))
    if alive "$name"; then up=$((up + 1)); printf '  %-16s running  pid %s\n' "$name" "$(pid_of "$name")"
    else printf '  %-16s stopped\n' "$name"; fi
  done
  if [ "$up" -gt 0 ]; then
    printf '  health           %s\n' "$(curl -fs "http://127.0.0.1:$STACK_AIRFLOW_PORT/api/v2/monitor/health" 2>/dev/null \
      | python3 -c 'import json,sys; h=json.load(sys.stdin); print(", ".join(k + ": " + str(v.get("status")) for k, v in h.items()))' 2>/dev/null \
      || echo 'api-server not answering')"
  fi
  [ "$up" = "$total" ] && return 0
  [ "$up" = 0 ] && return 3
  return 1
}

case "$ACTION" in
  stop) stop_stack; exit 0 ;;
  status) status_stack; exit $? ;;
  start) ;;
  *) die "usage: scripts/stack.sh start|stop|status" ;;
esac

# --- start ---------------------------------------------------------------------------------------
if status_stack > /dev/null; then say "already running in $STACK_HOME"; status_stack; exit 0; fi
if [ -n "$(stack_pids)" ]; then say "a part of the stack runs: stopping it first"; stop_stack; fi
for port in "$STACK_AIRFLOW_PORT" "$STACK_SANDBOX_PORT" "$STACK_REDIS_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "port $port is already in use; set STACK_AIRFLOW_PORT / STACK_SANDBOX_PORT / STACK_REDIS_PORT"
  fi
done
command -v redis-server > /dev/null || die "redis-server is missing: run scripts/setup.sh (make setup)"
mkdir -p "$LOGS" "$RUN" "$STACK_HOME/redis"

IDENT_TEST_PG_HOST=$STACK_PG_HOST IDENT_TEST_PG_PORT=$STACK_PG_PORT bash scripts/ensure_postgres.sh \
  || die "PostgreSQL (Airflow's metadata) is not available"
IDENT_TEST_MYSQL_HOST=$STACK_MYSQL_HOST IDENT_TEST_MYSQL_PORT=$STACK_MYSQL_PORT bash scripts/ensure_mariadb.sh \
  || die "MariaDB (the IDENT database) is not available"

# The project's Airflow environment (as the demo's), in the stack's home, plus what makes it a
# CeleryExecutor deployment: every component gets the same settings from stack.env.
DEMO_HOME=$STACK_HOME DEMO_AIRFLOW_PORT=$STACK_AIRFLOW_PORT source scripts/airflow-env.sh
secret() { [ -s "$STACK_HOME/$1" ] || python -c "$2" > "$STACK_HOME/$1"; chmod 600 "$STACK_HOME/$1"; cat "$STACK_HOME/$1"; }
JWT_SECRET=$(secret jwt-secret 'import secrets; print(secrets.token_urlsafe(32))')
FERNET_KEY=$(secret fernet-key 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')
SANDBOX_KEY=$(secret sandbox.key 'import secrets; print(secrets.token_urlsafe(24))')
PG_URL="postgresql+psycopg2://$STACK_PG_USER@$STACK_PG_HOST:$STACK_PG_PORT/$STACK_PG_DB"
cat > "$STACK_HOME/stack.env" <<EOF
# Written by scripts/stack.sh start: \`source $STACK_HOME/stack.env\` for the airflow CLI against the stack.
DEMO_HOME="$STACK_HOME" DEMO_AIRFLOW_PORT=$STACK_AIRFLOW_PORT source "$ROOT/scripts/airflow-env.sh"
export STACK_HOME="$STACK_HOME" STACK_AIRFLOW_PORT=$STACK_AIRFLOW_PORT
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__PARALLELISM=${STACK_PARALLELISM:-6}
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$PG_URL"
export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$STACK_REDIS_PORT/0"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://$STACK_PG_USER@$STACK_PG_HOST:$STACK_PG_PORT/$STACK_PG_DB"
export AIRFLOW__CELERY__WORKER_CONCURRENCY=$STACK_WORKER_CONCURRENCY
export AIRFLOW__OPERATORS__DEFAULT_QUEUE=default
export AIRFLOW__API_AUTH__JWT_SECRET="$JWT_SECRET"
export AIRFLOW__CORE__FERNET_KEY="$FERNET_KEY"
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=${STACK_DAGS_PAUSED:-False}
export IDENT_INTEGRATIONS_FILE="${IDENT_INTEGRATIONS_FILE:-$ROOT/include/integrations.yaml}"
EOF
chmod 600 "$STACK_HOME/stack.env"
source "$STACK_HOME/stack.env"
[ -f "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ] || echo '{"admin": "admin"}' > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"

# Start one component in a session of its own (its pid is its session and process group); its pid
# and start time go to run/.
launch() {
  local name=$1; shift
  local pid fields
  setsid "$@" > "$LOGS/$name.log" 2>&1 < /dev/null &
  pid=$!
  fields=($(stat_of "$pid")) || true
  echo "${fields[19]:-}" > "$RUN/$name.start"
  echo "$pid" > "$RUN/$name.pid"
}
failed_start() {
  echo "[stack] $1; the last lines of its log:" >&2
  [ -n "${2:-}" ] && tail -30 "$LOGS/$2.log" >&2
  stop_stack >&2 || true
  exit 1
}
trap 'failed_start "interrupted"' INT TERM

say "databases: Airflow metadata on PostgreSQL $STACK_PG_DB, IDENT database on MariaDB $STACK_MYSQL_DB"
python - <<PY || die "could not create the databases"
import MySQLdb, psycopg2
pg = psycopg2.connect(host="$STACK_PG_HOST", port=$STACK_PG_PORT, user="$STACK_PG_USER", dbname="postgres")
pg.autocommit = True
with pg.cursor() as cur:
    cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", ("$STACK_PG_DB",))
    if not cur.fetchone():
        cur.execute('CREATE DATABASE "$STACK_PG_DB"')
my = MySQLdb.connect(host="$STACK_MYSQL_HOST", port=$STACK_MYSQL_PORT, user="$STACK_MYSQL_USER", passwd="$STACK_MYSQL_PASSWORD")
my.cursor().execute("CREATE DATABASE IF NOT EXISTS \`$STACK_MYSQL_DB\` CHARACTER SET utf8mb4")
PY
airflow db migrate > "$LOGS/db-migrate.log" 2>&1 || failed_start "airflow db migrate failed" db-migrate

say "redis-server on 127.0.0.1:$STACK_REDIS_PORT (the Celery broker; nothing saved)"
launch redis redis-server --port "$STACK_REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
  --dir "$STACK_HOME/redis" --daemonize no --logfile ''
say "sandbox on 127.0.0.1:$STACK_SANDBOX_PORT"
CLINIC_DB=$STACK_HOME/clinic-site.db
launch sandbox python -m sandbox --port "$STACK_SANDBOX_PORT" --key-file "$STACK_HOME/sandbox.key" --clinic-db "$CLINIC_DB"
for _ in $(seq 1 60); do
  redis-cli -p "$STACK_REDIS_PORT" ping > /dev/null 2>&1 && curl -fs "http://127.0.0.1:$STACK_SANDBOX_PORT/_sandbox/health" > /dev/null 2>&1 && break
  alive redis || failed_start "redis-server exited" redis
  alive sandbox || failed_start "the sandbox exited" sandbox
  sleep 1
done

# The demo's connections (to the sandbox), the IDENT database on MariaDB, NaPopravku's pool.
python - "$STACK_HOME/stack-connections.json" "$SANDBOX_KEY" "$STACK_SANDBOX_PORT" "$CLINIC_DB" <<PY
import json, sys, urllib.request
out, key, port, clinic_db = sys.argv[1:]
base = f"http://127.0.0.1:{port}"
def conn(conn_type, path, description, **more):
    return {"conn_type": conn_type, "host": base + path, "password": key, "description": description, **more}
calendar_key = urllib.request.urlopen(f"{base}/_sandbox/google_calendar/service-account", timeout=10).read().decode()
json.dump({
    "ident_db": {"conn_type": "mysql", "host": "$STACK_MYSQL_HOST", "port": $STACK_MYSQL_PORT, "login": "$STACK_MYSQL_USER",
                 "password": "$STACK_MYSQL_PASSWORD", "schema": "$STACK_MYSQL_DB", "extra": json.dumps({"charset": "utf8mb4"}),
                 "description": "IDENT database (the stack's MariaDB)"},
    "clinic_site": conn("ident_clinic_http", "/clinic_http/site", "Sandbox clinic service (site)"),
    "clinic_landing": conn("ident_clinic_http", "/clinic_http/landing", "Sandbox clinic service (landing)"),
    "uis_main": conn("ident_uis", "/uis/clinic/v2.0", "Sandbox UIS Data API"),
    "napopravku_main": conn("ident_napopravku", "/napopravku/clinic/api/v1", "Sandbox NaPopravku RTA API"),
    "flexbe_promo": conn("ident_flexbe", "/flexbe/promo", "Sandbox Flexbe site API"),
    "top32_main": conn("ident_top32", "/top32/clinic/api/partner/v1", "Sandbox 32top partner API (assumed)"),
    "prodoctorov_main": conn("ident_prodoctorov", "/prodoctorov/clinic/v2", "Sandbox ProDoctorov / MedFlex API"),
    "sberzdorovie_main": conn("ident_sberzdorovie", "/sberzdorovie/clinic/mis/v1", "Sandbox SberZdorovye (assumed)",
                              login="partner.demo"),
    "dadata_main": conn("ident_dadata", "/dadata", "Sandbox DaData Cleaner", login=key),
    "smsc_main": conn("ident_smsc", "/smsc", "Sandbox SMSC", login="clinic", extra=json.dumps({"busy_retry_seconds": 5})),
    "google_calendar_main": {"conn_type": "ident_google_calendar", "host": f"{base}/google_calendar/",
                             "password": calendar_key, "description": "Sandbox Google Calendar (its service account)"},
    "clinic_tables": {"conn_type": "sqlite", "host": clinic_db, "description": "The clinic's own database (sandbox SQLite)"},
}, open(out, "w"), indent=2)
PY
chmod 600 "$STACK_HOME/stack-connections.json"
{ airflow connections import --overwrite "$STACK_HOME/stack-connections.json" \
    && airflow pools set ident_napopravku 2 "NaPopravku appointments: acknowledged within 10 minutes"; } \
  > "$LOGS/connections.log" 2>&1 || failed_start "importing the connections failed" connections
if ! python - <<PY
import sys, MySQLdb
db = MySQLdb.connect(host="$STACK_MYSQL_HOST", port=$STACK_MYSQL_PORT, user="$STACK_MYSQL_USER",
                     passwd="$STACK_MYSQL_PASSWORD", db="$STACK_MYSQL_DB")
cur = db.cursor()
cur.execute("SHOW TABLES LIKE 'ident_branches'")
sys.exit(0 if cur.fetchone() and cur.execute("SELECT 1 FROM ident_branches LIMIT 1") else 1)
PY
then
  say "writing the demo clinic's schedule into $STACK_MYSQL_DB (ident demo-data)"
  ident demo-data --conn-id ident_db > "$LOGS/demo-data.log" 2>&1 || failed_start "ident demo-data failed" demo-data
fi

say "Airflow (CeleryExecutor): api-server on port $STACK_AIRFLOW_PORT, scheduler, dag-processor, triggerer"
launch api-server airflow api-server --port "$STACK_AIRFLOW_PORT" --pid "$RUN/api-server.airflow-pid"
launch scheduler airflow scheduler --skip-serve-logs --pid "$RUN/scheduler.airflow-pid"
launch dag-processor airflow dag-processor --pid "$RUN/dag-processor.airflow-pid"
launch triggerer airflow triggerer --skip-serve-logs --pid "$RUN/triggerer.airflow-pid"
for queue in $STACK_QUEUES; do
  say "Celery worker on queue '$queue' (task host: $queue-worker)"
  # All components share this machine's disk, so the api-server reads task logs from the files:
  # no log server. The host name tells the UI and the REST API which worker ran a task.
  IDENT_WORKER_HOSTNAME=$queue-worker AIRFLOW__CORE__HOSTNAME_CALLABLE=ident_integrations.worker_host.hostname \
    launch "worker-$queue" airflow celery worker --queues "$queue" --celery-hostname "$queue@%h" \
    --concurrency "$STACK_WORKER_CONCURRENCY" --skip-serve-logs --pid "$RUN/worker-$queue.airflow-pid"
done

deadline=$(($(date +%s) + STACK_START_TIMEOUT))
while true; do
  ready=1
  health=$(curl -fs "http://127.0.0.1:$STACK_AIRFLOW_PORT/api/v2/monitor/health" 2>/dev/null || true)
  echo "$health" | python3 -c 'import json,sys; h=json.load(sys.stdin); sys.exit(any(h[k]["status"] != "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")))' \
    2>/dev/null || ready=0
  for queue in $STACK_QUEUES; do grep -qE "@[^ ]+ ready\." "$LOGS/worker-$queue.log" 2>/dev/null || ready=0; done
  [ $ready = 1 ] && break
  for name in $(components); do alive "$name" || failed_start "$name exited early" "$name"; done
  [ "$(date +%s)" -lt "$deadline" ] || failed_start "not healthy after ${STACK_START_TIMEOUT}s (health: ${health:-none})" scheduler
  sleep 2
done
trap - INT TERM

cat <<EOF

  Airflow UI       http://localhost:$STACK_AIRFLOW_PORT   login: admin / admin   (CeleryExecutor)
  Workers          $(for q in $STACK_QUEUES; do printf '%s ' "queue '$q' (host $q-worker)"; done)
  Broker           redis://127.0.0.1:$STACK_REDIS_PORT/0 (our own redis-server)
  Metadata         PostgreSQL $STACK_PG_HOST:$STACK_PG_PORT/$STACK_PG_DB (also Celery's results)
  IDENT database   MariaDB $STACK_MYSQL_HOST:$STACK_MYSQL_PORT/$STACK_MYSQL_DB
  Integrations     $IDENT_INTEGRATIONS_FILE (an integration's queue: picks its worker)
  Sandbox          http://127.0.0.1:$STACK_SANDBOX_PORT/_sandbox/docs
  Logs             $LOGS/<component>.log, task logs under $STACK_HOME/logs
  CLI              source $STACK_HOME/stack.env && airflow dags list
  Stop             make stack-stop   (scripts/stack.sh stop)
EOF
