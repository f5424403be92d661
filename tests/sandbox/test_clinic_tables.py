"""The clinic's own database the sandbox keeps (``--clinic-db``): a SQLite Tickets table with the
generator's back catalogue and live leads, read through the clinic_db service's own hook."""

from __future__ import annotations

import sqlite3
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_hooks.clinic_db import ClinicDbHook
from ident_integrations.records.leads import validate_leads
from sandbox.__main__ import parse_args
from sandbox.clinic_tables import COLUMNS, TENANT
from sandbox.demo_data import LEADS_PER_DAY, LeadGenerator
from sandbox.testing import SandboxServer
from tests.helpers import connection_json

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MSK)
DAYS = 2
BACK = DAYS * LEADS_PER_DAY
LIVE = 0.5  # seconds between live leads


def rows(path) -> list[dict]:
    with sqlite3.connect(path) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute("SELECT * FROM Tickets ORDER BY DateAndTime, Id")]


def wait_for(predicate, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


@pytest.fixture
def generator() -> LeadGenerator:
    return LeadGenerator(42, TENANT, START, MSK, days=DAYS, live_interval=LIVE)


@pytest.fixture
def clinic_db(tmp_path):
    return tmp_path / "clinic.db"


@pytest.fixture
def sb(clinic_db):
    with SandboxServer(
        seed=42, days=DAYS, start_time=START, live_interval=LIVE, live_call_interval=0,
        log_requests=False, clinic_db=str(clinic_db),
    ) as server:  # fmt: skip
        yield server


def test_the_table_has_idents_ticket_columns_and_the_back_catalogue_at_start_up(sb, clinic_db, generator):
    with sqlite3.connect(clinic_db) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(Tickets)")]
        timetable = [row[1] for row in conn.execute("PRAGMA table_info(TimeTable)")]
        assert conn.execute("SELECT COUNT(*) FROM TimeTable").fetchone() == (0,)  # the export fills it
    assert columns == list(COLUMNS)
    from ident_integrations.services.clinic_db import REQUIRED_TIMETABLE_COLUMNS

    assert set(REQUIRED_TIMETABLE_COLUMNS) <= set(timetable)  # what the schedule export needs
    assert {"Id", "DateAndTime", "ClientPhone", "ClientFullName", "PlanStart", "HttpReferer"} <= set(columns)

    back = rows(clinic_db)[:BACK]  # live leads may follow already (the first one at START + LIVE)
    assert [r["Id"] for r in back] == [generator.lead(i).id for i in range(BACK)]
    for r, i in zip(back, range(BACK), strict=True):
        lead = generator.lead(i)
        # clinic wall time without a zone, to the second, in SQLAlchemy's SQLite text form
        assert r["DateAndTime"] == f"{lead.arrival.astimezone(MSK):%Y-%m-%d %H:%M:%S}.000000"
        for name in ("ClientFullName", "ClientSurname", "FormName", "DoctorId", "Comment", "UtmSource"):
            assert r[name] == lead.ticket.get(name), (lead.id, name)
        phone = lead.ticket.get("ClientPhone")
        assert r["ClientPhone"] == (None if phone is None else str(phone))
        if "PlanStart" in lead.ticket:
            assert r["PlanStart"] == f"{datetime.fromisoformat(lead.ticket['PlanStart']):%Y-%m-%d %H:%M:%S}.000000"
    # the HTTP emulator's defects come along: a missing and an empty phone, both name forms …
    defects = {generator.lead(i).id: generator.defect(i) for i in range(BACK) if generator.defect(i)}
    assert len(defects) == BACK // 10
    by_id = {r["Id"]: r for r in back}
    kinds = set(defects.values())
    assert {"phone_missing", "phone_empty", "both_name_forms"} <= kinds
    for lead_id, kind in defects.items():
        if kind == "phone_missing":
            assert by_id[lead_id]["ClientPhone"] is None
        elif kind == "phone_empty":
            assert by_id[lead_id]["ClientPhone"] == ""


def test_live_leads_are_written_as_they_arrive(sb, clinic_db, generator):
    live = wait_for(lambda: rows(clinic_db)[BACK:])
    assert live[0]["Id"] == generator.lead(BACK).id
    assert live[0]["DateAndTime"] == f"{generator.arrival(BACK):%Y-%m-%d %H:%M:%S}.000000"
    assert sb.now() >= generator.arrival(BACK)
    # … and keep coming, in order, never ahead of the sandbox clock
    wait_for(lambda: len(rows(clinic_db)) >= BACK + 3)
    ids = [r["Id"] for r in rows(clinic_db)]
    assert ids == [generator.lead(i).id for i in range(len(ids))]
    assert generator.arrival(len(ids) - 1) <= sb.now()


def test_the_clinic_db_hook_reads_the_table_and_the_defects_are_rejected(sb, clinic_db, generator, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_TABLES", connection_json(conn_type="sqlite", host=str(clinic_db)))
    wait_for(lambda: len(rows(clinic_db)) > BACK)
    hook = ClinicDbHook("clinic_tables", request_backoff_seconds=0.01)
    window = (START - timedelta(days=DAYS + 1), START + timedelta(seconds=LIVE * 1.5))

    pages = list(
        hook.iter_rows("Tickets", "DateAndTime", *window, tz=MSK, required=("Id", "ClientPhone"), page_size=25)
    )

    read = [r for page in pages for r in page]
    assert [r["Id"] for r in read] == [generator.lead(i).id for i in range(BACK + 1)]
    assert len(pages) == -(-(BACK + 1) // 25)
    first = generator.lead(0)
    assert read[0]["DateAndTime"] == first.arrival.astimezone(MSK).replace(tzinfo=None, microsecond=0)
    leads, rejects = validate_leads(read, MSK)
    expected_rejects = {generator.lead(i).id for i in range(BACK + 1) if generator.defect(i)}
    assert {r.external_id for r in rejects} == expected_rejects
    assert len(leads) == BACK + 1 - len(expected_rejects)
    assert leads[0].created_at == first.arrival.replace(microsecond=0)  # the naive time read as clinic time


def test_a_restart_lays_the_table_out_afresh(clinic_db):
    def start(minutes: int):
        return SandboxServer(
            seed=42, days=DAYS, start_time=START + timedelta(minutes=minutes), live_interval=0, log_requests=False,
            clinic_db=str(clinic_db),
        )  # fmt: skip

    with start(0):
        first = {r["Id"] for r in rows(clinic_db)}
    with start(5) as server:
        second = {r["Id"] for r in rows(clinic_db)}
        assert server.app.state.clinic_tables.written == BACK
    assert len(first) == len(second) == BACK and not first & second  # new ids, no stale rows


def test_off_unless_a_path_is_given():
    assert parse_args([]).clinic_db is None
    assert parse_args(["--clinic-db", "/tmp/x.db"]).clinic_db == "/tmp/x.db"
    with SandboxServer(live_interval=0, log_requests=False) as server:
        assert server.app.state.clinic_tables is None


def test_a_new_start_empties_the_timetable_an_earlier_session_filled(clinic_db):
    """Like the other receivers, the clinic's TimeTable starts empty: an earlier demo's rows would
    pass for this session's export."""
    settings = dict(seed=42, days=DAYS, start_time=START, live_interval=0, live_call_interval=0, log_requests=False,
                    clinic_db=str(clinic_db))  # fmt: skip
    with SandboxServer(**settings):
        with sqlite3.connect(clinic_db) as conn:
            conn.execute("INSERT INTO TimeTable VALUES (1, 1, '2025-03-11 09:00:00', 15, 0, NULL, NULL)")
    with SandboxServer(**settings):
        with sqlite3.connect(clinic_db) as conn:
            assert conn.execute("SELECT COUNT(*) FROM TimeTable").fetchone() == (0,)
