"""What one scheduled lead run costs on the Celery stack (`make stack`, scripts/stack.sh): for each
run of a lead DAG, from the scheduler's queueing of the run to its task's start on a Celery worker,
the task's own duration, and the whole run.

Per run (REST API: the run's ``run_after``/``queued_at``/``start_date``/``end_date``, its
``import_leads`` task instance's ``queued_when``/``start_date``/``end_date``/``hostname``):

- ``due -> run queued``: the scheduler creates the run after its time (``run_after``);
- ``run queued -> run start``: the scheduler takes the run up;
- ``run start -> task start``: the task is scheduled, queued, sent through Redis, and a worker forks
  its task process, which reports itself running to the api-server (the Celery hop and start-up);
- ``task queued -> task start``: the part of that after the scheduler handed the task to Celery;
- ``task duration``: ``import_leads`` from that report to its end — the task process's own start-up
  (parsing the DAG file, imports) and one ``GetTickets`` window into the IDENT database;
- ``run start -> run end``: the whole run, the ``announce_new_leads`` task included.

By default it starts its own stack in a temporary home on free ports (PostgreSQL and MariaDB
databases of its own, dropped after) with two poll-mode lead integrations of the same service, one
per worker — ``site`` on the queue ``default``, ``landing`` on ``clinic`` — both every minute, and
waits for ``--runs`` scheduled runs of each. ``--port`` measures a stack already running (e.g.
``make stack``) instead: the scheduled runs of ``--dag`` (repeatable) that finish while it waits.
Figures only; nothing passes or fails. About 2 + ``--runs`` minutes with its own stack.

    .venv/bin/python bench/task_latency.py [--runs 6]
    .venv/bin/python bench/task_latency.py --port 8081 --dag ident_leads__landing --dag ident_leads__booking_db
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TASK = "import_leads"
METRICS = (
    ("due -> run queued", "due", "queued_at"),
    ("run queued -> run start", "queued_at", "run_start"),
    ("run start -> task start", "run_start", "task_start"),
    ("task queued -> task start", "task_queued", "task_start"),
    ("task duration", "task_start", "task_end"),
    ("run start -> run end", "run_start", "run_end"),
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Api:
    def __init__(self, port: int):
        self.base, self.token = f"http://127.0.0.1:{port}", ""
        self.token = self("/auth/token", {"username": "admin", "password": "admin"})["access_token"]

    def __call__(self, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)


def ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def measure(api: Api, dag_id: str, since: float) -> list[dict]:
    """Every successful scheduled run of ``dag_id`` queued after ``since``, with its task's times."""
    rows = []
    for run in api(f"/api/v2/dags/{dag_id}/dagRuns?limit=100&order_by=-run_after")["dag_runs"]:
        if run["run_type"] != "scheduled" or run["state"] != "success" or (ts(run["queued_at"]) or 0) < since:
            continue
        ti = api(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances/{TASK}")
        rows.append(
            {
                "run": run["dag_run_id"],
                "host": ti["hostname"],
                "queue": ti["queue"],
                "due": ts(run["run_after"]),
                "queued_at": ts(run["queued_at"]),
                "run_start": ts(run["start_date"]),
                "run_end": ts(run["end_date"]),
                "task_queued": ts(ti["queued_when"]),
                "task_start": ts(ti["start_date"]),
                "task_end": ts(ti["end_date"]),
            }
        )
    return sorted(rows, key=lambda row: row["queued_at"])


def report(dag_id: str, rows: list[dict]) -> None:
    hosts = sorted({f"{row['queue']} on {row['host']}" for row in rows})
    print(f"\n{dag_id}: {len(rows)} scheduled runs, task {TASK} ({', '.join(hosts)})")
    print(f"  {'':28}{'median':>9}{'min':>9}{'max':>9}   seconds")
    for name, start, end in METRICS:
        values = [row[end] - row[start] for row in rows if row[start] is not None and row[end] is not None]
        if values:
            print(f"  {name:28}{statistics.median(values):9.2f}{min(values):9.2f}{max(values):9.2f}")
    for row in rows:
        print(
            f"    {row['run']}: start->task {row['task_start'] - row['run_start']:.2f} s, "
            f"task {row['task_end'] - row['task_start']:.2f} s, run {row['run_end'] - row['run_start']:.2f} s"
        )


def wait_and_report(api: Api, dags: list[str], runs: int, since: float, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        results = {dag_id: measure(api, dag_id, since) for dag_id in dags}
        done = {dag_id: len(rows) for dag_id, rows in results.items()}
        if all(count >= runs for count in done.values()) or time.monotonic() > deadline:
            break
        print(f"[bench] scheduled runs so far: {done}", flush=True)
        time.sleep(20)
    for dag_id, rows in results.items():
        report(dag_id, rows[-runs:] if runs else rows)


def own_stack(args: argparse.Namespace) -> None:
    import MySQLdb
    import psycopg2
    import yaml

    work = Path(tempfile.mkdtemp(prefix="ident-bench-stack-"))
    name = f"ident_bench_{uuid.uuid4().hex[:8]}"
    config = {
        "clinic": {"timezone": "Europe/Moscow"},
        "cache_check": {"enabled": False},
        "defaults": {"leads": {"interval_minutes": 1}},
        "integrations": [
            {"name": "site", "service": "clinic_http", "conn_id": "clinic_site", "leads": {}},
            {"name": "landing", "service": "clinic_http", "conn_id": "clinic_landing", "queue": "clinic", "leads": {}},
        ],
    }
    (work / "integrations.yaml").write_text(yaml.safe_dump(config))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_", "STACK_"))}
    env.update(
        STACK_HOME=str(work / "stack"),
        STACK_AIRFLOW_PORT=str(port),
        STACK_SANDBOX_PORT=str(free_port()),
        STACK_REDIS_PORT=str(free_port()),
        STACK_PG_DB=name,
        STACK_MYSQL_DB=name,
        IDENT_INTEGRATIONS_FILE=str(work / "integrations.yaml"),
    )
    stack = ["bash", str(ROOT / "scripts" / "stack.sh")]
    try:
        started = time.monotonic()
        result = subprocess.run([*stack, "start"], env=env, capture_output=True, text=True, timeout=600)
        if result.returncode:
            sys.exit(f"stack did not start:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        print(f"[bench] stack up in {time.monotonic() - started:.0f} s (home {work / 'stack'})", flush=True)
        since = time.time()
        wait_and_report(
            Api(port), ["ident_leads__site", "ident_leads__landing"], args.runs, since, 90 * args.runs + 180
        )
    finally:
        result = subprocess.run([*stack, "stop"], env=env, capture_output=True, text=True, timeout=300)
        print(f"[bench] stack.sh stop (exit {result.returncode}): {(result.stdout + result.stderr).strip()[-500:]}")
        pg = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
        pg.autocommit = True
        pg.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        MySQLdb.connect(host="127.0.0.1", user="root").cursor().execute(f"DROP DATABASE IF EXISTS {name}")
        if not args.keep_home:
            subprocess.run(["rm", "-rf", str(work)], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=6, help="scheduled runs per DAG (default 6)")
    parser.add_argument("--port", type=int, help="measure the stack already running on this api-server port")
    parser.add_argument("--dag", action="append", help="with --port: a lead DAG to follow (repeatable)")
    parser.add_argument("--keep-home", action="store_true", help="keep its own stack's home (logs) after")
    args = parser.parse_args()
    if args.port:
        wait_and_report(Api(args.port), args.dag or ["ident_leads__landing"], args.runs, time.time() - 3600, 600)
    else:
        own_stack(args)


if __name__ == "__main__":
    main()
