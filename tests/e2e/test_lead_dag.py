"""Real DAG runs with dag.test(): the DAG file parsed from the dags folder, the sandbox over HTTP,
and the IDENT database on MariaDB."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.helpers import dags_for, query

TENANT = "e2e_site"
pytestmark = pytest.mark.e2e


@pytest.fixture
def lead_dag(airflow_metadata_db, sandbox, clinic_conn, ident_mysql, tmp_path, monkeypatch):
    """ident_leads__site from the real DAG file, configured by a test integrations file."""

    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [
            {
                "name": "site",
                "service": "clinic_http",
                "conn_id": clinic_conn(sandbox, TENANT, conn_id="clinic_site"),
                "leads": {"start_date": (sandbox.start_time - timedelta(days=4)).date().isoformat()},
            }
        ],
    }
    dags = dags_for(config, tmp_path, monkeypatch)
    yield dags["ident_leads__site"]
    sandbox.reset_faults("clinic_http")


def import_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="import_leads")
        return XComModel.deserialize_value(session.scalars(statement).first())


def asset_events(dag_run) -> list[dict]:
    """The extras of the ``ident_leads`` Asset events this run emitted."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        events = session.query(AssetEvent).filter(AssetEvent.source_run_id == dag_run.run_id).all()
        return [event.extra for event in events]


def test_lead_dag_runs_end_to_end(lead_dag, sandbox, ident_mysql):
    defects = sandbox.defects(TENANT)

    first = lead_dag.test()
    assert first.state == "success"
    counts = import_result(first)
    assert counts["fetched"] == sandbox.stats(TENANT)["total_visible"]
    assert counts["rejected"] == len(defects) and counts["new"] == counts["fetched"] - len(defects)
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == counts["new"]
    assert {r[0] for r in query(ident_mysql, "SELECT external_id FROM ident_rejects")} == set(defects)
    assert asset_events(first) == [{"integration": "site", "new": counts["new"]}]  # new leads announced

    # a second run loads only what is new and duplicates nothing
    sandbox.add_ticket(
        TENANT,
        {
            "Id": "e2e-new",
            "DateAndTime": (sandbox.now() - timedelta(seconds=30)).isoformat(),
            "ClientPhone": "89110000001",
        },
    )
    second = lead_dag.test()
    assert second.state == "success"
    assert import_result(second)["new"] == 1 and import_result(second)["updated"] == 0
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == counts["new"] + 1

    assert asset_events(second) == [{"integration": "site", "new": 1}]

    # a burst of 5xx is survived by the hook's retries; nothing new: the Asset is not updated
    sandbox.set_faults("clinic_http", fail_next=3)
    third = lead_dag.test()
    assert third.state == "success"
    assert asset_events(third) == []
    statuses = [r[0] for r in query(ident_mysql, "SELECT http_status FROM ident_exchange_log ORDER BY id")]
    assert statuses[-4:] == [503, 503, 503, 200]
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == counts["new"] + 1


def test_lead_dag_fails_clearly_on_401(lead_dag, sandbox, ident_mysql, caplog):
    sandbox.set_faults("clinic_http", auth_failure=True)
    run = lead_dag.test()
    assert run.state == "failed"
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads")[0][0] == 0
    assert query(ident_mysql, "SELECT http_status, error_text FROM ident_exchange_log") == [
        (401, "Integration key revoked by the clinic administrator")
    ]
    assert "refused with 401: Integration key revoked by the clinic administrator" in caplog.text
    assert "IDENT ALERT: ident_leads__site.import_leads failed" in caplog.text  # the alert hook fired
