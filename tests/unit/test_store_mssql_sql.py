"""What the store sends to SQL Server, recorded through SQLAlchemy's real pymssql dialect.

There is no SQL Server on this machine, so this is the one place with a stand-in for a database: a
fake DB-API module handed to ``create_engine("mssql+pymssql://…", module=…)``. It answers the few
queries the dialect asks on first connect (version, schema, feature probes), returns no rows to the
store's reads, and records every statement. The SQL itself is SQLAlchemy's MSSQL compilation, which
its maintainers test against SQL Server; here we check that the store keeps to parametrised T-SQL
and passes the driver naive UTC date-times. The same statements run for real on MariaDB and SQLite
in tests/integration.
"""

from __future__ import annotations

import re
import types
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from ident_hooks.exchange import Exchange
from ident_integrations.records.leads import validate_leads
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.leads import LeadStore

NOT_TSQL = re.compile(r"\bLIMIT\b|`|ON DUPLICATE KEY|INSERT OR|ON CONFLICT|\bRETURNING\b|\?", re.I)
SELECT_LIST = re.compile(r"^\s*select\s+(.*?)\s+from\b", re.I | re.S)


class RecordingCursor:
    def __init__(self, server: RecordingServer):
        self.server, self.rows, self.description, self.rowcount = server, [], None, -1

    def _answer(self, sql: str) -> None:
        self.rows, self.description = [], None
        probe = sql.lower()
        if "@@version" in probe:
            self._rows(("version",), [("Microsoft SQL Server 2019 (RTM) - 15.0.2000.5",)])
        elif "schema_name()" in probe:
            self._rows(("schema",), [("dbo",)])
        elif match := SELECT_LIST.match(sql):  # the store's reads: their columns, no rows
            self._rows(tuple(column.strip().rsplit(".", 1)[-1] for column in match.group(1).split(",")), [])
        elif probe.lstrip().startswith("select"):  # feature probes without FROM: "yes"
            self._rows(("probe",), [(1,)])

    def _rows(self, names: tuple[str, ...], rows: list[tuple]) -> None:
        self.description = [(name, None, None, None, None, None, None) for name in names]
        self.rows = rows

    def execute(self, sql, params=None):
        self.server.record(sql, [params] if params else [])
        self._answer(sql)

    def executemany(self, sql, rows):
        self.server.record(sql, list(rows))

    def fetchone(self):
        return self.rows.pop(0) if self.rows else None

    def fetchall(self):
        rows, self.rows = self.rows, []
        return rows

    def fetchmany(self, size=1):
        rows, self.rows = self.rows[:size], self.rows[size:]
        return rows

    def close(self):
        pass


class RecordingServer:
    """The fake pymssql module: connect() hands out connections that record into this server."""

    def __init__(self):
        self.statements: list[tuple[str, list]] = []
        self.commits = 0
        self.recording = False
        self.module = types.SimpleNamespace(paramstyle="pyformat", __version__="2.4.6", connect=self.connect)
        for name in ("Error", "DatabaseError", "OperationalError", "InterfaceError", "ProgrammingError",
                     "IntegrityError", "DataError", "NotSupportedError", "InternalError", "Warning"):  # fmt: skip
            setattr(self.module, name, type(name, (Exception,), {}))

    def connect(self, *args, **kwargs):
        server = self

        class Connection:
            def cursor(self):
                return RecordingCursor(server)

            def commit(self):
                server.commits += server.recording

            def rollback(self):
                pass

            def close(self):
                pass

        return Connection()

    def record(self, sql: str, rows: list) -> None:
        if self.recording:
            self.statements.append((sql, rows))


@pytest.fixture
def server():
    server = RecordingServer()
    engine = create_engine("mssql+pymssql://sa:secret@sqlserver/ident", module=server.module, poolclass=NullPool)
    with engine.connect():
        pass  # the dialect's first-connect probes happen here, before recording starts
    server.engine = engine
    server.recording = True
    return server


def test_everything_the_store_sends_to_sql_server_is_parametrised_tsql(server):
    store = LeadStore(IdentDatabase(engine=server.engine), "site")
    assert store.db.dialect == "mssql"
    leads, rejects = validate_leads(
        [
            {"Id": "1", "DateAndTime": "2026-11-20T10:00:00+03:00", "ClientPhone": "89110000001"},
            {"Id": "2", "DateAndTime": "2026-11-20T11:00:00+03:00", "ClientPhone": "89110000002",
             "PlanStart": "2026-11-21T10:00:00+03:00", "PlanEnd": "2026-11-21T10:30:00+03:00"},
            {"Id": "3", "DateAndTime": "2026-11-20T11:00:00+03:00"},
        ],
        ZoneInfo("Europe/Moscow"),
    )  # fmt: skip
    now = datetime.now(UTC)
    store.sync_state(enabled_today=date(2026, 11, 24))
    commits_before_load = server.commits
    result = store.save(3, leads, rejects, (now - timedelta(days=1), now))
    assert server.commits == commits_before_load + 1  # leads, rejects and watermark: one transaction
    store.log_exchanges([Exchange("GET", "http://x/GetTickets", 200, 5, None)])
    assert (result.new, result.rejected) == (2, 1)

    sent = server.statements
    assert {sql.split()[0] for sql, _ in sent} == {"SELECT", "INSERT", "UPDATE"}
    for sql, rows in sent:
        assert not NOT_TSQL.search(sql), sql
        placeholders = set(re.findall(r"%\((\w+)\)s", sql))
        for row in rows:
            assert set(row) == placeholders, sql  # every placeholder bound, nothing extra
            assert not any(isinstance(v, datetime) and v.tzinfo for v in row.values()), "pymssql gets naive UTC"
    inserted = {re.search(r"INSERT INTO (\w+)", sql).group(1) for sql, _ in sent if sql.startswith("INSERT")}
    assert inserted == {"ident_sync_state", "ident_leads", "ident_rejects", "ident_exchange_log"}
    (lead_rows,) = [rows for sql, rows in sent if sql.startswith("INSERT INTO ident_leads")]
    assert [row["created_at"] for row in lead_rows] == [datetime(2026, 11, 20, 7, 0), datetime(2026, 11, 20, 8, 0)]
    assert lead_rows[1]["plan_start"] == datetime(2026, 11, 21, 7, 0)  # clinic time stored as UTC
    # Bulk writes are plain executemany: no OUTPUT clause waiting for rows a batch cannot return.
    assert not any("OUTPUT inserted" in sql for sql, _ in sent)


def test_the_schedule_store_sends_parametrised_tsql_with_naive_utc(server):
    from ident_integrations.records.patients import Patient
    from ident_integrations.records.schedule import Appointment, Branch, Doctor, WorkInterval
    from ident_integrations.store.schedule import ScheduleStore

    store = ScheduleStore(IdentDatabase(engine=server.engine))
    msk = ZoneInfo("Europe/Moscow")
    start = datetime(2026, 12, 1, 9, 0, tzinfo=msk)
    store.replace(
        branches=[Branch(1, "На Тверской", "Europe/Moscow")],
        doctors=[Doctor(1, "Иванова Анна Сергеевна", "Ортодонт")],
        doctor_branches=[(1, 1)],
        work_intervals=[WorkInterval(1, 1, start, start + timedelta(hours=6))],
        patients=[Patient(1, "Смирнова", "Ольга")],
        appointments=[Appointment(1, 1, 1, start, start + timedelta(minutes=30), "planned", 1)],
        added_at=datetime(2026, 11, 1, tzinfo=UTC),
    )
    store.set_slot_minutes(30)
    snap = store.snapshot(start, start + timedelta(days=30))
    assert snap.slot_minutes == 15  # the recording returns no rows: the default

    sent = server.statements
    for sql, rows in sent:
        assert not NOT_TSQL.search(sql), sql
        for row in rows:
            assert set(row) == set(re.findall(r"%\((\w+)\)s", sql)), sql
            assert not any(isinstance(v, datetime) and v.tzinfo for v in row.values()), "pymssql gets naive UTC"
    deleted = [re.search(r"DELETE FROM (\w+)", sql).group(1) for sql, _ in sent if sql.startswith("DELETE")]
    assert deleted[0] == "ident_doctor_export" and deleted[-1] == "ident_branches" and len(deleted) == 8
    (shift_rows,) = [rows for sql, rows in sent if sql.startswith("INSERT INTO ident_work_intervals")]
    assert shift_rows[0]["starts_at"] == datetime(2026, 12, 1, 6, 0)  # Moscow 09:00 stored as UTC
    (doctor_rows,) = [rows for sql, rows in sent if sql.startswith("INSERT INTO ident_doctors")]
    assert doctor_rows[0]["created_at"] == datetime(2026, 11, 1) and doctor_rows[0]["active"] == 1  # a BIT
    reads = [sql for sql, _ in sent if sql.startswith("SELECT") and "ident_appointments" in sql]
    assert reads and all("starts_at < %(" in sql and "ends_at > %(" in sql for sql in reads)  # the overlap
