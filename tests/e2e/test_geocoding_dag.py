"""Geocoding end to end: the DAG from the real DAG file run with dag.test() on MariaDB, DaData in
the sandbox over HTTP; a second run sends nothing; a refused key fails the run at once."""

from __future__ import annotations

import os

import pytest

from tests.helpers import connection_json, dags_for, query

pytestmark = pytest.mark.e2e


def task_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="geocode_addresses")
        return XComModel.deserialize_value(session.scalars(statement).first())


@pytest.fixture
def geocoding_dag(airflow_metadata_db, sandbox, ident_mysql, tmp_path, monkeypatch):
    from ident_integrations.store.database import IdentDatabase

    IdentDatabase("ident_db").ensure_schema()
    cur = ident_mysql.cursor()
    for pid, address in ((1, "г. Москва, ул. Покровка, д. 3, кв. 5"), (2, "г Казань, ул Ленина, д 5"),
                         (3, "г. Екатеринбург, ул. Малышева, д. 51"), (4, ""), (5, "что-то непонятное")):  # fmt: skip
        cur.execute("INSERT INTO ident_patients (id, surname, name, address) VALUES (%s, 'Петров', 'Пётр', %s)",
                    (pid, address))  # fmt: skip
    ident_mysql.commit()
    conn = connection_json(conn_type="ident_dadata", host=f"{sandbox.base_url}/dadata", login=sandbox.key,
                           password=sandbox.key)  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_GEO_TEST", conn)
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [{"name": "geo", "service": "dadata", "conn_id": "geo_test", "geocoding": {
            "clinic_lat": 55.7648, "clinic_lon": 37.6050, "max_distance_km": 50, "batch_size": 2}}],
    }  # fmt: skip
    dags = dags_for(config, tmp_path, monkeypatch)
    yield dags["ident_geocoding__geo"]
    sandbox._control("DELETE", "/dadata/faults")


def test_the_geocoding_dag_fills_ident_geocodes_and_a_rerun_sends_nothing(geocoding_dag, sandbox, ident_mysql):
    dag = geocoding_dag
    assert dag.tags >= {"ident", "geocoding", "dadata"} and "ident_geocodes" in dag.doc_md
    first = dag.test()
    assert first.state == "success"
    result = task_result(first)
    assert (result["geocoded"], result["skipped_blank"], result["requests_today"]) == (4, 1, 4)
    rows = query(ident_mysql, "SELECT patient_id, qc, qc_geo, needs_review, review_reason FROM ident_geocodes"
                              " ORDER BY patient_id")  # fmt: skip
    assert [row[0] for row in rows] == [1, 2, 3, 5]
    by_id = {row[0]: row for row in rows}
    assert by_id[1][1:4] == (0, 0, 0)
    assert by_id[2][3] == 1 and "km from the clinic" in by_id[2][4]  # Kazan's street of the same name
    assert by_id[3][3] == 1 and "km from the clinic" in by_id[3][4]  # the Yekaterinburg branch's patients too
    assert by_id[5][1:3] == (2, 5)

    second = dag.test()
    assert second.state == "success" and task_result(second)["candidates"] == 0


def test_a_refused_key_fails_the_run(geocoding_dag, sandbox, ident_mysql):
    sandbox._control("PUT", "/dadata/faults", json={"forbidden": True})
    run = geocoding_dag.test()
    assert run.state == "failed"
    statuses = query(ident_mysql, "SELECT http_status FROM ident_exchange_log WHERE capability = 'geocoding'")
    assert statuses == [(403,)]


def test_airflow_connections_test_runs_the_dadata_hook(airflow_metadata_db, sandbox):
    """The provider's connection type and the UI's Test button ("Проверить"): the balance with both keys."""
    from tests.e2e.test_provider_cli import airflow

    env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    for conn_id, secret in (("dadata_cli_good", sandbox.key), ("dadata_cli_bad", "not-the-secret")):
        airflow("connections", "delete", conn_id, env=env)
        added = airflow(
            "connections", "add", conn_id, "--conn-type", "ident_dadata", "--conn-host", f"{sandbox.base_url}/dadata",
            "--conn-login", sandbox.key, "--conn-password", secret, env=env,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr[-2000:]
    good = airflow("connections", "test", "dadata_cli_good", env=env)
    assert "Connection success!" in good.stdout, good.stdout[-2000:] + good.stderr[-2000:]
    bad = airflow("connections", "test", "dadata_cli_bad", env=env)
    assert "Connection success!" not in bad.stdout and "403" in bad.stdout + bad.stderr
    assert "not-the-secret" not in bad.stdout + bad.stderr and sandbox.key not in good.stdout + good.stderr
