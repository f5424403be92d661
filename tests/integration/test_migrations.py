"""Schema migrations for real, on MariaDB and SQLite: a fresh database is built exactly as
store/tables.py defines it, upgrading twice changes nothing, a database created by the foundation's
hand-written schema files (frozen in tests/fixtures/foundation_schema) upgrades with every row kept,
and two processes upgrading at once do it once."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ident_hooks.exchange import Exchange
from ident_integrations.records import payload_hash
from ident_integrations.records.leads import validate_leads
from ident_integrations.store import migrate
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.leads import LeadStore
from ident_integrations.store.tables import metadata
from tests.conftest import _mysql_connect, mysql_connection_json
from tests.helpers import connection_json, query

FOUNDATION_SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "foundation_schema"
TABLES = ("ident_leads", "ident_sync_state", "ident_rejects", "ident_exchange_log")


class Backend:
    """One empty IDENT database: the connection for the code under test, and plain DB-API access."""

    def __init__(self, dialect: str, connection: str, connect):
        self.dialect, self.connection, self._connect = dialect, connection, connect
        self.placeholder = "?" if dialect == "sqlite" else "%s"
        self._opened: list = []

    def raw_connect(self):
        self._opened.append(self._connect())
        return self._opened[-1]

    def close(self) -> None:
        # Closed before the database is dropped: an open read transaction would block DROP DATABASE.
        for conn in self._opened:
            conn.close()


@pytest.fixture(params=["mariadb", "sqlite"])
def backend(request, tmp_path, monkeypatch):
    monkeypatch.setattr(migrate, "_up_to_date", set())  # every test checks the database itself
    if request.param == "mariadb":
        name = request.getfixturevalue("empty_mariadb")
        result = Backend("mysql", mysql_connection_json(name), lambda: _mysql_connect(name))
    else:
        path = tmp_path / "ident.db"
        result = Backend("sqlite", connection_json(conn_type="sqlite", host=str(path)), lambda: sqlite3.connect(path))
    monkeypatch.setenv("AIRFLOW_CONN_IDENT_DB", result.connection)
    yield result
    result.close()


def schema_diff(db: IdentDatabase) -> list:
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrate.VERSION_TABLE, "compare_type": True})
        return [d for d in compare_metadata(context, metadata) if migrate.VERSION_TABLE not in str(d)]


def test_a_fresh_database_is_built_exactly_as_the_tables_define(backend):
    db = IdentDatabase("ident_db")
    assert db.ensure_schema() == ""  # moved from nothing
    with db.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()
    assert schema_diff(db) == []


def test_upgrading_twice_changes_nothing(backend, monkeypatch):
    db = IdentDatabase("ident_db")
    db.ensure_schema()
    monkeypatch.setattr(migrate, "_up_to_date", set())  # not the process cache: the database says so
    assert db.ensure_schema() is None
    raw = backend.raw_connect()
    assert query(raw, f"SELECT version_num FROM {migrate.VERSION_TABLE}") == [(migrate.head(),)]


def foundation_statements(dialect: str) -> list[str]:
    """The foundation's schema file split as its store did (a ';' at a line end ends a statement)."""
    text = (FOUNDATION_SCHEMA / f"{dialect}.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = (stmt.strip().rstrip(";").rstrip() for stmt in "\n".join(lines).split(";\n"))
    return [stmt for stmt in statements if stmt]


RAW_LEAD = {"Id": "L-1", "DateAndTime": "2026-11-20T10:15:00+03:00", "ClientPhone": "8-911-001-0101", "Comment": "ёж"}
FOUNDATION_ROWS = {
    # What the foundation's store wrote: naive UTC, on SQLite as 'YYYY-MM-DD HH:MM:SS.ffffff' text.
    "ident_leads": {
        "integration": "site", "external_id": "L-1", "created_at": "2026-11-20 07:15:00.000000",
        "phone_raw": "8-911-001-0101", "phone": "+79110010101", "comment": "ёж",
        "raw_payload": json.dumps(RAW_LEAD, ensure_ascii=False, sort_keys=True, separators=(",", ":")),
        "content_hash": payload_hash(RAW_LEAD), "first_loaded_at": "2026-11-20 07:16:00.000000",
        "last_loaded_at": "2026-11-20 07:16:00.000000",
    },
    "ident_sync_state": {
        "integration": "site", "capability": "leads", "enabled_on": "2026-11-18",
        "watermark": "2026-11-20 07:15:00.000000", "last_window_start": "2026-11-19 21:00:00.000000",
        "last_window_end": "2026-11-20 07:16:00.000000", "last_success_at": "2026-11-20 07:16:01.000000",
    },
    "ident_rejects": {
        "integration": "site", "capability": "leads", "record_hash": "a" * 64, "external_id": "L-0",
        "raw_payload": '{"Id":"L-0"}', "reason": "ClientPhone is required", "seen_at": "2026-11-20 07:16:00.000000",
    },
    "ident_exchange_log": {
        "integration": "site", "capability": "leads", "method": "GET", "url": "http://clinic/GetTickets?limit=500",
        "http_status": 200, "duration_ms": 12, "error_text": None, "logged_at": "2026-11-20 07:16:00.000000",
    },
}  # fmt: skip


def snapshot(raw) -> dict[str, list[tuple]]:
    return {table: [tuple(str(v) for v in row) for row in query(raw, f"SELECT * FROM {table}")] for table in TABLES}


def test_a_foundation_era_database_upgrades_with_every_row_kept(backend):
    raw = backend.raw_connect()
    cur = raw.cursor()
    for statement in foundation_statements(backend.dialect):
        cur.execute(statement)
    for table, row in FOUNDATION_ROWS.items():
        marks = ", ".join([backend.placeholder] * len(row))
        cur.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))
    raw.commit()
    before = snapshot(raw)

    db = IdentDatabase("ident_db")
    assert db.ensure_schema() == ""  # adopted: it had tables but no revision
    assert snapshot(raw) == before
    with db.engine.connect() as conn:
        assert migrate.current(conn) == migrate.head()

    # The new code reads and writes the old rows as its own.
    store = LeadStore(db, "site")
    state = store.sync_state(enabled_today=date(2026, 11, 24))
    assert state.enabled_on == date(2026, 11, 18)
    assert state.watermark == datetime(2026, 11, 20, 7, 15, tzinfo=UTC)
    leads, _ = validate_leads([RAW_LEAD, {**RAW_LEAD, "Id": "L-2"}], ZoneInfo("Europe/Moscow"))
    now = datetime.now(UTC)
    result = store.save(2, leads, [], (now - timedelta(days=10), now))
    assert (result.new, result.unchanged, result.updated) == (1, 1, 0)  # L-1 is recognised, not duplicated
    store.log_exchanges([Exchange("GET", "http://clinic/GetTickets", 200, 5, None)])
    assert query(raw, "SELECT COUNT(*) FROM ident_leads")[0][0] == 2
    assert query(raw, "SELECT COUNT(*) FROM ident_exchange_log")[0][0] == 2


WAITER = """
import logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
from ident_integrations.store.database import IdentDatabase
print("moved from", repr(IdentDatabase("ident_db").ensure_schema()))
"""


def test_an_upgrade_waits_for_the_schema_lock_and_then_finds_the_work_done(backend, tmp_path):
    """While another process holds the lock and migrates, an upgrade waits for it, then re-reads."""
    env = {**os.environ, "AIRFLOW_CONN_IDENT_DB": backend.connection}
    log = tmp_path / "waiter.log"
    db = IdentDatabase("ident_db")
    with db.engine.connect() as conn, migrate.schema_lock(conn), log.open("w") as output:
        # Airflow routes logging to stdout, so both streams go to the file that is watched.
        waiter = subprocess.Popen([sys.executable, "-c", WAITER], env=env, stdout=output, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "taking the schema lock" not in log.read_text() and time.monotonic() < deadline:
            assert waiter.poll() is None, log.read_text()
            time.sleep(0.2)
        time.sleep(1)  # it has asked for the lock; it must still be waiting for it
        assert waiter.poll() is None, log.read_text()
        command.upgrade(migrate.alembic_config(connection=conn), "head")
        conn.commit()
    assert waiter.wait(timeout=60) == 0, log.read_text()
    assert log.read_text().splitlines()[-1] == "moved from None"  # it found the schema at head once it had the lock


def test_two_processes_upgrading_at_once_do_it_once(backend):
    env = {**os.environ, "AIRFLOW_CONN_IDENT_DB": backend.connection}
    ident = str(Path(sys.executable).with_name("ident"))
    runs = [
        subprocess.Popen([ident, "db", "upgrade"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    said = [out for out, _ in outputs]
    assert sum("upgraded from" in out for out in said) == 1 and sum("already at" in out for out in said) == 1, said
    raw = backend.raw_connect()
    assert query(raw, f"SELECT version_num FROM {migrate.VERSION_TABLE}") == [(migrate.head(),)]
    assert schema_diff(IdentDatabase("ident_db")) == []


SCHEDULE_TABLES = (
    "ident_branches", "ident_doctors", "ident_doctor_branches", "ident_work_intervals", "ident_appointments",
    "ident_patients", "ident_schedule_rules", "ident_doctor_export",
)  # fmt: skip


def test_a_database_at_0003_gains_the_schedule_tables_with_its_rows_kept(backend):
    from sqlalchemy import inspect

    from ident_integrations.records.schedule import Doctor
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    with db.engine.connect() as conn:
        command.upgrade(migrate.alembic_config(connection=conn), "0003")
        conn.commit()
        assert not set(SCHEDULE_TABLES) & set(inspect(conn).get_table_names())
    store = LeadStore(db, "site")
    now = datetime.now(UTC)
    leads, _ = validate_leads([RAW_LEAD], ZoneInfo("Europe/Moscow"))
    store.save(1, leads, [], (now - timedelta(days=1), now))

    assert db.ensure_schema() == "0003"
    assert schema_diff(db) == []
    raw = backend.raw_connect()
    assert query(raw, "SELECT external_id FROM ident_leads") == [("L-1",)]
    assert all(query(raw, f"SELECT COUNT(*) FROM {table}") == [(0,)] for table in SCHEDULE_TABLES)
    schedule = ScheduleStore(db)
    schedule.add(doctors=[Doctor(1, "Иванова Анна Сергеевна")])
    schedule.set_doctor_export(1, False)
    assert schedule.doctor_exports() == {1: False} and schedule.slot_minutes() == 15

    raw.commit()  # end the read's transaction: on MariaDB its metadata locks would hold up DROP TABLE
    with db.engine.connect() as conn:  # and back: 0004 removes only what it added
        command.downgrade(migrate.alembic_config(connection=conn), "0003")
        conn.commit()
        assert not set(SCHEDULE_TABLES) & set(inspect(conn).get_table_names())
    assert query(raw, "SELECT external_id FROM ident_leads") == [("L-1",)]
