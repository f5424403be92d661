"""The multi-machine stack as `make stack` starts it (scripts/stack.sh), in a home of its own: Airflow
with the CeleryExecutor — PostgreSQL metadata, our own redis-server as the broker, the api-server,
scheduler, dag-processor and triggerer, and two Celery workers on the queues `default` and
`clinic` — with the IDENT database on MariaDB and the sandbox.

One integration is routed to the second worker (`queue: clinic`). Every DAG of the file (one per
capability, and the shared ones) is unpaused and triggered through the REST API; each run must
succeed, the routed integration's tasks must have run on the clinic worker and every other task on
the default worker (each task instance's `queue` and `hostname`). Then `stack.sh stop` must leave no
process behind. The slow whole-stack test of the Celery layout: it runs once (two to four minutes).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER, PG_HOST, PG_PORT, PG_USER
from tests.helpers import free_ports

ROOT = Path(__file__).resolve().parents[2]
ROUTED = "site"  # the integration whose tasks go to the clinic's computer
pytestmark = pytest.mark.e2e

CONFIG = {
    "clinic": {"timezone": "Europe/Moscow"},
    "cache_check": {"enabled": True, "days": 1},
    # Fewer scheduled runs while the test's own run per DAG goes through; one quick retry
    "defaults": {
        "request_backoff_seconds": 0.1,
        "task_retries": 1,
        "task_retry_delay_seconds": 5,
        "leads": {"interval_minutes": 60},
        "schedule": {"interval_minutes": 60},
    },
    # The first integration gives the shared DAGs their task settings: not the routed one
    "integrations": [
        {
            "name": "telephony",
            "service": "uis",
            "conn_id": "uis_main",
            "calls": {"start_date": "1 days ago", "max_report_days": 1},
            "leads": {},
        },
        {
            "name": ROUTED,
            "service": "clinic_http",
            "conn_id": "clinic_site",
            "queue": "clinic",
            "leads": {},
            "schedule": {},
        },
        {
            "name": "geocoding",
            "service": "dadata",
            "conn_id": "dadata_main",
            "geocoding": {"daily_limit": 20, "batch_size": 10, "clinic_lat": 55.7631453, "clinic_lon": 37.6073140},
        },
        {
            "name": "reminders",
            "service": "smsc",
            "conn_id": "smsc_main",
            "sms": {"sender": "IDENT", "clinic_name": "Улыбка", "clinic_phone": "+7 495 123-45-67"},
            "email": {"sender": "clinic@example.ru", "clinic_name": "Улыбка", "clinic_phone": "+7 495 123-45-67"},
            "sms_status": {"interval_minutes": 60},
        },
        {
            "name": "doctors_calendar",
            "service": "google_calendar",
            "conn_id": "google_calendar_main",
            "calendar": {"days_ahead": 2, "calendar_id_template": "doctor-{doctor_id}@group.calendar.google.com"},
        },
    ],
}


class Api:
    def __init__(self, port: int):
        self.base, self.token = f"http://127.0.0.1:{port}", ""
        self.token = self("/auth/token", {"username": "admin", "password": "admin"})["access_token"]

    def __call__(self, path: str, body: dict | None = None, method: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method or 'GET'} {path}: {exc.code} {exc.read()[:500]!r}") from None


def stack(env: dict[str, str], action: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "scripts/stack.sh", action], cwd=ROOT, env=env, capture_output=True, text=True, timeout=420
    )


def stat(pid: int) -> list[str] | None:
    """/proc/PID/stat from its third field on (state, ppid, pgrp, session, ...), or None when gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def running(pid: int) -> bool:
    """The process exists and is not a zombie (gone, waiting for its reaper)."""
    fields = stat(pid)
    return fields is not None and fields[0] != "Z"


def in_sessions(sessions: list[int]) -> list[int]:
    """Running processes of these sessions: each component's, and all it forked (tasks included)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := stat(int(entry.name))) and fields[0] != "Z":
            if int(fields[3]) in sessions:
                found.append(int(entry.name))
    return found


def logs_tail(home: Path) -> str:
    text = ""
    for name in ("scheduler", "worker-default", "worker-clinic"):
        path = home / "logs" / "stack" / f"{name}.log"
        if path.exists():
            text += f"\n--- {name}.log:\n" + path.read_text(errors="replace")[-2500:]
    task_logs = sorted((home / "logs").glob("dag_id=*/**/*.log"), key=lambda path: path.stat().st_mtime)
    if task_logs:
        text += f"\n--- {task_logs[-1].relative_to(home)}:\n" + task_logs[-1].read_text(errors="replace")[-2500:]
    return text


def test_celery_stack_runs_every_dag_on_its_queues_worker_and_stops_clean(
    tmp_path, airflow_postgres_url, empty_mariadb
):
    from ident_integrations.config import load_config
    from ident_integrations.dag_factory import build_dags
    from ident_integrations.registry import CAPABILITIES

    started = time.monotonic()
    home = tmp_path / "stack"
    config_file = tmp_path / "integrations.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG, allow_unicode=True))
    expected = set(build_dags(load_config(config_file)))
    capabilities = {dag_id.removeprefix("ident_").split("__")[0] for dag_id in expected if "__" in dag_id}
    assert capabilities == set(CAPABILITIES)  # one DAG of every capability, plus the shared DAGs
    assert {"ident_cache_check", "ident_new_leads_example"} <= expected

    port, sandbox_port, redis_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_"))}
    env.update(
        STACK_HOME=str(home),
        STACK_AIRFLOW_PORT=str(port),
        STACK_SANDBOX_PORT=str(sandbox_port),
        STACK_REDIS_PORT=str(redis_port),
        STACK_PG_HOST=PG_HOST,
        STACK_PG_PORT=str(PG_PORT),
        STACK_PG_USER=PG_USER,
        STACK_PG_DB=airflow_postgres_url.rsplit("/", 1)[1],
        STACK_MYSQL_HOST=MYSQL_HOST,
        STACK_MYSQL_PORT=str(MYSQL_PORT),
        STACK_MYSQL_USER=MYSQL_USER,
        STACK_MYSQL_PASSWORD=MYSQL_PASSWORD,
        STACK_MYSQL_DB=empty_mariadb,
        IDENT_INTEGRATIONS_FILE=str(config_file),
    )
    pids: list[int] = []
    workers_used = {}
    try:
        result = stack(env, "start")
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        pids[:] = [int(path.read_text()) for path in (home / "run").glob("*.pid")]
        assert len(pids) == 8  # redis, sandbox, api-server, scheduler, dag-processor, triggerer, 2 workers
        assert all(running(pid) and int(stat(pid)[3]) == pid for pid in pids)  # each leads its session
        assert "CeleryExecutor" in result.stdout
        api = Api(port)

        deadline = time.monotonic() + 120
        while not expected <= {dag["dag_id"] for dag in api("/api/v2/dags?limit=200")["dags"]}:
            assert time.monotonic() < deadline, "the dag-processor did not list every DAG in 120 s"
            time.sleep(2)

        # Unpause and trigger each DAG through the REST API
        triggered = {}
        for dag_id in sorted(expected):
            api(f"/api/v2/dags/{dag_id}", {"is_paused": False}, method="PATCH")
            run = api(f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "note": "test_celery_stack"})
            triggered[dag_id] = run["dag_run_id"]

        deadline = time.monotonic() + 300
        while True:
            states = {
                dag_id: api(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"] for dag_id, run_id in triggered.items()
            }
            failed = sorted(dag_id for dag_id, state in states.items() if state == "failed")
            assert not failed, f"runs failed: {failed}\n{logs_tail(home)}"
            if all(state == "success" for state in states.values()):
                break
            assert time.monotonic() < deadline, f"runs not done in 300 s: {states}\n{logs_tail(home)}"
            time.sleep(3)

        # Every finished run of every DAG (the scheduled ones too): its tasks ran on the worker of
        # the integration's queue
        workers_used: dict[str, int] = {}
        for dag_id in sorted(expected):
            routed = dag_id.endswith(f"__{ROUTED}")
            queue = "clinic" if routed else "default"
            runs = api(f"/api/v2/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]
            assert not [run["dag_run_id"] for run in runs if run["state"] == "failed"], dag_id
            for run in runs:
                if run["state"] != "success":
                    continue
                tis = api(f"/api/v2/dags/{dag_id}/dagRuns/{run['dag_run_id']}/taskInstances")["task_instances"]
                ran = [ti for ti in tis if ti["state"] == "success"]
                assert ran, (dag_id, run["dag_run_id"], [(ti["task_id"], ti["state"]) for ti in tis])
                assert {ti["state"] for ti in tis} <= {"success", "skipped"}, (dag_id, tis)
                for ti in ran:
                    where = (dag_id, ti["task_id"], ti["queue"], ti["hostname"])
                    assert (ti["queue"], ti["hostname"]) == (queue, f"{queue}-worker"), where
                    workers_used[ti["hostname"]] = workers_used.get(ti["hostname"], 0) + 1
        assert set(workers_used) == {"default-worker", "clinic-worker"}
    finally:
        stopped = stack(env, "stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr

    # Nothing of the stack is left: no recorded process, nothing naming its home, its ports closed
    alive = [pid for pid in pids if running(pid)]
    assert alive == [], alive
    assert in_sessions(pids) == []  # nothing they forked either (Celery's pool, task processes)
    assert not list((home / "run").glob("*.pid"))
    leftovers = subprocess.run(["pgrep", "-f", str(home)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
    for name in ("STACK_AIRFLOW_PORT", "STACK_SANDBOX_PORT", "STACK_REDIS_PORT"):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(env[name]))) != 0, f"{name} {env[name]} still open"
    took = time.monotonic() - started
    print(f"celery stack test: {len(expected)} DAGs, tasks per worker {workers_used}, {took:.0f} s")
