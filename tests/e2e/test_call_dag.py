"""Real runs of a call-history DAG with dag.test(): the DAG file parsed from the dags folder, the
sandbox's UIS emulator over HTTP, and the IDENT database on MariaDB."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.helpers import connection_json, dags_for, query, uis_call_ids

MOSCOW = ZoneInfo("Europe/Moscow")
pytestmark = pytest.mark.e2e


def clinic_day(days_ago: int) -> datetime:
    return datetime.now(MOSCOW).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days_ago)


@pytest.fixture
def dags(airflow_metadata_db, sandbox, ident_mysql, tmp_path, monkeypatch):
    """A function(**calls) -> (the DAGs of the real DAG file, the account): integration ``tel`` on a
    fresh UIS account with that ``calls:`` block."""

    accounts = []

    def make(**calls):
        account = f"d{uuid.uuid4().hex[:10]}"
        accounts.append(account)
        host = f"{sandbox.base_url}/uis/{account}/v2.0"
        connection = connection_json(conn_type="ident_uis", host=host, password=sandbox.key)
        monkeypatch.setenv("AIRFLOW_CONN_UIS_TEL", connection)
        config = {
            "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
            "integrations": [{"name": "tel", "service": "uis", "conn_id": "uis_tel", "calls": calls}],
        }
        return dags_for(config, tmp_path, monkeypatch), account

    yield make
    for account in accounts:
        sandbox._control("DELETE", f"/uis/{account}/state")
    sandbox.reset_faults("uis")


@pytest.fixture
def call_dag(dags):
    """ident_calls__tel: history from two days back, one-day chunks."""
    bag, account = dags(start_date=clinic_day(2).date().isoformat(), max_report_days=1)
    return bag["ident_calls__tel"], account


def import_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="import_calls")
        return XComModel.deserialize_value(session.scalars(statement).first())


def calls_per_day(ident_mysql) -> dict[str, int]:
    moscow_day = "DATE(CONVERT_TZ(started_at, '+00:00', '+03:00'))"
    rows = query(ident_mysql, f"SELECT {moscow_day}, COUNT(*) FROM ident_calls GROUP BY 1")
    return {str(day): count for day, count in rows}


def test_first_run_then_a_manual_range_reload(call_dag, ident_mysql):
    dag, _ = call_dag
    first = dag.test()
    assert first.state == "success"
    loaded = import_result(first)
    days = calls_per_day(ident_mysql)
    assert loaded["new"] == sum(days.values()) > 300
    assert min(days) == str(clinic_day(2).date())  # from the start date, nothing earlier

    # the params reload exactly their clinic days: an earlier day comes in, nothing else changes
    earlier = clinic_day(4).date().isoformat()
    reload = dag.test(run_conf={"from_date": earlier, "to_date": earlier})
    assert reload.state == "success"
    counts = import_result(reload)
    after = calls_per_day(ident_mysql)
    assert set(after) == set(days) | {earlier} and counts["new"] == after[earlier] > 100
    assert {day: n for day, n in after.items() if day != earlier} == days

    closed = {"from_date": clinic_day(2).date().isoformat(), "to_date": clinic_day(1).date().isoformat()}
    again = dag.test(run_conf=closed)
    assert again.state == "success"
    assert (import_result(again)["new"], import_result(again)["updated"]) == (0, 0)
    assert calls_per_day(ident_mysql) == after


def test_a_revoked_token_fails_the_run_at_once_and_alerts(call_dag, sandbox, ident_mysql, caplog):
    dag, account = call_dag
    sandbox._control("POST", f"/uis/{account}/errors", json={"mnemonic": "access_token_blocked", "count": 10})
    run = dag.test()
    assert run.state == "failed"
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_calls")[0][0] == 0
    assert "UIS refused get.account: Access token has been blocked (access_token_blocked, code -32001)" in caplog.text
    assert "IDENT ALERT: ident_calls__tel.import_calls failed" in caplog.text
    assert len(query(ident_mysql, "SELECT id FROM ident_exchange_log")) == 1  # not retried


def test_a_year_of_history_loads_in_the_first_run_and_the_cache_check_finds_it_whole(dags, sandbox, ident_mysql):
    bag, account = dags(start_date="365 days ago", max_report_days=90, page_limit=10_000)
    run = bag["ident_calls__tel"].test()
    assert run.state == "success"
    loaded = import_result(run)
    days = calls_per_day(ident_mysql)
    assert min(days) == str(clinic_day(365).date()) and len(days) >= 365  # today's may not have begun
    expected = set()
    for start in range(365, 0, -90):  # the sandbox's own answer, 90 days a request
        first, last = clinic_day(start), clinic_day(max(start - 90, 0))
        expected |= uis_call_ids(sandbox, account, first, last)
    stored = {row[0] for row in query(ident_mysql, "SELECT external_id FROM ident_calls")}
    assert len(stored) == loaded["new"] > 300 * 300 and stored >= expected - rejected_ids(ident_mysql)
    assert loaded["fetched"] == loaded["new"] + loaded["rejected"]

    check = bag["ident_cache_check"].test()
    assert check.state == "success"
    report = query(ident_mysql, "SELECT day, fetched, stored, missing, extra, changed FROM ident_cache_check_report")
    assert len(report) == 7 and all(fetched == stored > 0 for _, fetched, stored, *_ in report)
    assert all(row[3:] == (0, 0, 0) for row in report)  # nothing missing, extra or changed


def rejected_ids(ident_mysql) -> set[str]:
    return {row[0] for row in query(ident_mysql, "SELECT external_id FROM ident_rejects")}
