"""`ident demo-data` through the real entry point: the network it writes into the IDENT database
(MariaDB, and SQLite, the demo's) is the promised size, consistent (every appointment inside its
doctor's shift at that branch, no two active appointments of a doctor overlapping), booked at a
realistic density, and a rerun replaces it rather than adding to it."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.schedule import ScheduleStore
from tests.conftest import _mysql_connect, mysql_connection_json
from tests.helpers import as_utc, connection_json, query
from tests.integration.test_cli import ident, with_db

MOSCOW = ZoneInfo("Europe/Moscow")
TABLES = ("ident_branches", "ident_doctors", "ident_doctor_branches", "ident_work_intervals", "ident_appointments",
          "ident_patients")  # fmt: skip


def run(env, *args: str) -> str:
    result = ident("demo-data", "--conn-id", "ident_db", *args, env=env)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    seconds = float(re.search(r" in ([\d.]+) s\n", result.stdout).group(1))
    assert seconds < 10, result.stdout  # the default size, written in bulk
    return result.stdout


def untimed(out: str) -> str:
    return re.sub(r" in [\d.]+ s\n", "\n", out)


def dump(raw) -> dict[str, list[tuple]]:
    return {table: sorted(query(raw, f"SELECT * FROM {table}")) for table in TABLES}


def check_network(raw, days_ahead: int = 35) -> None:
    branches = {row[0]: row for row in query(raw, "SELECT id, name, address, phone, timezone FROM ident_branches")}
    assert len(branches) == 3
    assert {row[4] for row in branches.values()} == {"Europe/Moscow", "Asia/Yekaterinburg"}
    doctors = query(raw, "SELECT id, name, specialty, active FROM ident_doctors")
    assert len(doctors) == 25 and len({name for _, name, _, _ in doctors}) == 25
    assert all(len(name.split()) == 3 and specialty for _, name, specialty, _ in doctors)
    links = defaultdict(set)
    for doctor_id, branch_id in query(raw, "SELECT doctor_id, branch_id FROM ident_doctor_branches"):
        links[doctor_id].add(branch_id)
    assert set(links) == {row[0] for row in doctors} and all(1 <= len(b) <= 2 for b in links.values())

    shifts = defaultdict(list)  # (doctor, branch) -> [(start, end)]
    shift_seconds = defaultdict(float)  # clinic day offset -> shift time
    today = datetime.now(MOSCOW).date()
    days = set()
    for doctor_id, branch_id, starts, ends in query(
        raw, "SELECT doctor_id, branch_id, starts_at, ends_at FROM ident_work_intervals"
    ):
        starts, ends = as_utc(starts), as_utc(ends)
        assert branch_id in links[doctor_id]
        local = ZoneInfo(branches[branch_id][4])
        assert (starts.astimezone(local).time(), ends.astimezone(local).time()) in {
            (time(9), time(15)),
            (time(14), time(21)),
        }
        shifts[doctor_id, branch_id].append((starts, ends))
        offset = (starts.astimezone(MOSCOW).date() - today).days
        days.add(offset)
        shift_seconds[offset] += (ends - starts).total_seconds()
    assert min(days) == -7 and max(days) in (days_ahead - 1, days_ahead)  # the last day may be a day off
    per_doctor_week = len([1 for (d, _), s in shifts.items() for _ in s]) / 25 / ((days_ahead + 8) / 7)
    assert 4.5 <= per_doctor_week <= 6, per_doctor_week  # 5-6 days a week, the odd day off

    appointments = query(raw, "SELECT id, doctor_id, branch_id, patient_id, starts_at, ends_at, status FROM"
                              " ident_appointments")  # fmt: skip
    patients = {row[0] for row in query(raw, "SELECT id FROM ident_patients")}
    active = defaultdict(list)
    booked_seconds = defaultdict(float)
    cancelled = 0
    for _, doctor_id, branch_id, patient_id, starts, ends, status in appointments:
        starts, ends = as_utc(starts), as_utc(ends)
        assert patient_id in patients
        assert (ends - starts) in {timedelta(minutes=m) for m in (15, 30, 45, 60)} or any(
            ends == shift_end for _, shift_end in shifts[doctor_id, branch_id]
        )  # a visit is 15-60 minutes (cut short only by the shift's end)
        assert any(s <= starts and ends <= e for s, e in shifts[doctor_id, branch_id]), (doctor_id, starts)
        if status == "cancelled":
            cancelled += 1
            continue
        assert status in {"planned", "confirmed", "arrived", "completed", "no_show"}
        active[doctor_id].append((starts, ends))
        booked_seconds[(starts.astimezone(MOSCOW).date() - today).days] += (ends - starts).total_seconds()
        if ends < datetime.now(UTC) - timedelta(hours=1):
            assert status in {"completed", "no_show"}
        elif starts > datetime.now(UTC) + timedelta(minutes=5):
            assert status in {"planned", "confirmed"}
    for doctor_id, visits in active.items():
        visits.sort()
        for (_, end), (start, _) in zip(visits, visits[1:], strict=False):
            assert end <= start, (doctor_id, end, start)  # no two active appointments of a doctor overlap
    assert 0.03 <= cancelled / len(appointments) <= 0.07

    def share(day_range) -> float:
        return sum(booked_seconds[d] for d in day_range) / sum(shift_seconds[d] for d in day_range)

    assert 0.60 <= share(range(-7, 4)) <= 0.75, share(range(-7, 4))  # the past week and the next days
    if days_ahead >= 22:
        assert share(range(22, days_ahead + 1)) <= 0.2  # thinning further out
        assert share(range(-7, 4)) > share(range(8, 15)) > share(range(22, days_ahead + 1))


@pytest.mark.mariadb
def test_demo_data_on_mariadb_writes_a_consistent_network_and_replaces_it_on_a_rerun(empty_mariadb, monkeypatch):
    connection = mysql_connection_json(empty_mariadb)
    env = with_db(connection)
    out = run(env)
    assert "\n  3 branches (Asia/Yekaterinburg, Europe/Moscow)\n" in out
    assert "\n  25 doctors at " in out and "\n  2000 patients\n" in out
    raw = _mysql_connect(empty_mariadb)
    try:
        check_rerun(raw, env, out, connection, monkeypatch)
    finally:
        raw.close()  # before the database is dropped: an open transaction would block DROP DATABASE


def check_rerun(raw, env, out, connection, monkeypatch) -> None:
    check_network(raw)
    first = dump(raw)

    # Something that is not the schedule survives a rerun.
    with raw.cursor() as cur:
        cur.execute(
            "INSERT INTO ident_sync_state (integration, capability, enabled_on) VALUES ('site', 'leads', '2026-11-01')"
        )
    raw.commit()
    assert untimed(run(env)) == untimed(out)
    second = dump(raw)
    for table in TABLES:
        if table != "ident_appointments":
            assert second[table] == first[table], table
    # Appointments: the same ones (a status may have moved on with the clock between the runs).
    assert [row[:6] for row in second["ident_appointments"]] == [row[:6] for row in first["ident_appointments"]]
    assert query(raw, "SELECT COUNT(*) FROM ident_sync_state") == [(1,)]

    # The export's view: doctor 25 is excluded by the demo's rules, everyone else exported.
    monkeypatch.setenv("AIRFLOW_CONN_IDENT_DB", connection)
    store = ScheduleStore(IdentDatabase("ident_db"))
    now = datetime.now(UTC)
    snap = store.snapshot(now, now + timedelta(days=30))
    assert {d.id for d in snap.doctors if not d.exported} == {25} and len(snap.doctors) == 25
    assert snap.slot_minutes == 15 and snap.work_intervals and snap.appointments

    other = run(env, "--seed", "7", "--days-ahead", "10")
    assert "\n  25 doctors at " in other
    check_network(raw, days_ahead=10)
    assert dump(raw)["ident_doctors"] != first["ident_doctors"]  # another seed, other names


def test_demo_data_on_sqlite(tmp_path):
    import sqlite3

    path = tmp_path / "ident.db"
    run(with_db(connection_json(conn_type="sqlite", host=str(path))))
    check_network(sqlite3.connect(path))


def test_demo_data_help_says_a_rerun_replaces_the_schedule():
    result = ident("demo-data", "--help")
    assert result.returncode == 0
    assert "REPLACES every row of the schedule tables" in " ".join(result.stdout.split())
    assert "--seed" in result.stdout and "--days-ahead" in result.stdout
    assert ident("demo-data", "--days-ahead", "-1").returncode == 2
