"""The calendar DAG end to end: from the real DAG file, run with dag.test() on MariaDB, Google
Calendar in the sandbox over HTTP; what the calendars hold read back from the sandbox."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.records.patients import Patient
from ident_integrations.records.schedule import Appointment, Branch, Doctor
from tests.helpers import connection_json, dags_for, query

MSK = ZoneInfo("Europe/Moscow")
pytestmark = pytest.mark.e2e


def local(day, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), MSK).astimezone(UTC)


def task_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="sync_calendar")
        return XComModel.deserialize_value(session.scalars(statement).first())


@pytest.fixture
def calendar_dag(airflow_metadata_db, sandbox, ident_mysql, tmp_path, monkeypatch):
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    tomorrow = datetime.now(MSK).date() + timedelta(days=1)
    ScheduleStore(db).replace(
        branches=[Branch(1, "Клиника на Невском", "Europe/Moscow", "Невский пр., 1", "+78120000001")],
        doctors=[Doctor(12, "Смирнова Ольга Викторовна", "Терапевт"), Doctor(14, "Орлов Илья Петрович", "Ортодонт")],
        doctor_branches=[(12, 1), (14, 1)],
        patients=[Patient(101, "Иванов", "Пётр", "Сергеевич", "+79990001122", "ivanov@example.ru")],
        appointments=[
            Appointment(1, 12, 1, local(tomorrow, "10:00"), local(tomorrow, "10:30"), "planned", 101),
            Appointment(2, 14, 1, local(tomorrow, "12:00"), local(tomorrow, "13:00"), "planned", 101),
        ],
    )
    key = sandbox._control("GET", "/google_calendar/service-account")
    host = f"{sandbox.base_url}/google_calendar/"
    monkeypatch.setenv(
        "AIRFLOW_CONN_GC_E2E", connection_json(conn_type="ident_google_calendar", host=host, password=json.dumps(key))
    )
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [{"name": "gcal", "service": "google_calendar", "conn_id": "gc_e2e",
                          "calendar": {"calendar_ids": {12: "smirnova-e2e@group.calendar.google.com"}}}],
    }  # fmt: skip
    dags = dags_for(config, tmp_path, monkeypatch)
    yield dags["ident_calendar__gcal"]
    sandbox._control("DELETE", "/google_calendar/state")


def test_the_calendar_dag_writes_the_doctors_calendar_and_a_rerun_changes_nothing(calendar_dag, sandbox, ident_mysql):
    dag = calendar_dag
    assert dag.tags >= {"ident", "calendar", "google_calendar"} and "ident_calendar_events" in dag.doc_md
    first = dag.test()
    assert first.state == "success"
    result = task_result(first)
    assert (result["inserted"], result["skipped_doctors"]) == (1, 1)  # doctor 14 has no calendar
    items = sandbox._control("GET", "/google_calendar/calendars/smirnova-e2e@group.calendar.google.com/events")["items"]
    assert [item["summary"] for item in items] == ["Иванов Пётр Сергеевич"]
    assert query(ident_mysql, "SELECT appointment_id, calendar_id FROM ident_calendar_events") == [
        (1, "smirnova-e2e@group.calendar.google.com")
    ]
    second = dag.test()
    assert second.state == "success" and task_result(second)["unchanged"] == 1 and task_result(second)["inserted"] == 0
