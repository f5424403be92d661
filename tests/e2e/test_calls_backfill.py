"""Call history through a running Airflow (`airflow standalone`: scheduler, dag-processor, api-server;
metadata on PostgreSQL), the sandbox's UIS emulator and the IDENT database on MariaDB, driven by the commands the README
documents: the first scheduled run loads from the start date, `airflow backfill create` reloads
exactly its intervals, and reloading a range that has rows changes nothing but a correction.

The slow whole-stack test of the calls capability: it runs once, not per case (about two minutes).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.conftest import mysql_connection_json
from tests.helpers import connection_json, free_port, query, start_group, stop_group, uis_call_ids, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
DAG_ID = "ident_calls__bf"
MOSCOW = ZoneInfo("Europe/Moscow")
pytestmark = pytest.mark.e2e


class Stack:
    """`airflow standalone` in its own home with the project's environment (scripts/airflow-env.sh)."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.port = home, free_port()
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_TEST"))}
        self.env.update(env, DEMO_HOME=str(home), DEMO_AIRFLOW_PORT=str(self.port))
        self.proc: subprocess.Popen | None = None
        self.token = ""

    def airflow(self, *args: str) -> str:
        """One `airflow` CLI command in the stack's environment; its output, or the test fails."""
        command = "source scripts/airflow-env.sh && exec airflow " + " ".join(f"'{a}'" for a in args)
        result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, f"airflow {' '.join(args)}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def __enter__(self) -> Stack:
        self.home.mkdir(parents=True)
        (self.home / "demo-passwords.json").write_text('{"admin": "admin"}')
        command = "source scripts/airflow-env.sh && exec airflow standalone"
        self.proc = start_group(command, ROOT, self.env, self.home / "standalone.log")

        def healthy() -> bool:
            self.token = self.api("/auth/token", {"username": "admin", "password": "admin"})["access_token"]
            return self.api("/api/v2/monitor/health")["scheduler"]["status"] == "healthy"

        if not wait_until_up(healthy, self.proc, seconds=240, interval=2):
            self.__exit__()
            pytest.fail("airflow standalone did not start:\n" + self.log_tail(), pytrace=False)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_group(self.proc, timeout=60)

    def log_tail(self) -> str:
        """The end of the stack's log and of the newest task log (where a task's own error is)."""
        text = (self.home / "standalone.log").read_text(errors="replace")[-3000:]
        task_logs = sorted((self.home / "logs").glob("dag_id=*/**/*.log"), key=lambda path: path.stat().st_mtime)
        if task_logs:
            text += (
                f"\n--- {task_logs[-1].relative_to(self.home)}:\n" + task_logs[-1].read_text(errors="replace")[-3000:]
            )
        return text

    def api(self, path: str, body: dict | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"http://localhost:{self.port}{path}", data=data, headers=headers)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def runs(self) -> list[dict]:
        return self.api(f"/api/v2/dags/{DAG_ID}/dagRuns?order_by=logical_date&limit=100")["dag_runs"]

    def wait_for_runs(self, wanted, timeout: float = 300) -> list[dict]:
        """Poll until ``wanted(runs)`` holds and no run is queued or running; fail on a failed run."""
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs()
            failed = [run["dag_run_id"] for run in runs if run["state"] == "failed"]
            assert not failed, f"runs failed: {failed}\n{self.log_tail()}"
            if wanted(runs) and all(run["state"] == "success" for run in runs):
                return runs
            if time.monotonic() > deadline:
                pytest.fail(f"runs not done in {timeout} s: {[(r['dag_run_id'], r['state']) for r in runs]}")
            time.sleep(3)


def stored(ident_mysql, start: datetime, end: datetime) -> dict[str, tuple]:
    rows = query(
        ident_mysql,
        "SELECT external_id, content_hash, last_loaded_at FROM ident_calls WHERE started_at >= %s AND started_at < %s",
        (start.astimezone(UTC).replace(tzinfo=None), end.astimezone(UTC).replace(tzinfo=None)),
    )
    return {row[0]: row[1:] for row in rows}


def test_first_run_then_backfill_reloads_exactly_its_intervals_and_changes_nothing(
    sandbox, ident_mysql, mariadb_database, airflow_postgres_url, tmp_path
):
    account = f"bf{uuid.uuid4().hex[:8]}"
    today = datetime.now(MOSCOW).replace(hour=0, minute=0, second=0, microsecond=0)
    config = {
        "clinic": {"timezone": "Europe/Moscow"},
        "cache_check": {"enabled": False},
        # One retry, soon: on a loaded 2-core machine a task process can fail to start before it runs
        # (the scheduler then logs "finished with state failed, but ... queued"); the DAGs' own
        # default is 3 retries.
        "defaults": {"request_backoff_seconds": 0.1, "task_retries": 1, "task_retry_delay_seconds": 5},
        "integrations": [
            {
                "name": "bf",
                "service": "uis",
                "conn_id": "uis_bf",
                "calls": {"start_date": (today - timedelta(days=2)).date().isoformat(), "max_report_days": 1},
            }
        ],
    }
    config_file = tmp_path / "integrations.yaml"
    config_file.write_text(yaml.safe_dump(config))
    uis_url = f"{sandbox.base_url}/uis/{account}/v2.0"
    env = {
        "IDENT_INTEGRATIONS_FILE": str(config_file),
        "AIRFLOW_CONN_IDENT_DB": mysql_connection_json(mariadb_database),
        "AIRFLOW_CONN_UIS_BF": connection_json(conn_type="ident_uis", host=uis_url, password=sandbox.key),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        # Airflow's metadata on PostgreSQL, as in production: on SQLite the CLI and the scheduler
        # writing at once fail now and then with "database is locked".
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": airflow_postgres_url,
    }
    with Stack(tmp_path / "airflow", env) as stack:
        # 1. Unpaused, the DAG's first scheduled run loads from the start date (two days and today).
        first_runs = stack.wait_for_runs(lambda runs: len(runs) == 1)
        assert first_runs[0]["run_type"] == "scheduled"
        since_start = stored(ident_mysql, today - timedelta(days=2), datetime.now(MOSCOW))
        # every call finished before the run started (calls last well under an hour)
        run_started = datetime.fromisoformat(first_runs[0]["start_date"])
        expected = uis_call_ids(sandbox, account, today - timedelta(days=2), run_started - timedelta(hours=1))
        assert expected and set(since_start) >= expected - set(sandbox_defects(sandbox, account))
        assert not stored(ident_mysql, today - timedelta(days=5), today - timedelta(days=2))  # nothing earlier

        # 2. A backfill of 9 hours five days back: its three 3-hour runs load exactly those hours.
        day = (today - timedelta(days=5)).astimezone(UTC).replace(hour=0)
        backfill(stack, day, day + timedelta(hours=6))
        runs = stack.wait_for_runs(lambda runs: sum(run["run_type"] == "backfill" for run in runs) == 3)
        intervals = sorted(
            (datetime.fromisoformat(run["data_interval_start"]), datetime.fromisoformat(run["data_interval_end"]))
            for run in runs
            if run["run_type"] == "backfill"
        )
        assert intervals[0][0] == day and intervals[-1][1] == day + timedelta(hours=9)
        loaded = stored(ident_mysql, day - timedelta(days=1), day + timedelta(days=1))
        in_range = uis_call_ids(sandbox, account, day, day + timedelta(hours=9))
        defects = set(sandbox_defects(sandbox, account))
        assert in_range and set(loaded) == in_range - defects  # exactly the intervals: no row outside them

        # 3. The same backfill again (reprocess completed runs) with one call corrected at the source:
        # nothing duplicates, nothing unchanged is rewritten, the corrected call is updated.
        corrected = sorted(set(loaded))[len(loaded) // 2]
        sandbox._control("PATCH", f"/uis/{account}/calls/{corrected}", json={"scenario_name": "Исправлено"})
        first_done = max(run["end_date"] for run in runs if run["run_type"] == "backfill")
        backfill(stack, day, day + timedelta(hours=6), "--reprocess-behavior", "completed")

        def reprocessed(runs: list[dict]) -> bool:
            again = [run for run in runs if run["run_type"] == "backfill"]
            return len(again) == 3 and all((run["end_date"] or "") > first_done for run in again)

        stack.wait_for_runs(reprocessed)
        reloaded = stored(ident_mysql, day - timedelta(days=1), day + timedelta(days=1))
        assert set(reloaded) == set(loaded)
        changed = {key for key in loaded if reloaded[key] != loaded[key]}
        assert changed == {corrected}
        assert query(ident_mysql, "SELECT scenario_name FROM ident_calls WHERE external_id = %s", (corrected,)) == [
            ("Исправлено",)
        ]


def backfill(stack: Stack, first: datetime, last: datetime, *options: str) -> None:
    """The README's command: runs for the logical dates first .. last (inclusive). Airflow allows
    one backfill of a DAG at a time, and the scheduler marks one complete a little after its last
    run: wait for that first."""
    deadline = time.monotonic() + 120
    while any(item["completed_at"] is None for item in stack.api(f"/api/v2/backfills?dag_id={DAG_ID}")["backfills"]):
        assert time.monotonic() < deadline, "the previous backfill was never marked complete"
        time.sleep(2)
    stack.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", first.isoformat(),
                  "--to-date", last.isoformat(), *options)  # fmt: skip


def sandbox_defects(sandbox, account: str) -> dict[str, str]:
    return sandbox._control("GET", f"/uis/{account}/defects")["defects"]
