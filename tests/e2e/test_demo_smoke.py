"""One smoke run of the whole stack as `make demo` starts it: airflow standalone + the sandbox,
until every lead source has stored leads, 30 days of call history are stored, every schedule receiver
of the sandbox holds free slots of a push it accepted, and every DAG has a green run. Takes one to
three minutes."""

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.helpers import free_ports

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def status_counts(line: str, label: str) -> dict[str, str]:
    """The ``label: a: 1, b: not yet (…)`` part of demo_status.py's line as {"a": "1", "b": "not yet (…)"}."""
    found = re.search(rf"{label}: (.*?)(?: \| |$)", line)
    assert found, f"no {label!r} in the status line: {line}"
    return dict(re.findall(r"(\w+): ([^,]+)", found.group(1)))


def test_demo_stack_loads_leads_with_green_runs(tmp_path):
    # The demo configures Airflow itself; drop what this test process set for its own Airflow.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_"))}
    sandbox_port, airflow_port = free_ports(2)
    env.update(
        DEMO_HOME=str(tmp_path / "airflow"),
        DEMO_SANDBOX_PORT=str(sandbox_port),
        DEMO_AIRFLOW_PORT=str(airflow_port),
        DEMO_SMOKE_TIMEOUT="420",
    )
    result = subprocess.run(
        ["bash", "scripts/demo.sh", "--smoke"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "smoke check passed" in result.stdout
    final = [line for line in result.stdout.splitlines() if "last runs:" in line][-1]  # the passing check's
    runs = dict(re.findall(r"(ident_\w+)=([^,]+)", final.split("last runs: ", 1)[1]))
    # the DAG of every kind of lead source, the watched site's run started by its watcher included
    # (demo_status.py counts a watched DAG only then), and the call history
    lead_dags = ("site", "landing", "telephony", "napopravku", "promo", "top32", "booking_db")
    schedule_dags = ("site", "napopravku", "prodoctorov", "sberzdorovie", "top32", "booking_db")
    expected = {"ident_calls__telephony", *(f"ident_leads__{name}" for name in lead_dags)}
    expected |= {f"ident_schedule__{name}" for name in schedule_dags}  # a push to every kind of receiver
    expected |= {"ident_geocoding__geocoding", "ident_sms__reminders", "ident_email__reminders"}
    expected |= {"ident_sms_status__reminders", "ident_calendar__doctors_calendar"}
    assert expected <= set(runs), final
    assert set(runs.values()) == {"success"}, final
    # a green run may have stored nothing: each lead source's leads are in ident_leads
    leads = status_counts(final, "ident_leads rows")
    for name in lead_dags:
        assert re.fullmatch(r"[1-9]\d*", leads.get(name, "none")), f"no lead of {name} in ident_leads: {final}"
    # and a green push may have gone nowhere: each receiver holds free slots of a push it accepted
    # (the sandbox's /_sandbox/<service>/<account>/received; booking_db: the clinic's TimeTable rows)
    slots = status_counts(final, "slots received")
    for name in schedule_dags:
        assert re.fullmatch(r"[1-9]\d*", slots.get(name, "none")), f"{name}'s receiver has no free slot: {final}"
    # patients geocoded, and reminders recorded (SMS wait out the quiet hours; e-mail has none)
    assert re.search(r"geocoded: ok: [1-9]", final), final
    assert re.search(r"messages: .*email (sent|delivered): [1-9]", final), final
    assert re.search(r"calendar events: doctors_calendar: [1-9]", final), final
    # every process the demo started is gone: nothing listens on its ports, no sandbox with its key file
    for port in (env["DEMO_SANDBOX_PORT"], env["DEMO_AIRFLOW_PORT"]):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", int(port))) != 0, f"port {port} still open"
    leftovers = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert leftovers == []
