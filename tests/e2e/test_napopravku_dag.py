"""NaPopravku appointments as leads with dag.test(): stored in MariaDB, then each acknowledged
right after the commit (refused with the reason when it cannot be stored), nothing left to be
auto-cancelled; and an acknowledgement that cannot be made in time fails the run (the alert)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ident_hooks.napopravku import NaPopravkuHook
from ident_integrations.records.leads import validate_leads
from ident_integrations.services.napopravku import acknowledge, appointment_ticket
from tests.helpers import connection_json, dags_for, query

pytestmark = pytest.mark.e2e


def appointment(n: int, *, phone: str | None = "+79115550000", created: datetime | None = None) -> dict:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2, hours=n)
    body = {
        "uuid": str(uuid.uuid4()),
        "clinic": {"id": 1, "name": "Клиника на Невском", "comment": None, "last_activity_at": None,
                   "mis_clinic_id": "1"},
        "doctor": {"id": 7, "name": "Смирнова Ольга Викторовна", "comment": None, "last_activity_at": None,
                   "mis_doctor_id": "12"},
        "mis_service_id": None, "start_time": f"{start:%Y-%m-%d %H:%M:%S}",
        "end_time": f"{start + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}",
        "patient_surname": "Иванова", "patient_firstname": "Анна", "patient_father_name": "Сергеевна",
        "patient_gender": "female", "patient_phone": phone, "patient_email": f"p{n}@example.com",
        "patient_birthday": "1990-05-01", "comment": "Хочу на чистку", "source": "site",
    }  # fmt: skip
    if created is not None:
        body["created_at"] = created.strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    return body


@pytest.fixture
def np_account(sandbox, monkeypatch):
    account = f"n{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/napopravku/{account}/api/v1"
    monkeypatch.setenv("AIRFLOW_CONN_NP_TEST", connection_json(conn_type="ident_napopravku", host=host,
                                                                 password=sandbox.key))  # fmt: skip
    yield account
    sandbox._control("DELETE", f"/napopravku/{account}/state")


@pytest.fixture
def np_dag(airflow_metadata_db, np_account, ident_mysql, tmp_path, monkeypatch):
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [{"name": "np", "service": "napopravku", "conn_id": "np_test", "leads": {}}],
    }
    dags = dags_for(config, tmp_path, monkeypatch)
    assert "ident_cache_check" not in dags  # appointments cannot be re-pulled by day
    return dags["ident_leads__np"]


def test_appointments_are_stored_then_acknowledged_and_refused_with_the_reason(
    np_dag, sandbox, np_account, ident_mysql
):
    good = [sandbox._control("POST", f"/napopravku/{np_account}/appointments", json=appointment(n))["stored"]
            for n in range(2)]  # fmt: skip
    bad = sandbox._control("POST", f"/napopravku/{np_account}/appointments", json=appointment(9, phone=None))["stored"]
    assert all(task.pool == "ident_napopravku" for task in np_dag.tasks)

    run = np_dag.test()

    assert run.state == "success"
    stored = dict(query(ident_mysql, "SELECT external_id, doctor_name FROM ident_leads"))
    assert stored == {a["uuid"]: "Смирнова Ольга Викторовна" for a in good}
    acks = sandbox._control("GET", f"/napopravku/{np_account}/acknowledgements")["acknowledgements"]
    assert {u: acks[u]["success"] for u in acks} == {**{a["uuid"]: True for a in good}, bad["uuid"]: False}
    assert "ClientPhone" in acks[bad["uuid"]]["message"]
    assert [r[0] for r in query(ident_mysql, "SELECT external_id FROM ident_rejects")] == [bad["uuid"]]
    now = NaPopravkuHook("np_test").appointments([a["uuid"] for a in good])
    assert [(a["is_received"], a["is_cancelled"]) for a in now] == [(True, False)] * 2  # none left to cancel
    again = np_dag.test()  # nothing left unreceived: nothing to load
    assert again.state == "success" and query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(2,)]


def test_an_acknowledgement_that_cannot_be_made_fails_the_run_once_the_deadline_nears(sandbox, np_account, caplog):
    """The service no longer knows these appointments (404), so their acknowledgement fails: a
    fresh one is left to the next run, one stored 9 minutes ago fails the run (the alert)."""
    from airflow.sdk.exceptions import AirflowException

    from ident_integrations.config import parse_config

    settings = parse_config(
        {"integrations": [{"name": "np", "service": "napopravku", "conn_id": "np_test", "leads": {}}]}, "t"
    ).resolve("np", "leads")
    hook = NaPopravkuHook("np_test", request_backoff_seconds=0.01)
    fresh, _ = validate_leads([appointment(1, created=datetime.now(UTC))], settings.tz, appointment_ticket, "uuid")
    acknowledge(hook, fresh, [], settings)  # a warning only: the next run retries
    assert "not acknowledged (next run retries)" in caplog.text
    old = datetime.now(UTC) - timedelta(minutes=9)
    overdue, _ = validate_leads([appointment(2, created=old)], settings.tz, appointment_ticket, "uuid")
    with pytest.raises(AirflowException, match="still unacknowledged and will be cancelled by NaPopravku"):
        acknowledge(hook, overdue, [], settings)
