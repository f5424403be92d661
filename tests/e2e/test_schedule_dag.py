"""The free-slot export end to end: the schedule DAG from the real DAG file with dag.test(), the
clinic's schedule in MariaDB, NaPopravku and ProDoctorov in the sandbox over HTTP, what they
received read back from the sandbox."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.records.schedule import Appointment, Branch, Doctor, WorkInterval
from tests.e2e.test_lead_dag import import_result
from tests.e2e.test_napopravku_dag import appointment
from tests.helpers import connection_json, dags_for, query

MSK = ZoneInfo("Europe/Moscow")
pytestmark = pytest.mark.e2e


def local(day, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), MSK).astimezone(UTC)


@pytest.fixture
def accounts(sandbox, monkeypatch):
    """A NaPopravku and a ProDoctorov account of their own, with connections na_test / pr_test."""
    name = f"sched-{uuid.uuid4().hex[:8]}"
    for service, conn_type, path in (
        ("napopravku", "ident_napopravku", "api/v1"),
        ("prodoctorov", "ident_prodoctorov", "v2"),
    ):
        host = f"{sandbox.base_url}/{service}/{name}/{path}"
        monkeypatch.setenv(f"AIRFLOW_CONN_{service[:2].upper()}_TEST",
                           connection_json(conn_type=conn_type, host=host, password=sandbox.key))  # fmt: skip
    yield name
    for service in ("napopravku", "prodoctorov"):
        sandbox._control("DELETE", f"/{service}/{name}/state")


@pytest.fixture
def clinic_schedule(ident_mysql):
    """One Moscow branch; tomorrow 09:00-12:00 for doctors 12 and 14 (14 switched off by the export
    rules), 13:00-15:00 for 12 with 13:00-13:30 booked; doctor 16 inactive."""
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    store = ScheduleStore(db)
    tomorrow = datetime.now(MSK).date() + timedelta(days=1)
    doctors = (
        Doctor(12, "Смирнова Ольга Викторовна", "Стоматолог-терапевт"),
        Doctor(14, "Орлов Илья Петрович", "Ортодонт"),
        Doctor(16, "Уволенный Пётр Ильич", "Хирург", active=False),
    )
    store.replace(
        branches=[Branch(1, "Клиника на Невском", "Europe/Moscow", "Невский пр., 1", "+78120000001")],
        doctors=doctors,
        doctor_branches=[(12, 1), (14, 1), (16, 1)],
        work_intervals=[
            WorkInterval(12, 1, local(tomorrow, "09:00"), local(tomorrow, "12:00")),
            WorkInterval(12, 1, local(tomorrow, "13:00"), local(tomorrow, "15:00")),
            WorkInterval(14, 1, local(tomorrow, "09:00"), local(tomorrow, "12:00")),
            WorkInterval(16, 1, local(tomorrow, "09:00"), local(tomorrow, "12:00")),
        ],
        appointments=[Appointment(1, 12, 1, local(tomorrow, "13:00"), local(tomorrow, "13:30"))],
    )
    store.set_doctor_export(14, False)
    return tomorrow


@pytest.fixture
def schedule_dags(airflow_metadata_db, accounts, clinic_schedule, tmp_path, monkeypatch):
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [
            {"name": "np", "service": "napopravku", "conn_id": "na_test", "leads": {}, "schedule": {"days_ahead": 7}},
            {"name": "pd", "service": "prodoctorov", "conn_id": "pr_test", "schedule": {"use_rules": True}},
        ],
    }
    dags = dags_for(config, tmp_path, monkeypatch)
    return dags["ident_schedule__np"], dags["ident_schedule__pd"]


def push_result(dag_run) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids="push_schedule")
        return XComModel.deserialize_value(session.scalars(statement).first())


def np_slots(sandbox, account: str, doctor: str, day) -> list[str]:
    received = sandbox._control("GET", f"/napopravku/{account}/received")
    return [slot["from"] for slot in received["slots"]["1"][doctor][day.isoformat()]]


def test_napopravku_gets_the_32_day_horizon_once_and_a_booked_slot_disappears(
    schedule_dags, sandbox, accounts, clinic_schedule, ident_mysql
):
    np_dag, _ = schedule_dags
    tomorrow = clinic_schedule
    assert [t.task_id for t in np_dag.topological_sort()] == ["import_leads", "push_schedule"]

    first = np_dag.test()
    assert first.state == "success"
    result = push_result(first)
    assert result["reference"]["pushed"] and result["slots"]["pushed"]
    received = sandbox._control("GET", f"/napopravku/{accounts}/received")
    assert set(received["clinics"]) == {"1"} and set(received["doctors"]) == {"12", "14"}  # 16 is inactive
    assert len(received["slots"]["1"]["12"]) == 33  # today + 32 days, although days_ahead is 7
    hours = [f"{h:02d}:{m:02d}" for h in (9, 10, 11) for m in (0, 15, 30, 45)]
    assert np_slots(sandbox, accounts, "12", tomorrow) == [
        *hours,
        "13:30",
        "13:45",
        *[f"14:{m:02d}" for m in (0, 15, 30, 45)],
    ]
    assert np_slots(sandbox, accounts, "14", tomorrow) == hours  # use_rules is off for NaPopravku

    second = np_dag.test()  # nothing changed: the reference is not sent again; slots go every run
    assert second.state == "success"
    assert {part: push_result(second)[part]["pushed"] for part in ("reference", "slots")} == {
        "reference": False, "slots": True}  # fmt: skip
    pushes = sandbox._control("GET", f"/napopravku/{accounts}/received")["pushes"]
    assert pushes == {**received["pushes"], "slots": received["pushes"]["slots"] + 1}

    # A patient books doctor 12 at 10:00-10:30 on NaPopravku: the next run imports the appointment
    # first, and its time is no longer offered.
    booking = appointment(1)
    booking["doctor"]["mis_doctor_id"], booking["clinic"]["mis_clinic_id"] = "12", "1"
    start = local(tomorrow, "10:00")  # the RTA API's times are UTC
    booking["start_time"] = f"{start:%Y-%m-%d %H:%M:%S}"
    booking["end_time"] = f"{start + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}"
    sandbox._control("POST", f"/napopravku/{accounts}/appointments", json=booking)
    third = np_dag.test()
    assert third.state == "success"
    assert import_result(third)["new"] == 1  # the booking, stored as a lead with its doctor and time
    assert query(ident_mysql, "SELECT doctor_id FROM ident_leads") == [(12,)]
    assert push_result(third)["slots"]["pushed"] and not push_result(third)["reference"]["pushed"]
    offered = np_slots(sandbox, accounts, "12", tomorrow)
    assert "10:00" not in offered and "10:15" not in offered and "09:45" in offered and "10:30" in offered

    # Doctor 14 leaves the export (deactivated in IDENT): NaPopravku keeps dates it is not sent, so
    # the next run clears every date of theirs before anything else goes.
    ident_mysql.cursor().execute("UPDATE ident_doctors SET active = 0 WHERE id = 14")
    ident_mysql.commit()
    fourth = np_dag.test()
    assert fourth.state == "success"
    assert push_result(fourth)["cleared"] == 1
    dates = sandbox._control("GET", f"/napopravku/{accounts}/received")["slots"]["1"]["14"]
    assert len(dates) == 33 and all(slots == [] for slots in dates.values())
    assert np_slots(sandbox, accounts, "12", tomorrow) == offered  # the other doctor as before
    assert push_result(np_dag.test())["cleared"] == 0  # cleared once: the last push no longer lists them


def test_prodoctorov_gets_free_and_busy_cells_without_the_excluded_doctor(schedule_dags, sandbox, accounts,
                                                                         clinic_schedule):  # fmt: skip
    _, pd_dag = schedule_dags
    assert [t.task_id for t in pd_dag.tasks] == ["push_schedule"]  # no leads from ProDoctorov to import first
    run = pd_dag.test()
    assert run.state == "success"
    doctors = sandbox._control("GET", f"/prodoctorov/{accounts}/received")["filials"]["1"]["doctors"]
    assert set(doctors) == {"12"}  # 14 is switched off by the export rules (use_rules: true), 16 inactive
    cells = [(c["dt"], c["time_start"], c["time_end"], c["free"]) for c in doctors["12"]["cells"]]
    day = clinic_schedule.isoformat()
    assert (day, "13:00", "13:30", False) in cells and (day, "13:30", "13:45", True) in cells  # the booked half hour
    assert [c for c in cells if c[3]][:2] == [(day, "09:00", "09:15", True), (day, "09:15", "09:30", True)]
    assert len(cells) == 12 + 1 + 6 and doctors["12"]["efio"] == "Смирнова Ольга Викторовна"
