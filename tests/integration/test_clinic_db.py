"""Calls and leads from the clinic's own tables (service clinic_db, IDENT's "Вариант с базой данных"):
a real MariaDB database the test creates, with tables whose columns carry IDENT's field names, read
by import_calls / import_leads into the IDENT database (another MariaDB database). Passing faults
are real ones of MariaDB: a table locked by another session past the hook's lock wait, a connection
killed while its query waits."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_hooks.clinic_db import ClinicDbHook
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError
from ident_integrations.capabilities.calls import import_calls
from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PASSWORD,
    MYSQL_PORT,
    MYSQL_USER,
    _mysql_connect,
    mysql_connection_json,
)
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


# -- passing faults of the clinic's database ------------------------------------------------------
LEAD_INSERT = "INSERT INTO web_tickets (Id, DateAndTime, ClientPhone, ClientFullName) VALUES (%s, %s, %s, %s)"


def ticket_rows(count: int) -> list[tuple]:
    """``count`` good tickets of the last hours (clinic wall time), oldest first, Ids l01, l02, …"""
    now = datetime.now(MOSCOW).replace(tzinfo=None, microsecond=0)
    return [(f"l{n:02d}", now - timedelta(minutes=10 * (count - n) + 5), f"+7921000{n:04d}", f"Клиент {n}")
            for n in range(1, count + 1)]  # fmt: skip


@pytest.fixture
def tickets(empty_mariadb):
    """The clinic's database with web_tickets holding ticket_rows(10); yields (database, rows)."""
    conn = _mysql_connect(empty_mariadb)
    rows = ticket_rows(10)
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE web_tickets ({TICKETS}) CHARACTER SET utf8mb4")
        cur.executemany(LEAD_INSERT, rows)
    conn.commit()
    conn.close()
    return empty_mariadb, rows


def clinic_connection(database: str, **session: int) -> str:
    """The clinic's database as a MySQL connection whose sessions start with ``SET SESSION <session>``
    (the provider's ``init_command`` extra, as a clinic would shorten a lock wait)."""
    settings = ", ".join(f"{name} = {value}" for name, value in session.items())
    extra = {"charset": "utf8mb4", **({"init_command": f"SET SESSION {settings}"} if settings else {})}
    return connection_json(conn_type="mysql", host=MYSQL_HOST, port=MYSQL_PORT, login=MYSQL_USER,
                           password=MYSQL_PASSWORD, schema=database, extra=json.dumps(extra))  # fmt: skip


def test_a_lock_wait_timeout_mid_paging_is_retried_and_every_row_is_read_once(tickets, monkeypatch):
    database, rows = tickets
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_LOCKED", clinic_connection(database, lock_wait_timeout=1))
    locker = _mysql_connect(database)  # the clinic's own software, in a session of its own
    exchanges = []

    def record(exchange):
        """After the first page the clinic's software takes the table; it lets go once a read has failed."""
        exchanges.append(exchange)
        with locker.cursor() as cur:
            if exchange.error is not None:
                cur.execute("UNLOCK TABLES")
            elif exchange.url.endswith("offset 0"):
                cur.execute("LOCK TABLES web_tickets WRITE")

    hook = ClinicDbHook("clinic_locked", request_attempts=3, request_backoff_seconds=0.05, on_exchange=record)
    now = datetime.now(UTC)
    try:
        pages = list(hook.iter_rows("web_tickets", "DateAndTime", now - timedelta(days=1), now, tz=MOSCOW,
                                    required=("Id",), page_size=4))  # fmt: skip
    finally:
        locker.close()

    assert [[row["Id"] for row in page] for page in pages] == [
        [row[0] for row in rows[first : first + 4]] for first in range(0, len(rows), 4)
    ]  # every row once, in order: the failed page was asked again, not skipped or read twice
    steps = [(exchange.url.split(" ")[-1] if "offset" in exchange.url else exchange.url, exchange.error)
             for exchange in exchanges]  # fmt: skip
    assert steps == [
        ("describe web_tickets", None),
        ("0", None),
        ("4", "(1205, 'Lock wait timeout exceeded; try restarting transaction')"),
        ("4", None),
        ("8", None),
    ]
    assert exchanges[2].duration_ms >= 900  # it waited the session's lock_wait_timeout (1 s) for the lock


def test_a_connection_killed_during_a_lead_import_is_retried_and_nothing_is_lost_or_duplicated(
    tickets, ident_mysql, monkeypatch
):
    database, rows = tickets
    # A bound on the wait, should the kill below not come: the test then fails instead of hanging.
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_LEADS", clinic_connection(database, lock_wait_timeout=20))
    settings = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.2, "request_attempts": 3},
            "integrations": [
                {"name": "web", "service": "clinic_db", "conn_id": "clinic_leads",
                 "leads": {"table": "web_tickets", "page_size": 3,
                           "start_date": (datetime.now(MOSCOW) - timedelta(days=1)).date().isoformat()}},
            ],
        },
        "test",
    ).resolve("web", "leads")  # fmt: skip
    locker, admin = _mysql_connect(database), _mysql_connect()
    with locker.cursor() as cur:
        cur.execute("LOCK TABLES web_tickets WRITE")  # the import's first read waits for the table
    killed: list[int] = []

    def kill_the_waiting_read():
        """Kill the session of the import's read once it waits for the lock, then release the table."""
        deadline = time.monotonic() + 15
        try:
            while time.monotonic() < deadline and not killed:
                waiting = query(admin, "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND STATE = "
                                "'Waiting for table metadata lock' AND INFO LIKE 'SELECT%%'", (database,))  # fmt: skip
                for (session,) in waiting:
                    with admin.cursor() as cur:
                        cur.execute(f"KILL CONNECTION {int(session)}")
                    killed.append(session)
                time.sleep(0.02)
        finally:
            with locker.cursor() as cur:
                cur.execute("UNLOCK TABLES")

    killer = threading.Thread(target=kill_the_waiting_read)
    killer.start()
    try:
        result = import_leads(settings)
    finally:
        killer.join()
        locker.close()
        admin.close()

    assert len(killed) == 1
    assert (result.fetched, result.new, result.updated, result.rejected) == (len(rows), len(rows), 0, 0)
    stored = query(ident_mysql, "SELECT external_id, phone FROM ident_leads ORDER BY external_id")
    assert stored == [(row[0], row[2]) for row in rows]  # each ticket once: none lost, none twice
    log = query(ident_mysql, "SELECT url, error_text FROM ident_exchange_log ORDER BY id")
    assert [(url.split(" ")[-1] if "offset" in url else url, error) for url, error in log] == [
        ("describe web_tickets", None),
        ("0", "(2013, 'Lost connection to server during query')"),  # a passing fault: asked again
        ("0", None),
        ("3", None),
        ("6", None),
        ("9", None),
    ]
    assert import_leads(settings).new == 0  # and a later run finds nothing new
