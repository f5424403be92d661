"""The schedule export's run below Airflow: an unchanged payload is not pushed again until
``schedule.force_push_minutes`` have passed, and a push the service rejects fails at once with its
errors quoted. The clinic's schedule in MariaDB, the clinic's own service and ProDoctorov in the
sandbox over HTTP."""

import logging
import re
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.capabilities.schedule import push_schedule
from ident_integrations.config import parse_config
from ident_integrations.records.schedule import Branch, Doctor, WorkInterval
from tests.helpers import connection_json

MSK = ZoneInfo("Europe/Moscow")
# A fixed instant (noon in Moscow, tomorrow), so that moving it by an hour moves no slot in or out.
T = datetime.combine(datetime.now(MSK).date() + timedelta(days=1), time(12, 0), MSK).astimezone(UTC)


def schedule(ident_mysql, doctor_name: str = "Смирнова Ольга Викторовна", days_after: int = 1) -> None:
    """Doctor 12's 09:00-12:00 shift at branch 1, ``days_after`` days after T's date."""
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    day = T.astimezone(MSK).date() + timedelta(days=days_after)
    shift = [datetime.combine(day, time(h), MSK).astimezone(UTC) for h in (9, 12)]
    ScheduleStore(db).replace(
        branches=[Branch(1, "Клиника на Невском", "Europe/Moscow")],
        doctors=[Doctor(12, doctor_name, "Стоматолог-терапевт")],
        doctor_branches=[(12, 1)],
        work_intervals=[WorkInterval(12, 1, *shift)],
    )


def settings_for(service: str, conn_id: str, capability: str = "schedule", **blocks):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [{"name": "x", "service": service, "conn_id": conn_id, "schedule": {}, **blocks}],
        },
        "test",
    )
    return config.resolve("x", capability)


def test_the_schedule_blocks_defaults():
    block = settings_for("clinic_http", "any").block
    assert (block.interval_minutes, block.days_ahead, block.skip_hours_today) == (10, 30, 2)
    assert (block.use_rules, block.force_push_minutes, block.table) == (False, 60, "TimeTable")


def test_an_unchanged_payload_waits_for_the_forced_push(sandbox, ident_mysql, monkeypatch, caplog):
    tenant = f"s_{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/clinic_http/{tenant}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_OWN_SITE", connection_json(conn_type="ident_clinic_http", host=host, password=sandbox.key)
    )
    schedule(ident_mysql)
    settings = settings_for("clinic_http", "own_site")

    def pushes() -> int:
        return len(sandbox._control("GET", f"/clinic_http/{tenant}/received")["pushes"])

    with caplog.at_level(logging.INFO, logger="ident_integrations.capabilities.schedule"):
        first = push_schedule(settings, now=T)
    assert first["slots"]["pushed"] and first["free"] == 12 and pushes() == 1  # 09:00-12:00 in 15 minutes
    counts = [r.getMessage() for r in caplog.records if "free" in r.getMessage()]
    assert "  Клиника на Невском (Europe/Moscow): 12 free" in counts  # per branch, then per doctor
    assert any(re.fullmatch(r" +Смирнова Ольга Викторовна +free +12 +busy +0", line) for line in counts), counts
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


def test_napopravku_slots_every_run_its_reference_daily_its_horizon_fixed_and_a_booking_held(
    sandbox, ident_mysql, monkeypatch, caplog
):
    """NaPopravku: slots go every run even unchanged, clinics and doctors once a day, the 32-day
    horizon overrides days_ahead (and the log says so), and a booking stays held however long ago
    it was imported (here 25 hours) until its time has passed."""
    from tests.e2e.test_napopravku_dag import appointment

    account = f"s{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/napopravku/{account}/api/v1"
    monkeypatch.setenv(
        "AIRFLOW_CONN_NP_SITE", connection_json(conn_type="ident_napopravku", host=host, password=sandbox.key)
    )
    schedule(ident_mysql, days_after=3)  # still ahead after the day this test moves through
    s = settings_for("napopravku", "np_site", leads={})
    try:
        with caplog.at_level(logging.INFO, logger="ident_integrations.capabilities.schedule"):
            first = push_schedule(s, now=T)
        assert "napopravku always gets today + 32 days: schedule.days_ahead 30 is overridden for x" in caplog.text
        assert first["reference"]["pushed"] and first["slots"]["pushed"] and first["free"] == 12
        assert push_schedule(s, now=T + timedelta(minutes=10))["slots"]["pushed"]  # unchanged, yet sent
        almost = push_schedule(s, now=T + timedelta(hours=23, minutes=59))
        assert almost["reference"]["pushed"] is False and almost["slots"]["pushed"]  # unchanged, yet sent
        assert push_schedule(s, now=T + timedelta(hours=24))["reference"]["pushed"]  # at least daily

        booking = appointment(1)  # doctor 12 at 09:00-09:30 of the shift's day, booked on NaPopravku
        start = datetime.combine(T.astimezone(MSK).date() + timedelta(days=3), time(9), MSK).astimezone(UTC)
        booking["start_time"] = f"{start:%Y-%m-%d %H:%M:%S}"
        booking["end_time"] = f"{start + timedelta(minutes=30):%Y-%m-%d %H:%M:%S}"
        sandbox._control("POST", f"/napopravku/{account}/appointments", json=booking)
        assert import_leads(settings_for("napopravku", "np_site", "leads", leads={})).new == 1
        cursor = ident_mysql.cursor()
        loaded_long_ago = (T - timedelta(hours=1)).replace(tzinfo=None)  # 25 h before the push below
        cursor.execute("UPDATE ident_leads SET first_loaded_at = %s, last_loaded_at = %s", (loaded_long_ago,) * 2)
        ident_mysql.commit()
        assert push_schedule(s, now=T + timedelta(hours=24, minutes=10))["free"] == 10  # 09:00 and 09:15 held
    finally:
        sandbox._control("DELETE", f"/napopravku/{account}/state")
