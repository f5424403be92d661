"""Lead DAGs of every lead source but clinic_http (tests/e2e/test_lead_dag.py) run end to end with
dag.test(): the real DAG file, the sandbox over HTTP (UIS, Flexbe, NaPopravku) or the clinic's own
MariaDB tables (clinic_db), and the IDENT database on MariaDB. Per source: the happy path (bad
records quarantined with their reason while the rest loads, the Asset announced), a second run
that adds exactly the one new lead, a run that survives 5xx, a timeout and a rate limit, and an
auth failure that fails the run at once with the service's own message and the alert."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from tests.e2e.test_lead_dag import asset_events, import_result
from tests.helpers import (
    CLINIC_TICKETS,
    SOURCE_CONN_ID,
    ClinicDbSource,
    FlexbeSource,
    UisSource,
    connection_json,
    dags_for,
    lead_source,
    query,
)
from tests.helpers import SourceSetup as Source

TIMEOUT_SECONDS = 1.5  # the run's request timeout; the slow answer comes later than this
SLOW_MS = 2500
ATTEMPTS = 5  # enough for 2 × 503, a timeout and a rate limit in a row on one request
pytestmark = pytest.mark.e2e

# How the tests drive each source (SourceSetup in tests/helpers.py, shared with the watch tests); NaPopravku's here.


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


SOURCES = {source.service: source for source in (UisSource, FlexbeSource, NaPopravku, ClinicDbSource)}
HTTP_SOURCES = ("uis", "flexbe", "napopravku")


@pytest.fixture
def source(request, sandbox, monkeypatch):
    with lead_source(SOURCES[request.param], sandbox, monkeypatch, request) as made:
        yield made


@pytest.fixture
def lead_dag(airflow_metadata_db, source, ident_mysql, tmp_path, monkeypatch):
    """ident_leads__<service> from the real DAG file, configured by a test integrations file."""

    config = {
        "defaults": {
            "request_backoff_seconds": 0.05, "request_attempts": ATTEMPTS, "timeout_seconds": TIMEOUT_SECONDS,
            "task_retries": 0,
        },
        "integrations": [
            {"name": source.service, "service": source.service, "conn_id": SOURCE_CONN_ID,
             "leads": source.leads_block()}
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
    source.execute(f"CREATE TABLE Tickets ({CLINIC_TICKETS.replace('`ClientPhone` VARCHAR(40) NULL,', '')})")
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
