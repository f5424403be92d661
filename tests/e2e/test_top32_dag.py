"""32top leads (the assumed partner API, emulated by the sandbox) with dag.test(): the DAG file
parsed from the dags folder, the IDENT database on MariaDB. Bad leads are quarantined while the rest
loads (the Asset ``ident_leads`` announced with the count of new ones, and only by a run that stored
any), a second run duplicates nothing, 5xx, 429 and a timeout are survived, an auth failure fails
the run at once with the service's message."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from tests.e2e.test_lead_dag import asset_events
from tests.helpers import connection_json, dags_for, query

pytestmark = pytest.mark.e2e


@pytest.fixture
def top32_account(sandbox, monkeypatch):
    account = f"e{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/top32/{account}/api/partner/v1"
    monkeypatch.setenv("AIRFLOW_CONN_TOP32_E2E", connection_json(conn_type="ident_top32", host=host,
                                                                  password=sandbox.key))  # fmt: skip
    yield account
    sandbox._control("DELETE", f"/top32/{account}/state")
    sandbox.reset_faults("top32")


@pytest.fixture
def top32_dag(airflow_metadata_db, sandbox, top32_account, ident_mysql, tmp_path, monkeypatch):
    start = (sandbox.start_time - timedelta(days=4)).date().isoformat()
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "request_attempts": 6, "timeout_seconds": 1, "task_retries": 0},
        "integrations": [
            {"name": "top", "service": "top32", "conn_id": "top32_e2e", "leads": {"start_date": start}},
        ],
    }
    dags = dags_for(config, tmp_path, monkeypatch)
    assert "leads__top" in {task.task_id for task in dags["ident_cache_check"].tasks}  # can re-pull a day
    return dags["ident_leads__top"]


def import_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="import_leads")
        return XComModel.deserialize_value(session.scalars(statement).first())


def exchanges(conn, since_id: int = 0) -> list[tuple]:
    return query(conn, "SELECT id, http_status, error_text FROM ident_exchange_log WHERE id > %s ORDER BY id",
                 (since_id,))  # fmt: skip


def last_exchange_id(conn) -> int:
    return query(conn, "SELECT COALESCE(MAX(id), 0) FROM ident_exchange_log")[0][0]


def test_top32_leads_load_rerun_and_survive_transient_faults(top32_dag, sandbox, top32_account, ident_mysql):
    defects = sandbox._control("GET", f"/top32/{top32_account}/defects")["defects"]
    assert defects

    first = top32_dag.test()
    assert first.state == "success"
    counts = import_result(first)
    assert (counts["fetched"], counts["rejected"], counts["new"]) == (45, len(defects), 45 - len(defects))
    rejects = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    assert set(rejects) == set(defects) and all(rejects.values())  # each with its reason
    stored = query(ident_mysql, "SELECT COUNT(*), COUNT(doctor_name), COUNT(plan_start) FROM ident_leads")[0]
    assert stored[0] == 45 - len(defects) and 0 < stored[2] <= stored[1] <= stored[0]
    assert asset_events(first) == [{"integration": "top", "new": 45 - len(defects)}]

    # a second run loads only what is new and duplicates nothing
    sandbox._control("POST", f"/top32/{top32_account}/leads",
                     json={"id": 880001, "patient_name": "Анна", "patient_phone": 79110000001,
                           "doctor_surname": "Белова", "appointment_start": "2031-01-15T10:00:00"})  # fmt: skip
    second = top32_dag.test()
    assert second.state == "success"
    assert (import_result(second)["new"], import_result(second)["updated"]) == (1, 0)
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == 45 - len(defects) + 1
    assert query(ident_mysql, "SELECT doctor_name FROM ident_leads WHERE external_id = '880001'") == [("Белова",)]
    assert asset_events(second) == [{"integration": "top", "new": 1}]

    # a burst of 5xx, then a 429 with Retry-After: the hook's retries absorb them
    mark = last_exchange_id(ident_mysql)
    sandbox.set_faults("top32", fail_next=3)
    sandbox._control("POST", f"/top32/{top32_account}/errors", json={"code": "rate_limited", "retry_after": 1})
    third = top32_dag.test()
    assert third.state == "success" and import_result(third)["new"] == 0
    assert asset_events(third) == []  # nothing new: the Asset is not updated
    assert [status for _, status, _ in exchanges(ident_mysql, mark)] == [503, 503, 503, 429, 200]

    # an answer later than the timeout (1 s) is given up on and asked again
    mark = last_exchange_id(ident_mysql)
    sandbox.set_faults("top32", slow_next=1, slow_ms=2500)
    fourth = top32_dag.test()
    assert fourth.state == "success"
    assert [(status, error) for _, status, error in exchanges(ident_mysql, mark)] == [
        (None, "no answer within 1 s"),
        (200, None),
    ]
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == 45 - len(defects) + 1


def test_top32_auth_failure_fails_at_once_with_the_services_message(
    top32_dag, sandbox, top32_account, ident_mysql, caplog
):
    sandbox._control(
        "POST", f"/top32/{top32_account}/errors", json={"code": "forbidden", "message": "API access is off", "count": 5}
    )
    run = top32_dag.test()
    assert run.state == "failed"
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == 0
    assert [(status, error) for _, status, error in exchanges(ident_mysql)] == [
        (403, "32top refused GET leads: API access is off (forbidden, HTTP 403); check the API key in connection "
              "'top32_e2e'"),
    ]  # fmt: skip  # one request: not retried
    assert "API access is off (forbidden, HTTP 403)" in caplog.text
    assert "IDENT ALERT: ident_leads__top.import_leads failed" in caplog.text
