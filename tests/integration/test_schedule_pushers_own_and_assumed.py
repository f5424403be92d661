"""The schedule pushers of the clinic's own service (PostTimeTable over HTTP, the timetable table)
and of the assumed contracts (SberZdorovye, 32top), end to end: a small ScheduleExport built by hand
(2 branches, one in Yekaterinburg; 3 doctors; free and busy slots over two dates) goes through each
service's payload and push with the real hook, to the sandbox over HTTP (or to a real MariaDB /
SQLite table), and what arrived is checked field by field."""

from __future__ import annotations

import gzip
import json
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import requests

from ident_hooks.clinic_db import ClinicDbHook
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError
from ident_integrations.capabilities.schedule import ScheduleExport, ScheduleSettings
from ident_integrations.config import RequestSettings, ResolvedCapability
from ident_integrations.records.schedule import Branch, Doctor, ScheduleSnapshot, Slot
from ident_integrations.registry import SERVICES
from tests.conftest import _mysql_connect, mysql_connection_json
from tests.helpers import connection_json, query, schedule_settings

# -- the export ------------------------------------------------------------------------------------
NEVSKY = Branch(1, "На Невском", "Europe/Moscow", "Невский пр., 1")  # UTC+3
EKB = Branch(2, "В Екатеринбурге", "Asia/Yekaterinburg", "ул. Ленина, 5")  # UTC+5
IVANOVA = Doctor(1, "Иванова Анна Сергеевна", "Стоматолог-терапевт")
PETROV = Doctor(2, "Петров Пётр Ильич", "Стоматолог-хирург")
SIDOROVA = Doctor(3, "Сидорова Мария Павловна", "Ортодонт")
DAY1, DAY2 = date(2026, 5, 12), date(2026, 5, 13)


def slot(branch: Branch, doctor: Doctor, utc: str, minutes: int, status: str = "free") -> Slot:
    start = datetime.fromisoformat(utc).replace(tzinfo=UTC)
    from zoneinfo import ZoneInfo

    local = start.astimezone(ZoneInfo(branch.timezone)).date().isoformat()
    return Slot(branch.id, doctor.id, start, start + timedelta(minutes=minutes), status, local)


FREE = (
    slot(NEVSKY, IVANOVA, "2026-05-12T07:00", 15),  # 10:00 Moscow
    slot(NEVSKY, IVANOVA, "2026-05-12T07:15", 15),
    slot(NEVSKY, IVANOVA, "2026-05-12T08:00", 15),  # 11:00, after the busy half hour
    slot(NEVSKY, PETROV, "2026-05-12T06:00", 15),  # 09:00 Moscow
    slot(EKB, PETROV, "2026-05-13T05:00", 15),  # 10:00 Yekaterinburg, next day
    slot(EKB, SIDOROVA, "2026-05-12T04:00", 15),  # 09:00 Yekaterinburg
    slot(EKB, SIDOROVA, "2026-05-13T13:00", 15),  # 18:00 Yekaterinburg
)
BUSY = (
    slot(NEVSKY, IVANOVA, "2026-05-12T07:30", 30, "busy"),  # 10:30-11:00 Moscow
    slot(NEVSKY, PETROV, "2026-05-12T06:15", 45, "busy"),  # 09:15-10:00 Moscow
    slot(EKB, PETROV, "2026-05-13T05:15", 30, "busy"),  # 10:15-10:45 Yekaterinburg
    slot(EKB, SIDOROVA, "2026-05-13T13:15", 45, "busy"),  # 18:15-19:00 Yekaterinburg
)
EXPORT = ScheduleExport(
    snapshot=ScheduleSnapshot(
        branches=(EKB, NEVSKY),  # not in id order: the payloads sort
        doctors=(SIDOROVA, IVANOVA, PETROV),
        doctor_branches=((1, 1), (2, 1), (2, 2), (3, 2)),
        work_intervals=(),
        appointments=(),
    ),
    free=FREE,
    busy=BUSY,
    first_date=DAY1,
    last_date=DAY2,
    generated_at=datetime(2026, 5, 12, 3, 0, tzinfo=UTC),
)


def settings_for(service: str, conn_id: str, **schedule) -> ResolvedCapability:
    request = RequestSettings(request_attempts=2, request_backoff_seconds=0.01, timeout_seconds=10)
    return schedule_settings(service, conn_id, request, **schedule)


def push(service: str, settings: ResolvedCapability, export: ScheduleExport = EXPORT):
    """What a schedule run does with its export: the service's payload, then its push with the real hook."""
    pusher = SERVICES[service].source("schedule")
    payload = pusher.payload(export, settings)
    json.dumps(payload)  # JSON-ready, as the run compares and stores it
    exchanges: list = []
    result = pusher.push(SERVICES[service].hook(settings, exchanges.append), payload, settings)
    return payload, result, exchanges


@pytest.fixture
def name(sandbox):
    value = f"push-{uuid.uuid4().hex[:8]}"
    yield value
    for service in ("clinic_http", "top32", "sberzdorovie"):
        sandbox.reset_faults(service)


def received(sandbox, service: str, name: str) -> dict:
    return sandbox._control("GET", f"/{service}/{name}/received")


def the_push(sandbox, service: str, name: str, payload) -> dict:
    """The one push ``service`` accepted for ``name`` (its body, encoding…), checked to be ``payload``."""
    shown = received(sandbox, service, name)
    assert shown["accepted"] == 1
    assert shown["last"]["body"] == payload
    return shown["last"]


def set_conn(monkeypatch, conn_id: str, **fields) -> str:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(**fields))
    return conn_id


# -- the clinic's own service: PostTimeTable -----------------------------------------------------------
def clinic_conn(monkeypatch, sandbox, tenant, *, compress=None, key=None) -> str:
    extra = {} if compress is None else {"compress": compress}
    return set_conn(
        monkeypatch, "schedule_clinic_http", conn_type="ident_clinic_http",
        host=f"{sandbox.base_url}/clinic_http/{tenant}", password=sandbox.key if key is None else key,
        extra=json.dumps(extra),
    )  # fmt: skip


def interval(doctor: int, branch: int, start: str, minutes: int, busy: bool) -> dict:
    return {"DoctorId": doctor, "BranchId": branch, "StartDateTime": start, "LengthInMinutes": minutes, "IsBusy": busy}


EXPECTED_INTERVALS = [  # branch, doctor, start: free and busy, in each branch's own offset
    interval(1, 1, "2026-05-12T10:00:00+03:00", 15, False),
    interval(1, 1, "2026-05-12T10:15:00+03:00", 15, False),
    interval(1, 1, "2026-05-12T10:30:00+03:00", 30, True),
    interval(1, 1, "2026-05-12T11:00:00+03:00", 15, False),
    interval(2, 1, "2026-05-12T09:00:00+03:00", 15, False),
    interval(2, 1, "2026-05-12T09:15:00+03:00", 45, True),
    interval(2, 2, "2026-05-13T10:00:00+05:00", 15, False),
    interval(2, 2, "2026-05-13T10:15:00+05:00", 30, True),
    interval(3, 2, "2026-05-12T09:00:00+05:00", 15, False),
    interval(3, 2, "2026-05-13T18:00:00+05:00", 15, False),
    interval(3, 2, "2026-05-13T18:15:00+05:00", 45, True),
]


@pytest.mark.parametrize("compress", [None, False, True, "true"], ids=["no-extra", "off", "on", "on-as-text"])
def test_post_timetable_arrives_field_by_field_gzip_when_asked(sandbox, name, monkeypatch, compress):
    settings = settings_for("clinic_http", clinic_conn(monkeypatch, sandbox, name, compress=compress))

    payload, result, exchanges = push("clinic_http", settings)

    pushed = the_push(sandbox, "clinic_http", name, payload)
    body = pushed["body"]
    assert body["Doctors"] == [
        {"Id": 1, "Name": "Иванова Анна Сергеевна"},
        {"Id": 2, "Name": "Петров Пётр Ильич"},
        {"Id": 3, "Name": "Сидорова Мария Павловна"},
    ]
    assert body["Branches"] == [{"Id": 1, "Name": "На Невском"}, {"Id": 2, "Name": "В Екатеринбурге"}]
    assert body["Intervals"] == EXPECTED_INTERVALS
    assert pushed["content_encoding"] == ("gzip" if compress in (True, "true") else "identity")
    assert result.sent == 11 and result.requests == 1
    assert "free 7, busy 4" in result.detail
    assert [(e.method, e.status) for e in exchanges] == [("POST", 200)]
    assert sandbox.key not in repr(exchanges)


def test_the_gzip_body_is_smaller_and_is_the_same_json(sandbox, name, monkeypatch):
    """What the hook sends compressed is the plain body gzipped: decompress it and compare."""
    from ident_hooks.clinic_http import ClinicHttpHook

    hook = ClinicHttpHook(clinic_conn(monkeypatch, sandbox, name, compress=True))
    body = {"Doctors": [], "Branches": [], "Intervals": []}
    big = SERVICES["clinic_http"].source("schedule").payload(EXPORT, settings_for("clinic_http", "x"))
    compressed_size = hook.post_timetable(big)
    plain = json.dumps(big, ensure_ascii=False, separators=(",", ":")).encode()

    assert compressed_size == len(gzip.compress(plain, mtime=0)) < len(plain)
    assert hook.post_timetable(body) > 0
    assert received(sandbox, "clinic_http", name)["last"]["body"] == body


def test_an_excluded_doctor_is_left_out_of_doctors_only_where_the_rules_apply(sandbox, name, monkeypatch):
    extra = Doctor(4, "Кузнецов Олег Игоревич", exported=False)
    export = ScheduleExport(
        snapshot=ScheduleSnapshot(
            branches=EXPORT.snapshot.branches, doctors=(*EXPORT.snapshot.doctors, extra),
            doctor_branches=(*EXPORT.snapshot.doctor_branches, (4, 1)), work_intervals=(), appointments=(),
        ),
        free=FREE, busy=BUSY, first_date=DAY1, last_date=DAY2, generated_at=EXPORT.generated_at,
    )  # fmt: skip
    conn_id = clinic_conn(monkeypatch, sandbox, name)

    with_rules = push("clinic_http", settings_for("clinic_http", conn_id, use_rules=True), export)[0]
    without = push("clinic_http", settings_for("clinic_http", conn_id), export)[0]

    assert [d["Id"] for d in with_rules["Doctors"]] == [1, 2, 3]
    assert [d["Id"] for d in without["Doctors"]] == [1, 2, 3, 4]


def test_a_rejected_timetable_raises_quoting_the_service_s_errors(sandbox, name, monkeypatch):
    """Two intervals of one doctor overlapping (a data error upstream): the service's 400 text is in the error."""
    overlapping = ScheduleExport(
        snapshot=EXPORT.snapshot,
        free=(*FREE, slot(NEVSKY, IVANOVA, "2026-05-12T07:40", 15)),  # inside the busy 10:30-11:00
        busy=BUSY, first_date=DAY1, last_date=DAY2, generated_at=EXPORT.generated_at,
    )  # fmt: skip
    settings = settings_for("clinic_http", clinic_conn(monkeypatch, sandbox, name))

    with pytest.raises(ServiceResponseError) as info:
        push("clinic_http", settings, overlapping)

    assert "400" in str(info.value)
    assert "PostTimeTable rejected: 1 error(s)" in str(info.value)
    assert "overlaps Intervals[2] (DoctorId 1)" in str(info.value)
    assert received(sandbox, "clinic_http", name)["accepted"] == 0


@pytest.mark.parametrize("how", ["wrong-key", "revoked"])
def test_an_auth_failure_of_post_timetable_fails_at_once(sandbox, name, monkeypatch, how):
    conn_id = clinic_conn(monkeypatch, sandbox, name, key="wrong" if how == "wrong-key" else None)
    if how == "revoked":
        sandbox.set_faults("clinic_http", auth_failure=True)
    settings = settings_for("clinic_http", conn_id)
    settings = ResolvedCapability(**{**settings.__dict__, "request": RequestSettings(request_attempts=4)})

    with pytest.raises(ServiceAuthError):
        _, _, exchanges = push("clinic_http", settings)
    stats = sandbox.stats(name)["requests_by_status"]
    assert sum(stats.values()) == 1  # one request, no retry


def test_a_transient_503_is_retried(sandbox, name, monkeypatch):
    settings = settings_for("clinic_http", clinic_conn(monkeypatch, sandbox, name))
    sandbox.set_faults("clinic_http", fail_next=1)

    _, result, exchanges = push("clinic_http", settings)

    assert [e.status for e in exchanges] == [503, 200] and result.sent == 11


# -- SberZdorovye (assumed contract) -------------------------------------------------------------------
def sber_conn(monkeypatch, sandbox, account, *, password=None, login="partner.77") -> str:
    return set_conn(
        monkeypatch, "schedule_sber", conn_type="ident_sberzdorovie",
        host=f"{sandbox.base_url}/sberzdorovie/{account}/mis/v1", login=login,
        password=sandbox.key if password is None else password,
    )  # fmt: skip


def test_sberzdorovie_gets_buildings_doctors_and_free_slots_in_each_building_s_offset(sandbox, name, monkeypatch):
    settings = settings_for("sberzdorovie", sber_conn(monkeypatch, sandbox, name))

    payload, result, exchanges = push("sberzdorovie", settings)

    body = the_push(sandbox, "sberzdorovie", name, payload)["body"]
    assert (body["date_from"], body["date_to"]) == ("2026-05-12", "2026-05-13")
    nevsky, ekb = body["buildings"]
    assert {k: nevsky[k] for k in ("id", "name", "address", "timezone")} == {
        "id": "1", "name": "На Невском", "address": "Невский пр., 1", "timezone": "Europe/Moscow"
    }  # fmt: skip
    assert (ekb["id"], ekb["timezone"]) == ("2", "Asia/Yekaterinburg")
    assert [(d["id"], d["name"], d["speciality"]) for d in nevsky["doctors"]] == [
        ("1", "Иванова Анна Сергеевна", "Стоматолог-терапевт"),
        ("2", "Петров Пётр Ильич", "Стоматолог-хирург"),
    ]
    assert nevsky["doctors"][0]["slots"] == [
        {"start": "2026-05-12T10:00:00+03:00", "end": "2026-05-12T10:15:00+03:00"},
        {"start": "2026-05-12T10:15:00+03:00", "end": "2026-05-12T10:30:00+03:00"},
        {"start": "2026-05-12T11:00:00+03:00", "end": "2026-05-12T11:15:00+03:00"},
    ]  # free only: the busy 10:30-11:00 is not there
    assert nevsky["doctors"][1]["slots"] == [{"start": "2026-05-12T09:00:00+03:00", "end": "2026-05-12T09:15:00+03:00"}]
    assert [d["id"] for d in ekb["doctors"]] == ["2", "3"]
    assert ekb["doctors"][0]["slots"] == [{"start": "2026-05-13T10:00:00+05:00", "end": "2026-05-13T10:15:00+05:00"}]
    assert ekb["doctors"][1]["slots"] == [
        {"start": "2026-05-12T09:00:00+05:00", "end": "2026-05-12T09:15:00+05:00"},
        {"start": "2026-05-13T18:00:00+05:00", "end": "2026-05-13T18:15:00+05:00"},
    ]
    assert result.sent == 7 and [(e.method, e.status) for e in exchanges] == [("PUT", 200)]


def test_a_rejected_sberzdorovie_push_quotes_the_field_errors(sandbox, name, monkeypatch):
    """A building's timezone that does not match its slots' offsets cannot come from the pusher: break
    the body the way a wrong mapping would, and send it through the real hook."""
    from ident_hooks.sberzdorovie import SberZdorovieHook

    body = SERVICES["sberzdorovie"].source("schedule").payload(EXPORT, settings_for("sberzdorovie", "x"))
    body["buildings"][1]["timezone"] = "Europe/Moscow"  # the Yekaterinburg offsets no longer match
    hook = SberZdorovieHook(sber_conn(monkeypatch, sandbox, name), request_backoff_seconds=0.01)

    with pytest.raises(ServiceResponseError) as info:
        hook.put_schedule(body)

    text = str(info.value)
    assert "SberZdorovye rejected PUT schedule: Validation failed: 6 error(s)" in text
    assert "buildings[1].doctors[0].slots[0].start: 2026-05-13T10:00:00+05:00 is not in the building's offset" in text
    assert "(HTTP 400)" in text


@pytest.mark.parametrize("how", ["wrong-password", "no-login", "revoked"])
def test_an_auth_failure_of_sberzdorovie_fails_at_once(sandbox, name, monkeypatch, how):
    conn_id = sber_conn(
        monkeypatch, sandbox, name, password="nope" if how == "wrong-password" else None,
        login="" if how == "no-login" else "partner.77",
    )  # fmt: skip
    if how == "revoked":
        sandbox.set_faults("sberzdorovie", auth_failure=True)
    settings = settings_for("sberzdorovie", conn_id)

    with pytest.raises(ServiceAuthError) as info:
        push("sberzdorovie", settings)

    assert ("no login" in str(info.value)) == (how == "no-login")
    assert received(sandbox, "sberzdorovie", name)["accepted"] == 0


def test_sberzdorovie_connection_test(sandbox, name, monkeypatch):
    from ident_hooks.sberzdorovie import SberZdorovieHook

    ok, message = SberZdorovieHook(sber_conn(monkeypatch, sandbox, name)).test_connection()
    assert ok and "Стоматология «Дента»" in message


# -- 32top (assumed contract) -------------------------------------------------------------------------
def top32_conn(monkeypatch, sandbox, account, key=None) -> str:
    return set_conn(
        monkeypatch, "schedule_top32", conn_type="ident_top32",
        host=f"{sandbox.base_url}/top32/{account}/api/partner/v1", password=sandbox.key if key is None else key,
    )  # fmt: skip


def test_top32_gets_doctors_by_surname_with_free_slots_per_local_date(sandbox, name, monkeypatch):
    settings = settings_for("top32", top32_conn(monkeypatch, sandbox, name))

    payload, result, exchanges = push("top32", settings)

    body = the_push(sandbox, "top32", name, payload)["body"]
    assert (body["date_from"], body["date_to"]) == ("2026-05-12", "2026-05-13")
    assert body["branches"] == [
        {"id": "1", "name": "На Невском", "timezone": "Europe/Moscow"},
        {"id": "2", "name": "В Екатеринбурге", "timezone": "Asia/Yekaterinburg"},
    ]
    entries = {(d["id"], d["branch_id"]): d for d in body["doctors"]}
    assert list(entries) == [("1", "1"), ("2", "1"), ("2", "2"), ("3", "2")]
    assert [(d["surname"], d["full_name"]) for d in body["doctors"]] == [
        ("Иванова", "Иванова Анна Сергеевна"),
        ("Петров", "Петров Пётр Ильич"),
        ("Петров", "Петров Пётр Ильич"),
        ("Сидорова", "Сидорова Мария Павловна"),
    ]
    assert entries[("1", "1")]["dates"] == [
        {"date": "2026-05-12", "slots": [{"time": "10:00", "duration": 15}, {"time": "10:15", "duration": 15},
                                         {"time": "11:00", "duration": 15}]}
    ]  # fmt: skip
    assert entries[("2", "2")]["dates"] == [{"date": "2026-05-13", "slots": [{"time": "10:00", "duration": 15}]}]
    assert entries[("3", "2")]["dates"] == [
        {"date": "2026-05-12", "slots": [{"time": "09:00", "duration": 15}]},  # 04:00 UTC, local time in Yekaterinburg
        {"date": "2026-05-13", "slots": [{"time": "18:00", "duration": 15}]},
    ]
    assert result.sent == 7 and [(e.method, e.status) for e in exchanges] == [("PUT", 200)]


def test_a_rejected_top32_push_quotes_its_validation_details(sandbox, name, monkeypatch):
    from ident_hooks.top32 import Top32Hook

    body = SERVICES["top32"].source("schedule").payload(EXPORT, settings_for("top32", "x"))
    body["doctors"][0]["dates"][0]["slots"][1]["time"] = "10:10"  # inside 10:00 + 15
    hook = Top32Hook(top32_conn(monkeypatch, sandbox, name), request_backoff_seconds=0.01)

    with pytest.raises(ServiceResponseError) as info:
        hook.put_schedule(body)

    text = str(info.value)
    assert "32top rejected PUT schedule: The schedule is invalid" in text
    assert "doctors[0].dates[0].slots[1].time: overlaps doctors[0].dates[0].slots[0]" in text
    assert "(validation_error, HTTP 422)" in text


def test_an_auth_failure_of_top32_fails_at_once(sandbox, name, monkeypatch):
    settings = settings_for("top32", top32_conn(monkeypatch, sandbox, name, key="wrong"))

    with pytest.raises(ServiceAuthError, match="32top refused PUT schedule: Invalid API key"):
        push("top32", settings)
    stats = sandbox._control("GET", f"/top32/{name}/stats")
    assert stats["errors_by_code"] == {"unauthorized": 1}


# -- the clinic's own tables: the timetable table ----------------------------------------------------------
MARIADB_TABLE = """
CREATE TABLE {name} (
    Id INT AUTO_INCREMENT PRIMARY KEY,
    DoctorId INT NOT NULL,
    BranchId INT NOT NULL,
    StartDateTime DATETIME NOT NULL,
    LengthInMinutes INT NOT NULL CHECK (LengthInMinutes <= {limit}),
    IsBusy BOOLEAN NOT NULL,
    DoctorName VARCHAR(200) NULL,
    BranchName VARCHAR(200) NULL
) CHARACTER SET utf8mb4
"""
SQLITE_TABLE = """
CREATE TABLE {name} (
    Id INTEGER PRIMARY KEY AUTOINCREMENT,
    DoctorId INTEGER NOT NULL,
    BranchId INTEGER NOT NULL,
    StartDateTime DATETIME NOT NULL,
    LengthInMinutes INTEGER NOT NULL CHECK (LengthInMinutes <= {limit}),
    IsBusy BOOLEAN NOT NULL
)
"""
INSERT = "INSERT INTO {name} (DoctorId, BranchId, StartDateTime, LengthInMinutes, IsBusy) VALUES ({marks})"
KEPT = [  # outside the horizon 2026-05-12 00:00 .. 2026-05-14 00:00 (wall time): kept
    (1, 1, "2026-05-11 23:45:00", 15, 0),
    (2, 2, "2026-05-14 00:00:00", 15, 0),
]
REPLACED = [  # inside it: replaced
    (1, 1, "2026-05-12 00:00:00", 15, 0),
    (9, 1, "2026-05-13 12:00:00", 60, 1),
    (3, 2, "2026-05-13 23:59:00", 15, 0),
]


@pytest.fixture(params=["mariadb", "sqlite"])
def timetable_db(request, monkeypatch, tmp_path):
    """The clinic's database with a timetable table (a check constraint lets a test make an insert fail
    mid-way), rows inside and outside the horizon; yields (plain DB-API connection, table, conn_id)."""
    table = "TimeTable" if request.param == "mariadb" else "Schedule_Rows"

    def create(conn, sql, marks, limit):
        cur = conn.cursor()
        cur.execute(sql.format(name=table, limit=limit))
        cur.executemany(INSERT.format(name=table, marks=marks), KEPT + REPLACED)
        conn.commit()
        cur.close()

    if request.param == "mariadb":
        database = request.getfixturevalue("empty_mariadb")
        conn = _mysql_connect(database)
        create(conn, MARIADB_TABLE, "%s, %s, %s, %s, %s", 60)
        monkeypatch.setenv("AIRFLOW_CONN_CLINIC_TIMETABLE", mysql_connection_json(database))
    else:
        import sqlite3

        path = tmp_path / "clinic.db"
        conn = sqlite3.connect(path)
        create(conn, SQLITE_TABLE, "?, ?, ?, ?, ?", 60)
        monkeypatch.setenv("AIRFLOW_CONN_CLINIC_TIMETABLE", connection_json(conn_type="sqlite", host=str(path)))
    yield conn, table, request.param
    conn.close()


def rows(conn, table: str) -> list[tuple]:
    found = query(conn, f"SELECT DoctorId, BranchId, StartDateTime, LengthInMinutes, IsBusy FROM {table}")
    return sorted((d, b, str(s)[:19].replace("T", " "), n, int(busy)) for d, b, s, n, busy in found)


def names(conn, table: str) -> list[tuple]:
    return sorted(
        query(conn, f"SELECT DoctorId, DoctorName, BranchId, BranchName FROM {table} WHERE DoctorName IS NOT NULL")
    )


def expected_rows() -> list[tuple]:
    new = [
        (
            i["DoctorId"],
            i["BranchId"],
            i["StartDateTime"][:19].replace("T", " "),
            i["LengthInMinutes"],
            int(i["IsBusy"]),
        )
        for i in EXPECTED_INTERVALS
    ]
    return sorted(KEPT + new)


def test_the_horizon_is_replaced_and_rows_outside_it_are_kept(timetable_db):
    conn, table, kind = timetable_db
    settings = settings_for("clinic_db", "clinic_timetable", table=table)

    payload, result, exchanges = push("clinic_db", settings)

    assert (payload["from"], payload["to"]) == ("2026-05-12T00:00:00", "2026-05-14T00:00:00")
    assert rows(conn, table) == expected_rows()  # branch wall times: +03:00 and +05:00 rows side by side
    assert result.sent == 11 and "free 7, busy 4" in result.detail
    if kind == "mariadb":  # the optional name columns exist there, and are filled
        assert names(conn, table)[:3] == [
            (1, "Иванова Анна Сергеевна", 1, "На Невском"),
            (1, "Иванова Анна Сергеевна", 1, "На Невском"),
            (1, "Иванова Анна Сергеевна", 1, "На Невском"),
        ]
        assert (3, "Сидорова Мария Павловна", 2, "В Екатеринбурге") in names(conn, table)
    assert [e.method for e in exchanges] == ["SQL", "SQL"]  # describe, then the one transaction
    assert exchanges[-1].error is None and "REPLACE" in exchanges[-1].url

    push("clinic_db", settings)  # a second run replaces again: nothing doubles
    assert rows(conn, table) == expected_rows()


def test_a_failure_mid_way_leaves_the_table_as_it_was(timetable_db, monkeypatch):
    """A busy interval longer than the table allows fails the last chunk; the delete and the chunks
    before it roll back with it."""
    conn, table, _ = timetable_db
    before = rows(conn, table)
    long_busy = slot(EKB, SIDOROVA, "2026-05-13T14:00", 90, "busy")  # 19:00-20:30 Yekaterinburg: over 60 min
    export = ScheduleExport(
        snapshot=EXPORT.snapshot, free=FREE, busy=(*BUSY, long_busy),
        first_date=DAY1, last_date=DAY2, generated_at=EXPORT.generated_at,
    )  # fmt: skip
    monkeypatch.setattr(ClinicDbHook, "INSERT_CHUNK", 2)  # several INSERTs in the transaction before the bad one

    with pytest.raises(ServiceResponseError, match="(?i)constraint"):  # the insert failed, not a lookup
        push("clinic_db", settings_for("clinic_db", "clinic_timetable", table=table), export)

    assert rows(conn, table) == before


def test_a_table_without_a_required_column_is_named_in_the_error(timetable_db):
    conn, table, _ = timetable_db
    cur = conn.cursor()
    cur.execute("CREATE TABLE NoBusy (DoctorId INT, BranchId INT, StartDateTime DATETIME, LengthInMinutes INT)")
    conn.commit()
    cur.close()

    with pytest.raises(ServiceResponseError, match="table 'NoBusy' has no column\\(s\\) IsBusy"):
        push("clinic_db", settings_for("clinic_db", "clinic_timetable", table="NoBusy"))
    assert rows(conn, table) == sorted(KEPT + REPLACED)


def test_the_default_table_name_is_timetable():
    assert ScheduleSettings().table == "TimeTable"


def test_every_payload_is_deterministic():
    """The run skips an unchanged payload by comparing it: the same export gives the same JSON, whatever
    the order of the slots in it."""
    shuffled = ScheduleExport(
        snapshot=EXPORT.snapshot, free=tuple(reversed(FREE)), busy=tuple(reversed(BUSY)),
        first_date=DAY1, last_date=DAY2, generated_at=EXPORT.generated_at,
    )  # fmt: skip
    for service in ("clinic_http", "clinic_db", "sberzdorovie", "top32"):
        pusher = SERVICES[service].source("schedule")
        settings = settings_for(service, "x")
        assert json.dumps(pusher.payload(EXPORT, settings)) == json.dumps(pusher.payload(shuffled, settings)), service


def test_the_received_endpoint_is_loopback_json(sandbox, name):
    for service in ("clinic_http", "top32", "sberzdorovie"):
        answer = requests.get(f"{sandbox.base_url}/_sandbox/{service}/{name}/received", timeout=10)
        assert answer.status_code == 200 and answer.json()["accepted"] == 0 and answer.json()["last"] is None
