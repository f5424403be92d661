"""One progress line for `make demo`: leads and calls stored per integration, the free slots each
schedule receiver of the sandbox holds, and the last run of each DAG.

Exits 0 (the smoke check) when every integration with leads enabled in the integrations file has at
least one ident_leads row, calls are stored, every integration with the schedule enabled has had a
push accepted with at least one free slot or interval, and every DAG's last finished run succeeded.
Usage: demo_status.py IDENT_SQLITE_FILE AIRFLOW_PORT
"""

import json
import os
import sqlite3
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from urllib.parse import quote, urlsplit

import yaml

ROOT = Path(__file__).resolve().parents[1]
DEMO_LOGIN = {"username": "admin", "password": "admin"}
# The integrations file as the DAGs find it (plugins/ident_integrations/config.py: config_path).
CONFIG_FILE_ENV, DEFAULT_CONFIG_FILE = "IDENT_INTEGRATIONS_FILE", ROOT / "include" / "integrations.yaml"
SANDBOX_TIMEOUT = 5  # seconds per read of a receiver (summaries only: ?bodies=false)
NOT_YET = "not yet"


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


def last_finished_runs(port: str, token: str) -> dict[str, str]:
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


# --- what the schedule receivers hold ---------------------------------------------------------------


def _last_push(free_key: str) -> Callable[[dict], tuple[int, int, int]]:
    """A receiver keeping a log of whole pushes (sandbox/received.py): the free slots of the last."""

    def read(received: dict) -> tuple[int, int, int]:
        summary = (received.get("last") or {}).get("summary") or {}
        return received.get("accepted", 0), summary.get(free_key, 0), received.get("rejected", 0)

    return read


def _napopravku(received: dict) -> tuple[int, int, int]:
    """The slots as the service keeps them: clinic -> doctor -> date -> [{from, to}]."""
    slots = sum(
        len(day) for doctors in received.get("slots", {}).values() for days in doctors.values() for day in days.values()
    )
    return (received.get("pushes") or {}).get("slots", 0), slots, received.get("rejected", 0)


def _prodoctorov(received: dict) -> tuple[int, int, int]:
    """The cells as the service keeps them, per filial and doctor; ``free`` true are the slots."""
    cells = [
        cell
        for filial in received.get("filials", {}).values()
        for doctor in filial.get("doctors", {}).values()
        for cell in doctor.get("cells", [])
    ]
    return received.get("pushes", 0), sum(cell.get("free") is True for cell in cells), received.get("rejected", 0)


# Per service: (pushes accepted, free slots or intervals, pushes rejected) from its received endpoint.
RECEIVERS: dict[str, Callable[[dict], tuple[int, int, int]]] = {
    "clinic_http": _last_push("free"),  # PostTimeTable: free and busy intervals
    "napopravku": _napopravku,
    "prodoctorov": _prodoctorov,
    "sberzdorovie": _last_push("slots"),
    "top32": _last_push("slots"),
}


def received_url(service: str, host: str | None) -> str | None:
    """``/_sandbox/<service>/<account>/received`` of the sandbox a connection points at: its host
    is ``http://…/<service>/<account>/…`` (scripts/demo.sh); None for another address."""
    url = urlsplit(host or "")
    parts = [part for part in url.path.split("/") if part]
    if url.scheme not in ("http", "https") or len(parts) < 2 or parts[0] != service:
        return None
    # bodies=false: the push logs' summaries without their bodies (a whole timetable is megabytes)
    return f"{url.scheme}://{url.netloc}/_sandbox/{service}/{quote(parts[1])}/received?bodies=false"


def receiver_slots(service: str, connection: dict) -> int | str:
    """The free slots the integration's receiver holds from accepted pushes, or why not yet."""
    url = received_url(service, connection.get("host"))
    if url is None:
        return f"{NOT_YET} (its connection is not a sandbox {service} address)"
    try:
        with urllib.request.urlopen(url, timeout=SANDBOX_TIMEOUT) as response:
            accepted, free, rejected = RECEIVERS[service](json.load(response))
    except urllib.error.HTTPError as exc:
        return f"{NOT_YET} (the sandbox answered {exc.code})"
    except (OSError, ValueError, AttributeError, TypeError):  # down, slow, or a body of another shape
        return f"{NOT_YET} (sandbox not answering)"
    refused = f" ({rejected} rejected)" if rejected else ""
    return free if accepted else f"{NOT_YET}{refused or ' (no push accepted)'}"


def timetable_slots(config: dict, integration: dict, connection: dict) -> int | str:
    """The free rows of the clinic's own ``schedule.table`` (the direct-database variant, clinic_db)."""
    path = connection.get("host") or ""
    if connection.get("conn_type") != "sqlite":
        return f"{NOT_YET} (only a SQLite clinic database is read here)"
    if not Path(path).is_file():
        return f"{NOT_YET} (no database file)"
    table = ".".join(
        f'"{part}"' for part in str(setting(config, integration, "schedule", "table", "TimeTable")).split(".")
    )
    try:
        with closing(sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, timeout=2)) as conn:
            rows, free = conn.execute(f"SELECT COUNT(*), COALESCE(SUM(NOT IsBusy), 0) FROM {table}").fetchone()
    except sqlite3.Error as exc:  # no table yet, or locked by the export's transaction
        return f"{NOT_YET} ({str(exc).replace(',', ';')})"
    return free if rows else f"{NOT_YET} (no rows)"


def slots_received(config: dict, port: str, token: str | None) -> dict[str, int | str]:
    """Per integration with the schedule enabled, the free slots its receiver holds, or why not yet.
    The receiver is found through the integration's Airflow connection."""
    wanted = enabled(config, "schedule")
    if token is None:
        return {item["name"]: f"{NOT_YET} (Airflow API not answering)" for item in wanted}

    def one(integration: dict) -> int | str:
        try:
            connection = api(port, f"/api/v2/connections/{quote(integration['conn_id'])}", token)
        except urllib.error.HTTPError as exc:
            return f"{NOT_YET} (connection {integration['conn_id']}: HTTP {exc.code})"
        except (OSError, ValueError):
            return f"{NOT_YET} (Airflow API not answering)"
        if integration["service"] == "clinic_db":
            return timetable_slots(config, integration, connection)
        if integration["service"] in RECEIVERS:
            return receiver_slots(integration["service"], connection)
        return f"{NOT_YET} (no sandbox receiver for {integration['service']})"

    with ThreadPoolExecutor(max_workers=max(1, len(wanted))) as pool:
        return dict(zip((item["name"] for item in wanted), pool.map(one, wanted), strict=True))


def main() -> int:
    path, port = sys.argv[1:3]
    leads, calls = row_counts(path, "ident_leads"), row_counts(path, "ident_calls")
    note = ""
    try:
        config = load_integrations()
    except (OSError, ValueError, yaml.YAMLError) as exc:
        config, note = {}, f" (integrations file unreadable: {exc})"
    token = None
    try:
        token = api(port, "/auth/token", body=DEMO_LOGIN)["access_token"]
        runs = last_finished_runs(port, token)
    except (OSError, ValueError, KeyError) as exc:
        runs, note = {}, f"{note} (Airflow API not answering: {exc})"
    lead_integrations = [item["name"] for item in enabled(config, "leads")]
    leads_by_integration = {name: leads.get(name, 0) for name in lead_integrations} | leads
    slots = slots_received(config, port, token)

    def counts(rows: dict[str, int | str]) -> str:
        return ", ".join(f"{name}: {count}" for name, count in sorted(rows.items())) or "none yet"

    dags = ", ".join(f"{dag_id}={state}" for dag_id, state in sorted(runs.items())) or "no DAGs parsed yet"
    review = "CASE WHEN needs_review THEN 'to review' ELSE 'ok' END"
    geocodes = grouped(path, f"SELECT {review}, COUNT(*) FROM ident_geocodes GROUP BY 1")
    messages = grouped(path, "SELECT channel || ' ' || status, COUNT(*) FROM ident_messages GROUP BY 1")
    events = row_counts(path, "ident_calendar_events")
    print(
        f"ident_leads rows: {counts(leads_by_integration)} | ident_calls rows: {counts(calls)} "
        f"| geocoded: {counts(geocodes)} | messages: {counts(messages)} | calendar events: {counts(events)} "
        f"| slots received: {counts(slots)} | last runs: {dags}{note}"
    )
    healthy = (
        bool(config)
        and all(leads.get(name, 0) > 0 for name in lead_integrations)
        and sum(calls.values()) > 0
        and all(isinstance(free, int) and free > 0 for free in slots.values())
        and bool(runs)
    )
    return 0 if healthy and all(state == "success" for state in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
