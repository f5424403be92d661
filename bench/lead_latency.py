"""Lead latency: from a lead's creation in the sandbox to its row in ``ident_leads``, in both modes.

Starts the demo stack as ``make demo`` does (``scripts/demo.sh``: the sandbox and ``airflow
standalone`` on the demo configuration, in a temporary home and on free ports), lets the first runs
load the back catalogue, then follows the live leads the sandbox creates every 20 s for two
integrations of the same kind: ``site`` (``leads.mode: watch``, looked at every 10 s) and ``landing``
(``mode: poll``, every 2 minutes). A lead's creation is its ``DateAndTime`` at the sandbox (whole
seconds, the moment it becomes visible); its arrival is ``first_loaded_at`` in the IDENT database.
Leads the import quarantines (the sandbox's bad records) have no row and are not counted.

Prints p50 / p95 / max per mode and the targets (poll p95 <= 150 s, watch p95 <= 20 s). Figures
only; nothing passes or fails. About 12 minutes with the defaults.

    .venv/bin/python bench/lead_latency.py [--leads 20] [--keep-home]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODES = {"site": ("watch", 20.0), "landing": ("poll", 150.0)}  # integration -> (mode, p95 target s)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sandbox_leads(port: int, key: str, tenant: str, since: datetime, until: datetime) -> dict[str, datetime]:
    """Id -> DateAndTime (UTC) of the tenant's leads created in [since, until], from the sandbox itself."""
    bounds = {"dateTimeFrom": since, "dateTimeTo": until}  # whole seconds, as IDENT sends them
    query = urllib.parse.urlencode({name: at.replace(microsecond=0).isoformat() for name, at in bounds.items()})
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/clinic_http/{tenant}/GetTickets?{query}", headers={"IDENT-Integration-Key": key}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        tickets = json.load(response)
    return {str(t["Id"]): datetime.fromisoformat(t["DateAndTime"]).astimezone(UTC) for t in tickets}


def stored(ident_db: Path, integration: str) -> tuple[dict[str, datetime], set[str]]:
    """(Id -> first_loaded_at of the stored leads, Ids quarantined) for one integration."""
    if not ident_db.exists():
        return {}, set()
    with sqlite3.connect(ident_db) as conn:
        try:
            rows = conn.execute(
                "SELECT external_id, first_loaded_at FROM ident_leads WHERE integration = ?", (integration,)
            ).fetchall()
            rejected = conn.execute("SELECT external_id FROM ident_rejects WHERE integration = ?", (integration,))
            rejected_ids = {str(r[0]) for r in rejected}
        except sqlite3.OperationalError:  # no run has created the tables yet
            return {}, set()
    return {str(i): datetime.fromisoformat(at).replace(tzinfo=UTC) for i, at in rows}, rejected_ids


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))]  # nearest rank


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=20, help="live leads to follow per mode (default 20)")
    parser.add_argument("--keep-home", action="store_true", help="keep the demo's temporary home for a look")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="ident-latency-"))
    sandbox_port, airflow_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_"))}
    env.update(
        DEMO_HOME=str(home / "airflow"), DEMO_SANDBOX_PORT=str(sandbox_port), DEMO_AIRFLOW_PORT=str(airflow_port)
    )
    ident_db = home / "airflow" / "ident.db"
    print(f"starting the demo stack in {home} (sandbox :{sandbox_port}, Airflow :{airflow_port})", flush=True)
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh"], cwd=ROOT, env=env, stdout=(home / "demo.out").open("w"), stderr=subprocess.STDOUT
    )
    try:
        return follow(args.leads, demo, home, sandbox_port, ident_db)
    finally:
        demo.send_signal(signal.SIGTERM)  # demo.sh stops the sandbox and Airflow on TERM
        try:
            demo.wait(timeout=90)
        except subprocess.TimeoutExpired:
            demo.kill()
        if not args.keep_home:
            subprocess.run(["rm", "-rf", str(home)], check=False)


def follow(leads: int, demo: subprocess.Popen, home: Path, sandbox_port: int, ident_db: Path) -> int:
    deadline = time.monotonic() + 600
    while not all(stored(ident_db, name)[0] for name in MODES):  # the first runs load the back catalogue
        if demo.poll() is not None or time.monotonic() > deadline:
            print((home / "demo.out").read_text()[-3000:], file=sys.stderr)
            print("the demo stack did not load its first leads", file=sys.stderr)
            return 1
        time.sleep(5)
    since = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
    key = (home / "airflow" / "sandbox.key").read_text().strip()
    print(f"first leads stored; following live leads created from {since:%H:%M:%S} UTC", flush=True)

    created: dict[str, dict[str, datetime]] = {}
    while True:
        time.sleep(10)
        now = datetime.now(UTC)
        created = {name: sandbox_leads(sandbox_port, key, name, since, now) for name in MODES}
        if all(len(ids) >= leads * 1.2 for ids in created.values()):  # enough to leave >= N after rejects
            break
        if demo.poll() is not None:
            print("the demo stack stopped", file=sys.stderr)
            return 1
    # Wait for every followed lead to be stored or quarantined (a poll run every 2 minutes at most).
    settle = time.monotonic() + 300
    while time.monotonic() < settle:
        done = {name: set().union(*stored(ident_db, name)) for name in MODES}  # stored or quarantined
        if all(set(ids) <= done[name] for name, ids in created.items()):
            break
        time.sleep(5)

    print(f"\n{'integration':<12} {'mode':<6} {'leads':>5} {'p50 s':>7} {'p95 s':>7} {'max s':>7}  target p95")
    for name, (mode, target) in MODES.items():
        loaded, rejected = stored(ident_db, name)
        latencies = [(loaded[i] - at).total_seconds() for i, at in created[name].items() if i in loaded]
        missing = [i for i in created[name] if i not in loaded and i not in rejected]
        if not latencies:
            print(f"{name:<12} {mode:<6} no lead stored", file=sys.stderr)
            return 1
        p50, p95 = statistics.median(latencies), percentile(latencies, 0.95)
        verdict = "met" if p95 <= target and not missing else "NOT met"
        print(
            f"{name:<12} {mode:<6} {len(latencies):>5} {p50:>7.1f} {p95:>7.1f} {max(latencies):>7.1f}"
            f"  <= {target:.0f} s: {verdict}" + (f" ({len(missing)} never stored)" if missing else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
