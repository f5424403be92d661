"""Small helpers shared by the tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar
from zoneinfo import ZoneInfo


def connection_json(**fields) -> str:
    from airflow.sdk import Connection

    return Connection(conn_id="x", **fields).as_json()


def schedule_settings(service: str, conn_id: str, request, **block):
    """The resolved ``schedule`` capability of a test integration ``<service>_test`` on ``conn_id``:
    ``request`` (a ``RequestSettings``), the schedule block from ``block``, defaults elsewhere."""
    from ident_integrations.capabilities.schedule import ScheduleSettings
    from ident_integrations.config import Clinic, ResolvedCapability, TaskSettings

    return ResolvedCapability(
        capability="schedule",
        integration=f"{service}_test",
        service=service,
        conn_id=conn_id,
        description="",
        clinic=Clinic(),
        block=ScheduleSettings(**block),
        request=request,
        task=TaskSettings(),
        sources={},
    )


def as_utc(value) -> datetime | None:
    """A date-time column read through plain DB-API (a datetime, or SQLite's text) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    """Read back through a plain DB-API connection (MySQLdb or sqlite3), outside the code under test."""
    conn.commit()  # see rows committed by other connections (MariaDB's repeatable read)
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = list(cur.fetchall())
    cur.close()
    return rows


def uis_call_ids(sandbox, account: str, start: datetime, end: datetime) -> set[str]:
    """Ids of the calls the sandbox's UIS account has started in [start, end), asked through its
    JSON-RPC API directly (not through the code under test); a window of at most 90 days."""
    import requests

    tz = ZoneInfo(sandbox.health()["timezone"])
    params = {
        "access_token": sandbox.key,
        "date_from": start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "date_till": (end - timedelta(seconds=1)).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
        "fields": ["id"],
        "limit": 10_000,
        "offset": 0,
    }
    ids: set[str] = set()
    while True:
        body = {"jsonrpc": "2.0", "id": 1, "method": "get.calls_report", "params": params}
        result = requests.post(f"{sandbox.base_url}/uis/{account}/v2.0", json=body, timeout=30).json()["result"]
        ids.update(str(row["id"]) for row in result["data"])
        params["offset"] += params["limit"]
        if params["offset"] >= result["metadata"]["total_items"]:
            return ids


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free now: the sockets are held open together, so that two
    services of one stack never get the same port (asked one by one, the kernel may repeat one)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port() -> int:
    return free_ports(1)[0]


def start_group(command: str, cwd: Path, env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """``bash -c command`` in a process group of its own (so that ``stop_group`` ends all of it),
    its output into ``log_path``."""
    log = open(log_path, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        ["bash", "-c", command], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def wait_until_up(probe: Callable[[], bool], proc: subprocess.Popen, seconds: float, interval: float) -> bool:
    """Call ``probe`` until it returns true (an OSError counts as not yet); False when ``proc`` ended
    or ``seconds`` passed first."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if probe():
                return True
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(interval)


def stop_group(proc: subprocess.Popen | None, timeout: float) -> None:
    """SIGTERM to the process group ``start_group`` made, SIGKILL once ``timeout`` has passed."""
    if proc is not None and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def parse_dags() -> dict:
    """The DAGs of the real DAG files, parsed for the integrations file the environment names; the
    test fails on an import error."""
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(Path(__file__).resolve().parents[1] / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.dags


def dags_for(config: dict, tmp_path: Path, monkeypatch) -> dict:
    """``config`` written as the integrations file (IDENT_INTEGRATIONS_FILE) and the DAGs of it."""
    import yaml

    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    return parse_dags()


def smsc_messages(sandbox, login: str) -> list[dict]:
    """What the sandbox's SMSC account ``login`` received (SMS and e-mails), in order."""
    return sandbox._control("GET", f"/smsc/{login}/messages")["messages"]


# -- lead sources as the tests drive them ---------------------------------------------------------
# One class per lead service: its connection (SOURCE_CONN_ID), what it shows now (asked through its
# API, not through the code under test), and how to give it a bad and a new lead. Used by the lead
# DAG tests (tests/e2e/test_lead_sources_dag.py, which keeps NaPopravku's) and the watch tests
# (tests/integration/test_lead_watch.py).

SOURCE_CONN_ID = "lead_source"
CLINIC_TZ = ZoneInfo("Europe/Moscow")  # the sandbox's and the clinic databases' timezone
# The clinic's own leads table (service clinic_db) of ClinicDbSource.
CLINIC_TICKETS = """`Id` VARCHAR(40) NOT NULL, `DateAndTime` DATETIME NOT NULL, `ClientPhone` VARCHAR(40) NULL,
    `ClientFullName` VARCHAR(200) NULL, `FormName` VARCHAR(200) NULL, `UtmSource` VARCHAR(100) NULL"""


class SourceSetup:
    """One lead source as the tests drive it: its connection, what it shows now, what it was given."""

    service: ClassVar[str]
    conn_id: ClassVar[str] = SOURCE_CONN_ID
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
        return datetime.combine((self.sandbox.start_time - timedelta(days=4)).date(), datetime.min.time(), CLINIC_TZ)

    def leads_block(self) -> dict:
        return {"start_date": self.start.date().isoformat()}

    def connect(self, *, good: bool = True) -> str:
        """Point ``conn_id`` at the source (with a wrong secret unless ``good``); returns the conn id."""
        self.monkeypatch.setenv(f"AIRFLOW_CONN_{self.conn_id.upper()}", self.connection(good))
        return self.conn_id

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

    def add_new(self, n: int = 2) -> None:
        """Add a good lead made about a minute ago (``new_id``); another ``n`` (from 2 up) adds another."""
        raise NotImplementedError

    def arm_rate_limit(self) -> None:
        raise NotImplementedError

    def cleanup(self) -> None:
        pass

    def wall(self, seconds_ago: float) -> datetime:
        return (self.sandbox.now() - timedelta(seconds=seconds_ago)).astimezone(CLINIC_TZ).replace(microsecond=0)


class ClinicHttpSource(SourceSetup):
    """The clinic's own HTTP API (IDENT's protocol), a tenant of the sandbox."""

    service = "clinic_http"

    def connection(self, good: bool) -> str:
        return connection_json(conn_type="ident_clinic_http", host=f"{self.sandbox.base_url}/clinic_http/{self.name}",
                               password=self.key(good))  # fmt: skip

    def visible(self) -> set[str]:
        import requests

        window = {"dateTimeFrom": self.start.isoformat(), "dateTimeTo": self.sandbox.now().isoformat()}
        tickets = requests.get(self.sandbox.url(self.name), params=window, headers=self.sandbox.headers, timeout=30)
        return {str(ticket["Id"]) for ticket in tickets.json()}

    def defects(self) -> set[str]:
        return set(self.sandbox.defects(self.name)) | {self.bad_id}

    def _add(self, n: int, phone: str) -> str:
        ticket = {"Id": str(990_000_000 + n), "DateAndTime": self.wall(60 - n).isoformat(), "ClientPhone": phone,
                  "ClientFullName": "Иванова Анна Сергеевна", "FormName": "Запись на приём"}  # fmt: skip
        self.sandbox.add_ticket(self.name, ticket)
        return ticket["Id"]

    def add_bad(self) -> None:
        self.bad_id = self._add(1, "")

    def add_new(self, n: int = 2) -> None:
        self.new_id = self._add(n, "89110000002")


class UisSource(SourceSetup):
    service = "uis"
    auth_status = 200  # JSON-RPC: every answer is HTTP 200
    auth_message = "Access token is invalid"
    limit_message = "Limit per minute has been exceeded"

    def connection(self, good: bool) -> str:
        host = f"{self.sandbox.base_url}/uis/{self.name}/v2.0"
        return connection_json(conn_type="ident_uis", host=host, password=self.key(good))

    def messages(self, *fields: str) -> list[dict]:
        """The offline messages of the integration's whole window, with ``fields`` (default: the id)."""
        answer = self.sandbox.uis_rpc(
            self.name, "get.offline_messages_report", date_from=self.sandbox._uis_time(self.start),
            date_till=self.sandbox._uis_time(self.sandbox.now()), fields=list(fields or ["id"]), limit=10_000,
        )  # fmt: skip
        return answer["result"]["data"]

    def visible(self) -> set[str]:
        return {str(row["id"]) for row in self.messages()}

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

    def add_new(self, n: int = 2) -> None:
        self.new_id = self._add(n, "79110000002")

    def arm_rate_limit(self) -> None:
        self.sandbox.uis_set_limits(self.name, minute_reset=1)  # the hook waits out a 1-second window
        self.sandbox.uis_force_error(self.name, "limit_exceeded")

    def cleanup(self) -> None:
        self.sandbox.uis_reset(self.name)


class FlexbeSource(SourceSetup):
    service = "flexbe"
    auth_status = 200  # Flexbe's errors come with HTTP 200
    auth_message = "Invalid API key"
    limit_message = "Request limit exceeded"

    def connection(self, good: bool) -> str:
        host = f"{self.sandbox.base_url}/flexbe/{self.name}"
        return connection_json(conn_type="ident_flexbe", host=host, password=self.key(good))

    def visible(self) -> set[str]:
        import requests

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

    def add_new(self, n: int = 2) -> None:
        self.new_id = self._add(n, "+7 (916) 123-45-67")

    def arm_rate_limit(self) -> None:
        self.sandbox._control("POST", f"/flexbe/{self.name}/errors", json={"code": 1, "count": 1})

    def cleanup(self) -> None:
        self.sandbox._control("DELETE", f"/flexbe/{self.name}/state")


class Top32Source(SourceSetup):
    """32top's partner API as assumed (the sandbox's emulator)."""

    service = "top32"

    @property
    def api(self) -> str:
        return f"{self.sandbox.base_url}/top32/{self.name}/api/partner/v1"

    def connection(self, good: bool) -> str:
        return connection_json(conn_type="ident_top32", host=self.api, password=self.key(good))

    def visible(self) -> set[str]:
        import requests

        ids, page = set(), 1
        while True:
            params = {"created_from": self.start.isoformat(), "page": page, "per_page": 100}
            answer = requests.get(f"{self.api}/leads", params=params, timeout=30,
                                  headers={"Authorization": f"Bearer {self.sandbox.key}"}).json()  # fmt: skip
            ids |= {str(lead["id"]) for lead in answer["data"]}
            if page >= answer["meta"]["total_pages"]:
                return ids
            page += 1

    def defects(self) -> set[str]:
        return set(self.sandbox._control("GET", f"/top32/{self.name}/defects")["defects"]) | {self.bad_id}

    def _add(self, n: int, phone: int | None) -> str:
        created = self.wall(60 - n).isoformat()
        lead = {"id": 990_000_000 + n, "created_at": created, "updated_at": created, "status": "new",
                "source": "widget", "patient_name": "Анна Иванова", "patient_phone": phone,
                "doctor_surname": "Белова", "appointment_start": "2031-01-15T10:00:00"}  # fmt: skip
        self.sandbox._control("POST", f"/top32/{self.name}/leads", json=lead)
        return str(lead["id"])

    def add_bad(self) -> None:
        self.bad_id = self._add(1, None)

    def add_new(self, n: int = 2) -> None:
        self.new_id = self._add(n, 79110000002)

    def cleanup(self) -> None:
        self.sandbox._control("DELETE", f"/top32/{self.name}/state")


class ClinicDbSource(SourceSetup):
    """The clinic's own ``Tickets`` table in a MariaDB database of its own."""

    service = "clinic_db"
    auth_status = None  # SQL: no HTTP status
    auth_message = "Access denied for user 'no_such_user'"

    def __init__(self, sandbox, monkeypatch, request) -> None:
        from tests.conftest import _mysql_connect

        super().__init__(sandbox, monkeypatch, request)
        self.database = request.getfixturevalue("empty_mariadb")
        self.db = _mysql_connect(self.database)
        now = datetime.now(CLINIC_TZ).replace(tzinfo=None, microsecond=0)
        rows = [(f"t{n}", now - timedelta(hours=7 * n + 1), f"8 (911) 000-00-{n:02d}", f"Клиент {n}", "Запись", "ya")
                for n in range(1, 9)]  # fmt: skip
        self.execute(f"CREATE TABLE Tickets ({CLINIC_TICKETS}) CHARACTER SET utf8mb4")
        self.insert(rows)

    @property
    def start(self) -> datetime:
        return datetime.combine((datetime.now(CLINIC_TZ) - timedelta(days=4)).date(), datetime.min.time(), CLINIC_TZ)

    def execute(self, sql: str) -> None:
        with self.db.cursor() as cur:
            cur.execute(sql)
        self.db.commit()

    def insert(self, rows: list[tuple]) -> None:
        with self.db.cursor() as cur:
            cur.executemany("INSERT INTO Tickets VALUES (%s, %s, %s, %s, %s, %s)", rows)
        self.db.commit()

    def connection(self, good: bool) -> str:
        from tests.conftest import MYSQL_HOST, MYSQL_PORT, mysql_connection_json

        if good:
            return mysql_connection_json(self.database)
        return connection_json(conn_type="mysql", host=MYSQL_HOST, port=MYSQL_PORT, login="no_such_user",
                               password="pw-3b7e1", schema=self.database)  # fmt: skip

    def visible(self) -> set[str]:
        return {row[0] for row in query(self.db, "SELECT Id FROM Tickets")}

    def defects(self) -> set[str]:
        return {self.bad_id}

    def _add(self, n: int, phone: str) -> str:
        moment = datetime.now(CLINIC_TZ).replace(tzinfo=None, microsecond=0) - timedelta(seconds=60 - n)
        self.insert([(f"t9{n}", moment, phone, "Новый Клиент", "Обратный звонок", None)])
        return f"t9{n}"

    def add_bad(self) -> None:
        self.bad_id = self._add(1, "")

    def add_new(self, n: int = 2) -> None:
        self.new_id = self._add(n, "+79210000002")

    def cleanup(self) -> None:
        self.db.close()


SOURCE_SETUPS: dict[str, type[SourceSetup]] = {
    setup.service: setup for setup in (ClinicHttpSource, UisSource, FlexbeSource, Top32Source, ClinicDbSource)
}


@contextmanager
def lead_source(setup: str | type[SourceSetup], sandbox, monkeypatch, request) -> Iterator[SourceSetup]:
    """The lead source ``setup`` (a service of SOURCE_SETUPS, or a SourceSetup class) set up afresh and
    connected (``SOURCE_CONN_ID``); cleaned up after, the sandbox's faults of the service reset (for a
    pytest fixture: ``request`` gives its fixtures)."""
    made = (SOURCE_SETUPS[setup] if isinstance(setup, str) else setup)(sandbox, monkeypatch, request)
    made.connect()
    try:
        yield made
    finally:
        made.cleanup()
        if made.service != "clinic_db":
            sandbox.reset_faults(made.service)
