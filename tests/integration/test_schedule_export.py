"""The schedule export's run below Airflow: an unchanged payload is not pushed again until
``schedule.force_push_minutes`` have passed, and a push the service rejects fails at once with its
errors quoted. The clinic's schedule in MariaDB, the clinic's own service and ProDoctorov in the
sandbox over HTTP."""

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ident_integrations.capabilities.schedule import push_schedule
from ident_integrations.config import parse_config
from ident_integrations.records.schedule import Branch, Doctor, WorkInterval
from tests.helpers import connection_json

MSK = ZoneInfo("Europe/Moscow")
# A fixed instant (noon in Moscow, tomorrow), so that moving it by an hour moves no slot in or out.
T = datetime.combine(datetime.now(MSK).date() + timedelta(days=1), time(12, 0), MSK).astimezone(UTC)


def schedule(ident_mysql, doctor_name: str = "Смирнова Ольга Викторовна") -> None:
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    day = T.astimezone(MSK).date() + timedelta(days=1)
    shift = [datetime.combine(day, time(h), MSK).astimezone(UTC) for h in (9, 12)]
    ScheduleStore(db).replace(
        branches=[Branch(1, "Клиника на Невском", "Europe/Moscow")],
        doctors=[Doctor(12, doctor_name, "Стоматолог-терапевт")],
        doctor_branches=[(12, 1)],
        work_intervals=[WorkInterval(12, 1, *shift)],
    )


def settings_for(service: str, conn_id: str):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [{"name": "x", "service": service, "conn_id": conn_id, "schedule": {}}],
        },
        "test",
    )
    return config.resolve("x", "schedule")


def test_an_unchanged_payload_waits_for_the_forced_push(sandbox, ident_mysql, monkeypatch):
    tenant = f"s_{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/clinic_http/{tenant}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OWN_SITE", connection_json(conn_type="ident_clinic_http", host=host, password=sandbox.key)
    )
    schedule(ident_mysql)
    settings = settings_for("clinic_http", "own_site")

    def pushes() -> int:
        return len(sandbox._control("GET", f"/clinic_http/{tenant}/received")["pushes"])

    first = push_schedule(settings, now=T)
    assert first["slots"]["pushed"] and first["free"] == 12 and pushes() == 1  # 09:00-12:00 in 15 minutes
    assert push_schedule(settings, now=T + timedelta(minutes=10))["slots"]["pushed"] is False
    assert push_schedule(settings, now=T + timedelta(minutes=59))["slots"]["pushed"] is False
    assert pushes() == 1
    assert push_schedule(settings, now=T + timedelta(minutes=60))["slots"]["pushed"]  # at least hourly
    assert pushes() == 2


def test_a_rejected_push_fails_at_once_with_the_services_errors(sandbox, ident_mysql, monkeypatch):
    account = f"s{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/prodoctorov/{account}/v2"
    monkeypatch.setenv(
        "AIRFLOW_CONN_PD_SITE", connection_json(conn_type="ident_prodoctorov", host=host, password=sandbox.key)
    )
    schedule(ident_mysql, doctor_name="")  # MedFlex requires every doctor's name
    with pytest.raises(AirflowFailException, match="prodoctorov rejected the schedule push: .*efio"):
        push_schedule(settings_for("prodoctorov", "pd_site"), now=T)
