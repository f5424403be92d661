"""Lead DAGs of every lead source but clinic_http (tests/e2e/test_lead_dag.py) run end to end with
dag.test(): the real DAG file, the sandbox over HTTP (UIS, Flexbe, NaPopravku) or the clinic's own
MariaDB tables (clinic_db), and the IDENT database on MariaDB. Per source: the happy path (bad
records quarantined with their reason while the rest loads, the Asset announced), a second run
that adds exactly the one new lead, a run that survives 5xx, a timeout and a rate limit, and an
auth failure that fails the run at once with the service's own message and the alert."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import pytest
import requests

from tests.conftest import MYSQL_HOST, MYSQL_PORT, _mysql_connect, mysql_connection_json
from tests.e2e.test_lead_dag import asset_events, import_result
from tests.helpers import connection_json, dags_for, query

CONN_ID = "lead_source"
TIMEOUT_SECONDS = 1.5  # the run's request timeout; the slow answer comes later than this
SLOW_MS = 2500
ATTEMPTS = 5  # enough for 2 × 503, a timeout and a rate limit in a row on one request
MOSCOW = ZoneInfo("Europe/Moscow")
pytestmark = pytest.mark.e2e


class Source:
    """One lead source as the tests drive it: its connection, what it shows now, what it was given."""

    service: ClassVar[str]
    auth_status: ClassVar[int | None]  # the HTTP status of the refused request in the exchange log
    auth_message: ClassVar[str]  # the service's own words for a bad key
    limit_status: ClassVar[int] = 200  # the HTTP status its rate limit comes with
    limit_message: ClassVar[str] = ""

    def __init__(self, sandbox, monkeypatch, request) -> None:
        self.sandbox, self.monkeypatch = sandbox, monkeypatch
        self.name = f"e{uuid.uuid4().hex[:10]}"  # a fresh account/site/tenant of the sandbox per test
        self.bad_id = self.new_id = ""

    @property
    def start(self) -> datetime:
        """The integration's start_date at 00:00 clinic time: older than every generated lead."""
        return datetime.combine((self.sandbox.start_time - timedelta(days=4)).date(), datetime.min.time(), MOSCOW)

    def leads_block(self) -> dict:
        return {"start_date": self.start.date().isoformat()}

    def connect(self, *, good: bool = True) -> str:
        """Point CONN_ID at the source (with a wrong secret unless ``good``); returns the conn id."""
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", self.connection(good))
        return CONN_ID

    def connection(self, good: bool) -> str:
        raise NotImplementedError

    def key(self, good: bool) -> str:
        return self.sandbox.key if good else "wrong-" + self.sandbox.key[:8]

    def visible(self) -> set[str]:
        """Ids of the leads the source shows now, asked through its API (not the code under test)."""
        raise NotImplementedError

    def defects(self) -> set[str]:
        """Ids of the visible leads that are bad on purpose (the emulator's defects and ours)."""
        raise NotImplementedError

    def add_bad(self) -> None:
        """Add a lead without a phone (``bad_id``)."""
        raise NotImplementedError

    def add_new(self) -> None:
        """Add a good lead made 30 s ago (``new_id``)."""
        raise NotImplementedError

    def arm_rate_limit(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass

    def wall(self, seconds_ago: float) -> datetime:
        return (self.sandbox.now() - timedelta(seconds=seconds_ago)).astimezone(MOSCOW).replace(microsecond=0)


class Uis(Source):
    service = "uis"
    auth_status = 200  # JSON-RPC: every answer is HTTP 200
    auth_message = "Access token is invalid"
    limit_message = "Limit per minute has been exceeded"

    def connection(self, good: bool) -> str:
        host = f"{self.sandbox.base_url}/uis/{self.name}/v2.0"
        return connection_json(conn_type="ident_uis", host=host, password=self.key(good))

    def visible(self) -> set[str]:
        answer = self.sandbox.uis_rpc(
            self.name, "get.offline_messages_report", date_from=self.sandbox._uis_time(self.start),
            date_till=self.sandbox._uis_time(self.sandbox.now()), fields=["id"], limit=10_000,
        )  # fmt: skip
        return {str(row["id"]) for row in answer["result"]["data"]}

    def defects(self) -> set[str]:
        generated = self.sandbox._control("GET", f"/uis/{self.name}/offline_message_defects")["defects"]
        return set(generated) | {self.bad_id}

    def _add(self, n: int, phone: str | None) -> str:
        row = {"id": 990_000_000 + n, "date_time": self.sandbox._uis_time(self.wall(60 - n)), "text": "Перезвоните",
               "form_type": "standard", "form_name": "Заявка с сайта", "visitor_name": "Анна Иванова",
               "visitor_phone_number": phone, "visitor_email": None, "group_name": None}  # fmt: skip
        self.sandbox._control("POST", f"/uis/{self.name}/offline_messages", json=row)
        return str(row["id"])

    def add_bad(self) -> None:
        self.bad_id = self._add(1, None)

    def add_new(self) -> None:
        self.new_id = self._add(2, "79110000002")

    def arm_rate_limit(self) -> None:
        self.sandbox.uis_set_limits(self.name, minute_reset=1)  # the hook waits out a 1-second window
        self.sandbox.uis_force_error(self.name, "limit_exceeded")

    def cleanup(self) -> None:
        self.sandbox.uis_reset(self.name)


class Flexbe(Source):
    service = "flexbe"
    auth_status = 200  # Flexbe's errors come with HTTP 200
    auth_message = "Invalid API key"
    limit_message = "Request limit exceeded"

    def connection(self, good: bool) -> str:
        host = f"{self.sandbox.base_url}/flexbe/{self.name}"
        return connection_json(conn_type="ident_flexbe", host=host, password=self.key(good))

    def visible(self) -> set[str]:
        url, ids, start = f"{self.sandbox.base_url}/flexbe/{self.name}/mod/api/", set(), 0
        while True:
            form = {"api_key": self.sandbox.key, "method": "getLeads", "date_from": int(self.start.timestamp()),
                    "start": start, "count": 500}  # fmt: skip
            leads = requests.post(url, data=form, timeout=30).json()["data"]["leads"] or {}
            ids |= {str(lead["id"]) for lead in leads.values()}
            if len(leads) < 500:
                return ids
            start += 500

    def defects(self) -> set[str]:
        return set(self.sandbox._control("GET", f"/flexbe/{self.name}/defects")["defects"]) | {self.bad_id}

    def _add(self, n: int, phone: str) -> str:
        lead = {
            "id": 990_000_000 + n, "num": n, "time": int(self.wall(60 - n).timestamp()),
            "status": {"code": 0, "name": "Новая"}, "client": {"name": "Мария Петрова", "phone": phone, "email": ""},
            "note": "", "form_name": "Обратный звонок",
            "form_data": {"1": {"id": "1", "name": "Имя", "type": "name", "value": "Мария Петрова"}},
            "page": {"url": f"{self.name}.example", "name": "Стоматология"}, "utm": {"utm_source": "vk", "url": ""},
        }  # fmt: skip
        self.sandbox._control("POST", f"/flexbe/{self.name}/leads", json=lead)
        return str(lead["id"])

    def add_bad(self) -> None:
        self.bad_id = self._add(1, "")

    def add_new(self) -> None:
        self.new_id = self._add(2, "+7 (916) 123-45-67")

    def arm_rate_limit(self) -> None:
        self.sandbox._control("POST", f"/flexbe/{self.name}/errors", json={"code": 1, "count": 1})

    def cleanup(self) -> None:
        self.sandbox._control("DELETE", f"/flexbe/{self.name}/state")


class NaPopravku(Source):
    service = "napopravku"
    auth_status = 401
    auth_message = "Unauthenticated."
    limit_status = 429
    limit_message = "Too Many Attempts."

    def leads_block(self) -> dict:
        return {}  # the service gives what is not yet acknowledged, whatever the window

    def connection(self, good: bool) -> str:
        host = f"{self.sandbox.base_url}/napopravku/{self.name}/api/v1"
        return connection_json(conn_type="ident_napopravku", host=host, password=self.key(good))

    def _unreceived(self) -> list[dict]:
        url = f"{self.sandbox.base_url}/napopravku/{self.name}/api/v1/appointments"
        headers = {"Accept": "application/json", "Authorization": f"Bearer {self.sandbox.key}"}
        query = "is_received=0&is_cancelled=0&paging[page]=1&paging[per_page]=100"
        result = requests.get(f"{url}?{query}", headers=headers, timeout=30).json()["result"]
        assert result["meta"]["last_page"] <= 1  # small data: one page
        return result["items"]

    def visible(self) -> set[str]:
        return {item["uuid"] for item in self._unreceived()}

    def defects(self) -> set[str]:
        return {item["uuid"] for item in self._unreceived() if item.get("patient_phone") in (None, "")} | {self.bad_id}

    def _add(self, n: int, phone: str | None) -> str:
        start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, hours=n)
        end = start + timedelta(minutes=30)
        body = {
            "clinic": {"id": 1, "name": "Клиника на Невском", "mis_clinic_id": "1"},
            "doctor": {"id": 7, "name": "Смирнова Ольга Викторовна", "mis_doctor_id": "12"},
            "start_time": f"{start:%Y-%m-%d %H:%M:%S}", "end_time": f"{end:%Y-%m-%d %H:%M:%S}",
            "patient_surname": "Иванова", "patient_firstname": "Анна", "patient_father_name": None,
            "patient_phone": phone, "patient_email": None, "comment": "Хочу на чистку", "source": "site",
        }  # fmt: skip
        return self.sandbox._control("POST", f"/napopravku/{self.name}/appointments", json=body)["stored"]["uuid"]

    def add_bad(self) -> None:
        self._add(0, "+79115550001")  # the first run needs a few good ones: the history is all received
        self._add(1, "89115550002")
        self.bad_id = self._add(2, None)

    def add_new(self) -> None:
        self.new_id = self._add(3, "+79115550003")

    def arm_rate_limit(self) -> None:
        self.sandbox._control("PUT", f"/napopravku/{self.name}/throttle", json={"count": 1, "retry_after": 1})

    def cleanup(self) -> None:
        self.sandbox._control("DELETE", f"/napopravku/{self.name}/state")


TICKETS = """`Id` VARCHAR(40) NOT NULL, `DateAndTime` DATETIME NOT NULL, `ClientPhone` VARCHAR(40) NULL,
    `ClientFullName` VARCHAR(200) NULL, `FormName` VARCHAR(200) NULL, `UtmSource` VARCHAR(100) NULL"""


class ClinicDb(Source):
    """The clinic's own ``Tickets`` table in a MariaDB database of its own."""

    service = "clinic_db"
    auth_status = None  # SQL: no HTTP status
    auth_message = "Access denied for user 'no_such_user'"

    def __init__(self, sandbox, monkeypatch, request) -> None:
        super().__init__(sandbox, monkeypatch, request)
        self.database = request.getfixturevalue("empty_mariadb")
        self.db = _mysql_connect(self.database)
        now = datetime.now(MOSCOW).replace(tzinfo=None, microsecond=0)
        rows = [(f"t{n}", now - timedelta(hours=7 * n + 1), f"8 (911) 000-00-{n:02d}", f"Клиент {n}", "Запись", "ya")
                for n in range(1, 9)]  # fmt: skip
        self.execute(f"CREATE TABLE Tickets ({TICKETS}) CHARACTER SET utf8mb4")
        self.insert(rows)

    @property
    def start(self) -> datetime:
        return datetime.combine((datetime.now(MOSCOW) - timedelta(days=4)).date(), datetime.min.time(), MOSCOW)

    def execute(self, sql: str) -> None:
        with self.db.cursor() as cur:
            cur.execute(sql)
        self.db.commit()

    def insert(self, rows: list[tuple]) -> None:
        with self.db.cursor() as cur:
            cur.executemany("INSERT INTO Tickets VALUES (%s, %s, %s, %s, %s, %s)", rows)
        self.db.commit()

    def connection(self, good: bool) -> str:
        if good:
            return mysql_connection_json(self.database)
        return connection_json(conn_type="mysql", host=MYSQL_HOST, port=MYSQL_PORT, login="no_such_user",
                               password="pw-3b7e1", schema=self.database)  # fmt: skip

    def visible(self) -> set[str]:
        return {row[0] for row in query(self.db, "SELECT Id FROM Tickets")}

    def defects(self) -> set[str]:
        return {self.bad_id}

    def _add(self, n: int, phone: str) -> str:
        moment = datetime.now(MOSCOW).replace(tzinfo=None, microsecond=0) - timedelta(seconds=60 - n)
        self.insert([(f"t9{n}", moment, phone, "Новый Клиент", "Обратный звонок", None)])
        return f"t9{n}"

    def add_bad(self) -> None:
        self.bad_id = self._add(1, "")

    def add_new(self) -> None:
        self.new_id = self._add(2, "+79210000002")

    def cleanup(self) -> None:
        self.db.close()


SOURCES = {source.service: source for source in (Uis, Flexbe, NaPopravku, ClinicDb)}
HTTP_SOURCES = ("uis", "flexbe", "napopravku")


@pytest.fixture
def source(request, sandbox, monkeypatch):
    made = SOURCES[request.param](sandbox, monkeypatch, request)
    made.connect()
    yield made
    made.cleanup()
    if made.service != "clinic_db":
        sandbox.reset_faults(made.service)


@pytest.fixture
def lead_dag(airflow_metadata_db, source, ident_mysql, tmp_path, monkeypatch):
    """ident_leads__<service> from the real DAG file, configured by a test integrations file."""

    config = {
        "defaults": {
            "request_backoff_seconds": 0.05, "request_attempts": ATTEMPTS, "timeout_seconds": TIMEOUT_SECONDS,
            "task_retries": 0,
        },
        "integrations": [
            {"name": source.service, "service": source.service, "conn_id": CONN_ID, "leads": source.leads_block()}
        ],
    }  # fmt: skip
    dags = dags_for(config, tmp_path, monkeypatch)
    return dags[f"ident_leads__{source.service}"]


def stored_ids(conn) -> list[str]:
    return [row[0] for row in query(conn, "SELECT external_id FROM ident_leads ORDER BY external_id")]


def exchanges(conn) -> list[tuple[Any, ...]]:
    return query(conn, "SELECT http_status, error_text FROM ident_exchange_log ORDER BY id")


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
def test_every_lead_is_stored_or_quarantined_and_a_second_run_adds_only_the_new_one(
    lead_dag, source, sandbox, ident_mysql
):
    source.add_bad()
    visible, bad = source.visible(), source.defects()
    assert source.bad_id in visible and bad <= visible and len(visible) > len(bad)

    first = lead_dag.test()

    assert first.state == "success"
    counts = import_result(first)
    good = visible - bad
    assert (counts["fetched"], counts["new"], counts["rejected"]) == (len(visible), len(good), len(bad))
    assert stored_ids(ident_mysql) == sorted(good)
    reasons = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    assert set(reasons) == bad and all(reason.strip() for reason in reasons.values())
    assert "ClientPhone is required" in reasons[source.bad_id]
    assert asset_events(first) == [{"integration": source.service, "new": len(good)}]

    source.add_new()
    second = lead_dag.test()

    assert second.state == "success"
    again = import_result(second)
    assert (again["new"], again["updated"]) == (1, 0)
    assert stored_ids(ident_mysql) == sorted(good | {source.new_id})  # each once: nothing duplicated
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_rejects") == [(len(bad),)]
    assert asset_events(second) == [{"integration": source.service, "new": 1}]
    if source.service == "napopravku":  # every appointment answered: none left for the service to cancel
        assert sandbox._control("GET", f"/napopravku/{source.name}/stats")["unreceived"] == 0


@pytest.mark.parametrize("source", HTTP_SOURCES, indirect=True)
def test_5xx_a_timeout_and_a_rate_limit_are_survived(lead_dag, source, sandbox, ident_mysql, caplog):
    source.add_bad()
    visible, bad = source.visible(), source.defects()
    sandbox.set_faults(source.service, fail_next=2, slow_next=1, slow_ms=SLOW_MS)
    source.arm_rate_limit()  # after the fault middleware: the first request that reaches the service

    run = lead_dag.test()

    assert run.state == "success"
    assert stored_ids(ident_mysql) == sorted(visible - bad)
    log = exchanges(ident_mysql)
    assert [status for status, _ in log[:3]] == [503, 503, None]
    assert log[2][1] == f"no answer within {TIMEOUT_SECONDS:g} s"
    assert log[3][0] == source.limit_status and source.limit_message in log[3][1]
    assert log[4] == (200, None) and all(error is None for _, error in log[4:])
    assert f"attempt 3 of {ATTEMPTS} failed" in caplog.text  # the hook's retries, not the task's
    faults = sandbox.faults()[source.service]
    assert (faults["fail_next"], faults["slow_next"]) == (0, 0)
    if source.service == "napopravku":  # the 429's Retry-After (1 s) is waited, not the backoff (0.4 s)
        assert re.search(r"attempt 4 of \d+ failed \(.*Too Many Attempts.*\); retrying in 1\.0 s", caplog.text)


@pytest.mark.parametrize("source", ["clinic_db"], indirect=True)
def test_clinic_db_a_missing_table_or_column_fails_the_run_naming_it(lead_dag, source, ident_mysql, caplog):
    """Leads need their table and its Id and ClientPhone columns (the calls' variant is covered in
    tests/integration/test_clinic_db.py)."""
    source.execute("RENAME TABLE Tickets TO Tickets_old")
    run = lead_dag.test()
    assert run.state == "failed"
    assert "the database has no table 'Tickets'" in caplog.text
    assert len(exchanges(ident_mysql)) == 1  # not retried: a table does not appear by asking again
    assert "IDENT ALERT: ident_leads__clinic_db.import_leads failed" in caplog.text

    caplog.clear()
    source.execute(f"CREATE TABLE Tickets ({TICKETS.replace('`ClientPhone` VARCHAR(40) NULL,', '')})")
    run = lead_dag.test()
    assert run.state == "failed"
    assert "table 'Tickets' has no column(s) ClientPhone" in caplog.text
    assert "IDENT ALERT: ident_leads__clinic_db.import_leads failed" in caplog.text
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(0,)]


@pytest.mark.parametrize("source", list(SOURCES), indirect=True)
def test_an_auth_failure_fails_the_run_at_once_with_the_services_message(lead_dag, source, ident_mysql, caplog):
    source.add_bad()
    source.connect(good=False)

    run = lead_dag.test()

    assert run.state == "failed"
    ((status, error),) = exchanges(ident_mysql)  # one request: no retry of a refused key
    assert status == source.auth_status and source.auth_message in error
    assert source.auth_message in caplog.text
    assert f"IDENT ALERT: ident_leads__{source.service}.import_leads failed" in caplog.text
    assert "attempt 1 of" not in caplog.text
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(0,)]
    assert "wrong-" not in error and "pw-3b7e1" not in error  # the secret is never logged
