#!/usr/bin/env bash
# `make demo`: the sandbox of external services + `airflow standalone`, on the embedded defaults
# (SQLite metadata in .airflow/, a SQLite IDENT database, connections pointed at the sandbox).
# Ctrl-C stops every process it started. `scripts/demo.sh --smoke` exits 0 once scripts/demo_status.py
# is satisfied: leads of every lead integration and call history stored, free slots of an accepted push
# at every schedule receiver, every DAG's last run green (or 1 after DEMO_SMOKE_TIMEOUT seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
SMOKE=0; [ "${1:-}" = "--smoke" ] && SMOKE=1

source scripts/airflow-env.sh
SANDBOX_PORT=${DEMO_SANDBOX_PORT:-8765}
IDENT_DB=$AIRFLOW_HOME/ident.db
CLINIC_DB=$AIRFLOW_HOME/clinic-site.db  # the clinic's own tables, kept by the sandbox (--clinic-db)
LOGS=$AIRFLOW_HOME/demo-logs
mkdir -p "$AIRFLOW_HOME" "$LOGS"

say() { printf '\033[1m[demo]\033[0m %s\n' "$*"; }

for port in "$SANDBOX_PORT" "$AIRFLOW__API__PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "[demo] port $port is already in use (another demo running?). Stop it, or set DEMO_SANDBOX_PORT / DEMO_AIRFLOW_PORT." >&2
    exit 1
  fi
done

# A fixed demo login and a random sandbox key, both kept in the git-ignored home.
[ -f "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ] || echo '{"admin": "admin"}' > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
KEY_FILE=$AIRFLOW_HOME/sandbox.key
[ -s "$KEY_FILE" ] || python -c 'import secrets; print(secrets.token_urlsafe(24))' > "$KEY_FILE"
chmod 600 "$KEY_FILE"

say "preparing the Airflow metadata database in $AIRFLOW_HOME"
airflow db migrate > "$LOGS/db-migrate.log" 2>&1 || { tail -30 "$LOGS/db-migrate.log"; exit 1; }
python - "$AIRFLOW_HOME/demo-connections.json" "$KEY_FILE" "$SANDBOX_PORT" "$IDENT_DB" "$CLINIC_DB" <<'PY'
import json, sys
out, key_file, port, ident_db, clinic_db = sys.argv[1:]
key = open(key_file).read().strip()
clinic = lambda tenant: {"conn_type": "ident_clinic_http", "host": f"http://127.0.0.1:{port}/clinic_http/{tenant}",
                         "password": key, "description": f"Sandbox clinic service ({tenant})"}
uis = {"conn_type": "ident_uis", "host": f"http://127.0.0.1:{port}/uis/clinic/v2.0", "password": key,
       "description": "Sandbox UIS Data API (account 'clinic')"}
flexbe = {"conn_type": "ident_flexbe", "host": f"http://127.0.0.1:{port}/flexbe/promo", "password": key,
          "description": "Sandbox Flexbe site API (site 'promo')"}
napopravku = {"conn_type": "ident_napopravku", "host": f"http://127.0.0.1:{port}/napopravku/clinic/api/v1",
              "password": key, "description": "Sandbox NaPopravku RTA API (account 'clinic')"}
prodoctorov = {"conn_type": "ident_prodoctorov", "host": f"http://127.0.0.1:{port}/prodoctorov/clinic/v2", "password": key,
               "description": "Sandbox ProDoctorov / MedFlex API (account 'clinic')"}
sberzdorovie = {"conn_type": "ident_sberzdorovie", "host": f"http://127.0.0.1:{port}/sberzdorovie/clinic/mis/v1",
                "login": "partner.demo", "password": key,
                "description": "Sandbox SberZdorovye schedule push, an assumed contract (account 'clinic')"}
top32 = {"conn_type": "ident_top32", "host": f"http://127.0.0.1:{port}/top32/clinic/api/partner/v1", "password": key,
         "description": "Sandbox 32top partner API, an assumed contract (account 'clinic')"}
dadata = {"conn_type": "ident_dadata", "host": f"http://127.0.0.1:{port}/dadata", "login": key, "password": key,
          "description": "Sandbox DaData Cleaner (API key and secret: the sandbox key)"}
smsc = {"conn_type": "ident_smsc", "host": f"http://127.0.0.1:{port}/smsc", "login": "clinic", "password": key,
        "extra": json.dumps({"busy_retry_seconds": 5}), "description": "Sandbox SMSC (login 'clinic')"}
json.dump({"ident_db": {"conn_type": "sqlite", "host": ident_db, "description": "IDENT database (demo SQLite)"},
           "clinic_site": clinic("site"), "clinic_landing": clinic("landing"), "uis_main": uis,
           "napopravku_main": napopravku, "flexbe_promo": flexbe, "top32_main": top32,
           "prodoctorov_main": prodoctorov, "sberzdorovie_main": sberzdorovie, "dadata_main": dadata,
           "smsc_main": smsc,
           "clinic_tables": {"conn_type": "sqlite", "host": clinic_db,
                             "description": "The clinic's own database (sandbox SQLite, table Tickets)"}},
          open(out, "w"), indent=2)
PY
chmod 600 "$AIRFLOW_HOME/demo-connections.json"
airflow connections import --overwrite "$AIRFLOW_HOME/demo-connections.json" > "$LOGS/connections.log" 2>&1 \
  || { cat "$LOGS/connections.log"; exit 1; }
# NaPopravku's DAGs run in a pool of their own: its appointments must not queue behind other work.
airflow pools set ident_napopravku 2 "NaPopravku appointments: acknowledged within 10 minutes" >> "$LOGS/connections.log" 2>&1 \
  || { cat "$LOGS/connections.log"; exit 1; }
# The sandbox's receivers start empty each time: on a rerun the free-slot export forgets what it
# pushed to them before (so it pushes everything, NaPopravku's clinics and doctors first, instead of
# skipping "unchanged"), and its DAGs are triggered once Airflow is up instead of in up to 10 min.
repush=$(python - "$IDENT_DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
if "ident_schedule_pushes" in tables:
    with db:
        print(" ".join(sorted({row[0] for row in db.execute("SELECT integration FROM ident_schedule_pushes")})))
        db.execute("DELETE FROM ident_schedule_pushes")
PY
)
# The clinic's schedule the free-slot export reads: the demo network (ident demo-data), written
# once, while the IDENT database has no branches (a rerun of the command replaces it).
if ! python - "$IDENT_DB" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
sys.exit(0 if "ident_branches" in tables and db.execute("SELECT 1 FROM ident_branches").fetchone() else 1)
PY
then
  say "writing the demo schedule into $IDENT_DB (ident demo-data)"
  ident demo-data --conn-id ident_db > "$LOGS/demo-data.log" 2>&1 || { cat "$LOGS/demo-data.log"; exit 1; }
  sed 's/^/       /' "$LOGS/demo-data.log"
fi

pids=()
cleanup() {
  trap - INT TERM EXIT
  say "stopping the sandbox and Airflow"
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 30); do
    alive=0; for pid in "${pids[@]}"; do kill -0 -- "-$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && break; sleep 1
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "starting the sandbox on 127.0.0.1:$SANDBOX_PORT (log: $LOGS/sandbox.log)"
setsid python -m sandbox --port "$SANDBOX_PORT" --key-file "$KEY_FILE" --clinic-db "$CLINIC_DB" > "$LOGS/sandbox.log" 2>&1 &
pids+=($!)
# The sandbox makes a new Google service-account key each start: the calendar connection takes it now.
for _ in $(seq 1 60); do
  curl -fs "http://127.0.0.1:$SANDBOX_PORT/_sandbox/health" > /dev/null 2>&1 && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "[demo] the sandbox exited early; see $LOGS/sandbox.log" >&2; tail -20 "$LOGS/sandbox.log" >&2; exit 1; }
  sleep 1
done
python - "$AIRFLOW_HOME/demo-calendar-connection.json" "$SANDBOX_PORT" <<'PY'
import json, sys, urllib.request
out, port = sys.argv[1:]
key = urllib.request.urlopen(f"http://127.0.0.1:{port}/_sandbox/google_calendar/service-account", timeout=10).read()
json.dump({"google_calendar_main": {"conn_type": "ident_google_calendar", "host": f"http://127.0.0.1:{port}/google_calendar/",
                                    "password": key.decode(), "description": "Sandbox Google Calendar (its service account)"}},
          open(out, "w"), indent=2)
PY
chmod 600 "$AIRFLOW_HOME/demo-calendar-connection.json"
airflow connections import --overwrite "$AIRFLOW_HOME/demo-calendar-connection.json" >> "$LOGS/connections.log" 2>&1 \
  || { cat "$LOGS/connections.log"; exit 1; }
say "starting airflow standalone on port $AIRFLOW__API__PORT (log: $LOGS/standalone.log)"
setsid airflow standalone > "$LOGS/standalone.log" 2>&1 &
pids+=($!)

for _ in $(seq 1 180); do
  curl -fs "http://localhost:$AIRFLOW__API__PORT/api/v2/monitor/health" > /dev/null 2>&1 && break
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "[demo] a process exited early; see $LOGS" >&2; tail -20 "$LOGS/standalone.log" >&2; exit 1; }
  done
  sleep 2
done

if [ -n "$repush" ]; then
  say "a rerun: the free-slot DAGs are triggered now, the sandbox's receivers being empty (log: $LOGS/repush.log)"
  for name in $repush; do airflow dags trigger "ident_schedule__$name"; done > "$LOGS/repush.log" 2>&1 &
  pids+=($!)
fi

cat <<EOF

  Airflow UI     http://localhost:$AIRFLOW__API__PORT   login: admin / admin
  Integrations   http://localhost:$AIRFLOW__API__PORT/plugin/ident-integrations   (status, exchange log, rejects, charts)
  Alerts         DAG ident_alerts (lag, every 5 min); channels: alerts: in include/integrations.yaml
  Sandbox        http://127.0.0.1:$SANDBOX_PORT/_sandbox/docs   (fault switches: sandbox/README.md)
  IDENT database $IDENT_DB (SQLite)
  Lead DAGs      ident_leads__site, ident_leads__landing (clinic service), ident_leads__telephony (UIS),
                 ident_leads__napopravku (NaPopravku), ident_leads__promo (Flexbe),
                 ident_leads__top32 (32top, assumed contract),
                 ident_leads__booking_db (the clinic's own tables, $CLINIC_DB) — every 2 min;
                 ident_leads__site is watched (leads.mode: watch): a run within seconds of each lead
  Call history   ident_calls__telephony (every 3 h; its first run loads the last 30 days)
  Free slots     ident_schedule__site (PostTimeTable), __napopravku, __prodoctorov, __sberzdorovie,
                 __top32, __booking_db (the TimeTable table) — every 10 min, from the demo schedule;
                 what each received: http://127.0.0.1:$SANDBOX_PORT/_sandbox/<service>/<account>/received
  Geocoding      ident_geocoding__geocoding (DaData; hourly): ident_geocodes, one row per patient
  Reminders      ident_sms__reminders, ident_email__reminders (SMSC; every 15 min, SMS wait out
                 21:00-09:00), ident_sms_status__reminders (delivery statuses): ident_messages;
                 what SMSC received: http://127.0.0.1:$SANDBOX_PORT/_sandbox/smsc/clinic/messages
  Calendar       ident_calendar__doctors_calendar (Google Calendar; every 15 min): each doctor's next
                 14 days, http://127.0.0.1:$SANDBOX_PORT/_sandbox/google_calendar/calendars

  Progress is printed every 30 s. Ctrl-C stops everything.
EOF

started=$(date +%s)
timeout_s=${DEMO_SMOKE_TIMEOUT:-420}
while true; do
  if status=$(python scripts/demo_status.py "$IDENT_DB" "$AIRFLOW__API__PORT" 2>&1); then ok=1; else ok=0; fi
  say "$status"
  if [ $SMOKE = 1 ]; then
    [ $ok = 1 ] && { say "smoke check passed"; exit 0; }
    [ $(( $(date +%s) - started )) -gt "$timeout_s" ] && { say "smoke check failed after ${timeout_s}s"; tail -40 "$LOGS/standalone.log"; exit 1; }
    sleep 10
  else
    sleep 30
  fi
done
