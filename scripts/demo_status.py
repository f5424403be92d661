"""One progress line for `make demo`: leads and calls stored per integration and the last run of each DAG.

Exits 0 (the smoke check) when every integration with leads enabled in the integrations file has at
least one ident_leads row, calls are stored, and every DAG's last finished run succeeded.
Usage: demo_status.py IDENT_SQLITE_FILE AIRFLOW_PORT
"""

import json
import os
import sqlite3
import sys
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_LOGIN = {"username": "admin", "password": "admin"}
# The integrations file as the DAGs find it (plugins/ident_integrations/config.py: config_path).
CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE = "IDENT_INTEGRATIONS_FILE", ROOT / "include" / "integrations.yaml"


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


# --- the integrations file -------------------------------------------------------------------------


def load_integrations() -> dict:
    """The integrations file as plain YAML: the project's own loader imports Airflow (two seconds)."""
    path = Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)
    config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(config, dict):
        raise ValueError(f"{path}: the top level is not a mapping")
    return config


def setting(config: dict, integration: dict, capability: str, name: str, default=None):
    """A capability's setting as the DAGs resolve it (config.resolve_fields): the integration's
    value, else the one in ``defaults``, else ``default`` (a null counts as not written)."""
    for block in (integration.get(capability), (config.get("defaults") or {}).get(capability)):
        if isinstance(block, dict) and block.get(name) is not None:
            return block[name]
    return default


def enabled(config: dict, capability: str) -> list[dict]:
    """The integrations with a DAG for ``capability``: its block written and not switched off."""
    return [
        integration
        for integration in config.get("integrations") or []
        if isinstance(integration, dict)
        and isinstance(integration.get(capability), dict)
        and setting(config, integration, capability, "enabled", True) is not False
    ]


def main() -> int:
    path, port = sys.argv[1:3]
    leads, calls = row_counts(path, "ident_leads"), row_counts(path, "ident_calls")
    note = ""
    try:
        config = load_integrations()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        config, note = {}, f" (integrations file unreadable: {exc})"
    try:
        runs = last_finished_runs(port)
    except OSError as exc:
        runs, note = {}, f"{note} (Airflow API not answering: {exc})"
    lead_integrations = [item["name"] for item in enabled(config, "leads")]
    leads_by_integration = {name: leads.get(name, 0) for name in lead_integrations} | leads

    def counts(rows: dict[str, int]) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(rows.items())) or "none yet"

    dags = ", ".join(f"{dag_id}={state}" for dag_id, state in sorted(runs.items())) or "no DAGs parsed yet"
    review = "CASE WHEN needs_review THEN 'to review' ELSE 'ok' END"
    geocodes = grouped(path, f"SELECT {review}, COUNT(*) FROM ident_geocodes GROUP BY 1")
    messages = grouped(path, "SELECT channel || ' ' || status, COUNT(*) FROM ident_messages GROUP BY 1")
    events = row_counts(path, "ident_calendar_events")
    print(
        f"ident_leads rows: {counts(leads_by_integration)} | ident_calls rows: {counts(calls)} "
        f"| geocoded: {counts(geocodes)} | messages: {counts(messages)} | calendar events: {counts(events)} "
        f"| last runs: {dags}{note}"
    )
    healthy = (
        bool(config)
        and all(leads.get(name, 0) > 0 for name in lead_integrations)
        and sum(calls.values()) > 0
        and bool(runs)
    )
    return 0 if healthy and all(state == "success" for state in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
