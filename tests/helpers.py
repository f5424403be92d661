"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo


def connection_json(**fields) -> str:
    from airflow.sdk import Connection

    return Connection(conn_id="x", **fields).as_json()


def schedule_settings(service: str, conn_id: str, request, **block):
    """The resolved ``schedule`` capability of a test integration ``<service>_test`` on ``conn_id``:
    ``request`` (a ``RequestSettings``), the schedule block from ``block``, defaults elsewhere."""
    from ident_integrations.capabilities.schedule import ScheduleSettings
    from ident_integrations.config import Clinic, ResolvedCapability, TaskSettings

    return ResolvedCapability(
        capability="schedule",
        integration=f"{service}_test",
        service=service,
        conn_id=conn_id,
        description="",
        clinic=Clinic(),
        block=ScheduleSettings(**block),
        request=request,
        task=TaskSettings(),
        sources={},
    )


def as_utc(value) -> datetime | None:
    """A date-time column read through plain DB-API (a datetime, or SQLite's text) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    """Read back through a plain DB-API connection (MySQLdb or sqlite3), outside the code under test."""
    conn.commit()  # see rows committed by other connections (MariaDB's repeatable read)
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = list(cur.fetchall())
    cur.close()
    return rows


def uis_call_ids(sandbox, account: str, start: datetime, end: datetime) -> set[str]:
    """Ids of the calls the sandbox's UIS account has started in [start, end), asked through its
    JSON-RPC API directly (not through the code under test); a window of at most 90 days."""
    import requests

    tz = ZoneInfo(sandbox.health()["timezone"])
    params = {
        "access_token": sandbox.key,
        "date_from": start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "date_till": (end - timedelta(seconds=1)).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "fields": ["id"],
        "limit": 10_000,
        "offset": 0,
    }
    ids: set[str] = set()
    while True:
        body = {"jsonrpc": "2.0", "id": 1, "method": "get.calls_report", "params": params}
        result = requests.post(f"{sandbox.base_url}/uis/{account}/v2.0", json=body, timeout=30).json()["result"]
        ids.update(str(row["id"]) for row in result["data"])
        params["offset"] += params["limit"]
        if params["offset"] >= result["metadata"]["total_items"]:
            return ids


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free now: the sockets are held open together, so that two
    services of one stack never get the same port (asked one by one, the kernel may repeat one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def start_group(command: str, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``bash -c command`` in a process group of its own (so that ``stop_group`` ends all of it),
    its output into ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        ["bash", "-c", command], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(probe: Callable[[], bool], proc: subprocess.Popen, seconds: float, interval: float) -> bool:
    """Call ``probe`` until it returns true (an OSError counts as not yet); False when ``proc`` ended
    or ``seconds`` passed first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if probe():
                return True
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(interval)


def stop_group(proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM to the process group ``start_group`` made, SIGKILL once ``timeout`` has passed."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def parse_dags() -> dict:
    """The DAGs of the real DAG files, parsed for the integrations file the environment names; the
    test fails on an import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def dags_for(config: dict, tmp_path: Path, monkeypatch) -> dict:
    """``config`` written as the integrations file (IDENT_INTEGRATIONS_FILE) and the DAGs of it."""
    import yaml

    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    return parse_dags()


def smsc_messages(sandbox, login: str) -> list[dict]:
    """What the sandbox's SMSC account ``login`` received (SMS and e-mails), in order."""
    return sandbox._control("GET", f"/smsc/{login}/messages")["messages"]
