"""Calls and leads from the clinic's own tables (service clinic_db, IDENT's "Вариант с базой данных"):
a real MariaDB database the test creates, with tables whose columns carry IDENT's field names, read
by import_calls / import_leads into the IDENT database (another MariaDB database)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_hooks.clinic_db import ClinicDbHook
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError
from ident_integrations.capabilities.calls import import_calls
from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from tests.conftest import MYSQL_HOST, MYSQL_PORT, MYSQL_USER, _mysql_connect, mysql_connection_json
from tests.helpers import as_utc, connection_json, query

MOSCOW = ZoneInfo("Europe/Moscow")
COLUMNS = """
    `Id` VARCHAR(40) NULL,
    `DateAndTime` DATETIME NOT NULL,
    `Direction` VARCHAR(8) NULL,
    `PhoneFrom` VARCHAR(32) NULL,
    `PhoneTo` VARCHAR(32) NULL,
    `WaitInSeconds` INT NULL,
    `TalkInSeconds` INT NULL,
    `LineDescription` VARCHAR(100) NULL,
    `RecordUrl` VARCHAR(500) NULL,
    `UtmSource` VARCHAR(100) NULL, `UtmMedium` VARCHAR(100) NULL, `UtmCampaign` VARCHAR(100) NULL,
    `UtmTerm` VARCHAR(100) NULL, `UtmContent` VARCHAR(100) NULL,
    `HttpReferer` VARCHAR(500) NULL
"""
INSERT = (
    "INSERT INTO {table} (Id, DateAndTime, Direction, PhoneFrom, PhoneTo, WaitInSeconds, TalkInSeconds,"
    " LineDescription, RecordUrl, UtmSource, UtmMedium, UtmCampaign, UtmTerm, UtmContent, HttpReferer)"
    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
)


def today() -> datetime:
    return datetime.now(MOSCOW).replace(hour=0, minute=0, second=0, microsecond=0)


def call_row(n: int, moment: datetime, **changes) -> tuple:
    """One row of the clinic's call table; clinic (Moscow) wall time, as such a table keeps it."""
    row = {
        "Id": f"c{n}",
        "DateAndTime": moment.astimezone(MOSCOW).replace(tzinfo=None),
        "Direction": "in" if n % 4 else "out",
        "PhoneFrom": f"7911{n:07d}",
        "PhoneTo": "78121234567",
        "WaitInSeconds": 5 + n % 20,
        "TalkInSeconds": None if n % 7 == 0 else 30 + n,
        "LineDescription": "Основная линия",
        "RecordUrl": None if n % 7 == 0 else f"https://pbx.example/rec/{n}.mp3",
        "UtmSource": "yandex",
        "UtmMedium": "cpc",
        "UtmCampaign": "implant",
        "UtmTerm": None,
        "UtmContent": None,
        "HttpReferer": "https://ya.ru/",
        **changes,
    }
    return tuple(row.values())


@pytest.fixture
def clinic_tables(empty_mariadb, monkeypatch):
    """The clinic's database with FinishedCalls (3 closed days + today, every 20 min) and OngoingCalls."""
    conn = _mysql_connect(empty_mariadb)
    start = today() - timedelta(days=3)
    rows = [call_row(n, start + timedelta(minutes=20 * n)) for n in range(3 * 72 + 30)]
    rows = [row for row in rows if row[1] <= datetime.now(MOSCOW).replace(tzinfo=None) - timedelta(minutes=5)]
    with conn.cursor() as cur:
        for table in ("FinishedCalls", "OngoingCalls"):
            cur.execute(f"CREATE TABLE {table} ({COLUMNS}) CHARACTER SET utf8mb4")
        cur.executemany(INSERT.format(table="FinishedCalls"), rows)
        cur.execute(
            INSERT.format(table="FinishedCalls"),
            call_row(9001, start + timedelta(hours=5), Id="bad-negative", TalkInSeconds=-12),  # IDENT's own example
        )
        cur.execute(INSERT.format(table="FinishedCalls"), call_row(9002, start + timedelta(hours=6), Direction="x"))
        cur.execute(
            INSERT.format(table="OngoingCalls"),
            call_row(9100, datetime.now(MOSCOW) - timedelta(minutes=2), Id="now-1", TalkInSeconds=60),
        )
    conn.commit()
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_CALLS", mysql_connection_json(empty_mariadb))
    yield conn, rows, start
    conn.close()


def settings_for(**calls):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {
                    "name": "pbx",
                    "service": "clinic_db",
                    "conn_id": "clinic_calls",
                    "calls": {"ongoing_table": "OngoingCalls", **calls},
                }
            ],
        },
        "test",
    )
    return config.resolve("pbx", "calls")


def test_first_run_reads_every_row_from_the_start_date_page_by_page(clinic_tables, ident_mysql):
    conn, rows, start = clinic_tables
    settings = settings_for(start_date=start.date().isoformat(), page_limit=50, max_report_days=2)

    result = import_calls(settings)

    assert result.fetched == len(rows) + 2 and result.new == len(rows) and result.rejected == 2
    stored = query(ident_mysql, "SELECT external_id, started_at, direction, is_lost, contact_phone FROM ident_calls")
    assert {row[0] for row in stored} == {row[0] for row in rows}
    by_id = {row[0]: row for row in stored}
    first = by_id["c1"]
    assert as_utc(first[1]) == (start + timedelta(minutes=20)).astimezone(UTC)  # clinic wall time read as such
    assert first[2:] == ("in", 0, "+79110000001")
    assert by_id["c0"][2:4] == ("out", 1)  # no talk: lost; outgoing: the contact is the callee
    reasons = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    assert "talk_seconds" in reasons["bad-negative"] and "direction" in reasons["c9002"]
    raw = json.loads(query(ident_mysql, "SELECT raw_payload FROM ident_calls WHERE external_id = 'c2'")[0][0])
    assert raw["RecordUrl"] == "https://pbx.example/rec/2.mp3" and raw["LineDescription"] == "Основная линия"
    assert query(ident_mysql, "SELECT external_id FROM ident_ongoing_calls") == [("now-1",)]
    exchanges = [row[0] for row in query(ident_mysql, "SELECT url FROM ident_exchange_log")]
    assert any("offset 50" in url for url in exchanges) and all(MYSQL_USER + ":" not in url for url in exchanges)


def test_a_second_run_changes_nothing_and_picks_up_a_correction(clinic_tables, ident_mysql):
    conn, rows, start = clinic_tables
    settings = settings_for(start_date=start.date().isoformat())
    import_calls(settings)
    loaded = query(ident_mysql, "SELECT external_id, last_loaded_at FROM ident_calls ORDER BY external_id")

    with conn.cursor() as cur:  # yesterday's call gets its recording late: the clinic fixes its table
        cur.execute("UPDATE FinishedCalls SET RecordUrl = 'https://pbx.example/late.mp3' WHERE Id = 'c150'")
    conn.commit()
    again = import_calls(settings)

    assert (again.new, again.updated) == (0, 1)
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_calls")[0][0] == len(loaded)
    assert json.loads(query(ident_mysql, "SELECT record_urls FROM ident_calls WHERE external_id = 'c150'")[0][0]) == [
        "https://pbx.example/late.mp3"
    ]


def test_a_missing_column_or_table_is_a_clear_error(clinic_tables, ident_mysql):
    conn, _, start = clinic_tables
    with pytest.raises(ServiceResponseError, match="no table 'NoSuchCalls'"):
        import_calls(settings_for(start_date=start.date().isoformat(), table="NoSuchCalls"))
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE OngoingCalls DROP COLUMN TalkInSeconds")
    conn.commit()
    with pytest.raises(ServiceResponseError, match=r"no column\(s\) TalkInSeconds"):
        import_calls(settings_for(start_date=start.date().isoformat()))


def test_a_refused_login_fails_at_once(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_CLINIC_BAD",
        connection_json(conn_type="mysql", host=MYSQL_HOST, port=MYSQL_PORT, login="no_such_user", password="pw-7f3c9"),
    )
    exchanges = []
    hook = ClinicDbHook("clinic_bad", request_attempts=3, request_backoff_seconds=0.01, on_exchange=exchanges.append)
    with pytest.raises(ServiceAuthError, match="refused the login"):
        hook.table("FinishedCalls")
    assert len(exchanges) == 1 and "Access denied" in exchanges[0].error
    assert all("pw-7f3c9" not in f"{e}" for e in exchanges)
    ok, message = hook.test_connection()
    assert not ok and "refused the login" in message


TICKETS = """
    `Id` VARCHAR(40) NOT NULL, `DateAndTime` DATETIME NOT NULL, `ClientPhone` VARCHAR(40) NULL,
    `ClientEmail` VARCHAR(100) NULL, `ClientFullName` VARCHAR(200) NULL, `ClientSurname` VARCHAR(100) NULL,
    `ClientName` VARCHAR(100) NULL, `ClientPatronymic` VARCHAR(100) NULL, `FormName` VARCHAR(200) NULL,
    `DoctorId` INT NULL, `DoctorName` VARCHAR(200) NULL, `PlanStart` DATETIME NULL, `PlanEnd` DATETIME NULL,
    `Comment` TEXT NULL, `UtmSource` VARCHAR(100) NULL, `UtmMedium` VARCHAR(100) NULL,
    `UtmCampaign` VARCHAR(100) NULL, `UtmTerm` VARCHAR(100) NULL, `UtmContent` VARCHAR(100) NULL,
    `HttpReferer` VARCHAR(500) NULL
"""


def test_leads_from_the_clinics_table_by_idents_window_rule(empty_mariadb, ident_mysql, monkeypatch):
    conn = _mysql_connect(empty_mariadb)
    now = datetime.now(MOSCOW).replace(tzinfo=None, microsecond=0)
    rows = [
        ("t1", now - timedelta(days=2, hours=3), "8 (911) 123-45-67", "Иванова Анна Сергеевна", None, None,
         now + timedelta(days=3), now + timedelta(days=3, minutes=30), "Имплантация", "yandex"),
        ("t2", now - timedelta(hours=5), "+79210000002", None, "Петров", "Иван", None, None, "Брекеты", None),
        ("t3", now - timedelta(hours=1), "", "Без Телефона", None, None, None, None, None, None),  # rejected
    ]  # fmt: skip
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE web_tickets ({TICKETS}) CHARACTER SET utf8mb4")
        cur.executemany(
            "INSERT INTO web_tickets (Id, DateAndTime, ClientPhone, ClientFullName, ClientSurname, ClientName,"
            " PlanStart, PlanEnd, Comment, UtmSource) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )
    conn.commit()
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_LEADS", mysql_connection_json(empty_mariadb))
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {"name": "web", "service": "clinic_db", "conn_id": "clinic_leads",
                 "leads": {"table": "web_tickets", "start_date": (now - timedelta(days=3)).date().isoformat()}},
            ],
        },
        "test",
    )  # fmt: skip
    settings = config.resolve("web", "leads")

    first = import_leads(settings)

    assert (first.fetched, first.new, first.rejected) == (3, 2, 1)
    stored = dict(query(ident_mysql, "SELECT external_id, phone FROM ident_leads"))
    assert stored == {"t1": "+79111234567", "t2": "+79210000002"}
    plan_start, created = query(ident_mysql, "SELECT plan_start, created_at FROM ident_leads WHERE external_id = 't1'")[
        0
    ]
    assert as_utc(plan_start) == (rows[0][6].replace(tzinfo=MOSCOW)).astimezone(UTC)  # clinic time in the table
    assert as_utc(created) == (rows[0][1].replace(tzinfo=MOSCOW)).astimezone(UTC)
    assert "ClientPhone" in query(ident_mysql, "SELECT reason FROM ident_rejects")[0][0]
    # the next window starts at 00:00 of the newest stored lead's day: t1 (two days ago) is not re-read
    second = import_leads(settings)
    assert second.fetched == 2 and (second.new, second.updated) == (0, 0)
    conn.close()
