"""One progress line for `make demo`: leads and calls stored per integration and the last run of each DAG.

Exits 0 when leads and calls are stored and every DAG's last finished run succeeded (the smoke check).
Usage: demo_status.py IDENT_SQLITE_FILE AIRFLOW_PORT
"""

import json
import sqlite3
import sys
import urllib.request
from pathlib import Path

DEMO_LOGIN = {"username": "admin", "password": "admin"}


def row_counts(path: str, table: str) -> dict[str, int]:
    if not Path(path).exists():
        return {}
    with sqlite3.connect(path) as conn:
        try:
            return dict(conn.execute(f"SELECT integration, COUNT(*) FROM {table} GROUP BY integration"))
        except sqlite3.OperationalError:  # no run has created the tables yet
            return {}


def grouped(path: str, sql: str) -> dict[str, int]:
    """``sql``'s (key, count) rows, or nothing before the first run has created its table."""
    if not Path(path).exists():
        return {}
    with sqlite3.connect(path) as conn:
        try:
            return {str(key): count for key, count in conn.execute(sql)}
        except sqlite3.OperationalError:
            return {}


def api(port: str, path: str, token: str | None = None, body: dict | None = None) -> dict:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        f"http://localhost:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers=headers,
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def last_finished_runs(port: str) -> dict[str, str]:
    token = api(port, "/auth/token", body=DEMO_LOGIN)["access_token"]
    states = {}
    for dag in api(port, "/api/v2/dags?dag_id_pattern=ident_", token)["dags"]:
        runs = api(port, f"/api/v2/dags/{dag['dag_id']}/dagRuns?order_by=-run_after&limit=5", token)["dag_runs"]
        finished = [run["state"] for run in runs if run["state"] in ("success", "failed")]
        states[dag["dag_id"]] = finished[0] if finished else (runs[0]["state"] if runs else "no run yet")
        if "watch" in {tag["name"] for tag in dag["tags"]} and states[dag["dag_id"]] == "success":
            # a watched DAG counts once its watcher (the triggerer) has started a green run
            path = f"/api/v2/dags/{dag['dag_id']}/dagRuns?run_type=asset_triggered&state=success&limit=1"
            if not api(port, path, token)["dag_runs"]:
                states[dag["dag_id"]] = "waiting for its watcher"
    return states


def main() -> int:
    path, port = sys.argv[1:3]
    leads, calls = row_counts(path, "ident_leads"), row_counts(path, "ident_calls")
    note = ""
    try:
        runs = last_finished_runs(port)
    except OSError as exc:
        runs, note = {}, f" (Airflow API not answering: {exc})"

    def counts(rows: dict[str, int]) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(rows.items())) or "none yet"

    dags = ", ".join(f"{dag_id}={state}" for dag_id, state in sorted(runs.items())) or "no DAGs parsed yet"
    review = "CASE WHEN needs_review THEN 'to review' ELSE 'ok' END"
    geocodes = grouped(path, f"SELECT {review}, COUNT(*) FROM ident_geocodes GROUP BY 1")
    messages = grouped(path, "SELECT channel || ' ' || status, COUNT(*) FROM ident_messages GROUP BY 1")
    events = row_counts(path, "ident_calendar_events")
    print(
        f"ident_leads rows: {counts(leads)} | ident_calls rows: {counts(calls)} | geocoded: {counts(geocodes)} "
        f"| messages: {counts(messages)} | calendar events: {counts(events)} | last runs: {dags}{note}"
    )
    healthy = sum(leads.values()) > 0 and sum(calls.values()) > 0 and bool(runs)
    return 0 if healthy and all(state == "success" for state in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
