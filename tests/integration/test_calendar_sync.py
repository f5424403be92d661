"""The calendar capability on MariaDB with Google Calendar in the sandbox over HTTP: create, move,
cancel, no duplicates on re-run and after a crash between the insert and the commit, drift repair,
patient fields, and a calendar not shared with the service account."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy import update

from ident_integrations.records.patients import Patient
from ident_integrations.records.schedule import Appointment, Branch, Doctor
from tests.helpers import connection_json, query

MSK = ZoneInfo("Europe/Moscow")


def local(day, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm), MSK).astimezone(UTC)


@pytest.fixture
def google(sandbox, monkeypatch):
    """Connection gc_test on the sandbox's Google with its service-account key; state reset after."""
    key = sandbox._control("GET", "/google_calendar/service-account")
    host = f"{sandbox.base_url}/google_calendar/"
    monkeypatch.setenv(
        "AIRFLOW_CONN_GC_TEST",
        connection_json(conn_type="ident_google_calendar", host=host, password=json.dumps(key)),
    )
    yield key
    sandbox._control("DELETE", "/google_calendar/state")


def settings(**block):
    from ident_integrations.capabilities.calendar import CalendarSettings
    from ident_integrations.config import Clinic, RequestSettings, ResolvedCapability, TaskSettings

    block.setdefault(
        "calendar_id_template", "doctor-{doctor_id}-" + uuid.uuid4().hex[:6] + "@group.calendar.google.com"
    )
    return ResolvedCapability(
        capability="calendar", integration="gcal_test", service="google_calendar", conn_id="gc_test",
        description="", clinic=Clinic(), block=CalendarSettings(**block),
        request=RequestSettings(request_backoff_seconds=0.05), task=TaskSettings(), sources={},
    )  # fmt: skip


@pytest.fixture
def clinic(ident_mysql):
    """Doctors 12 and 14 at one Moscow branch; tomorrow appointments 1 (12, 10:00), 2 (12, 11:00), 3 (14, 10:00)."""
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    tomorrow = datetime.now(MSK).date() + timedelta(days=1)
    ScheduleStore(db).replace(
        branches=[Branch(1, "Клиника на Невском", "Europe/Moscow", "Невский пр., 1", "+78120000001")],
        doctors=[Doctor(12, "Смирнова Ольга Викторовна", "Терапевт"), Doctor(14, "Орлов Илья Петрович", "Ортодонт")],
        doctor_branches=[(12, 1), (14, 1)],
        patients=[
            Patient(101, "Иванов", "Пётр", "Сергеевич", "+79990001122", "ivanov@example.ru"),
            Patient(102, "Петрова", "Анна", None, "+79990003344", None),
        ],  # fmt: skip
        appointments=[
            Appointment(1, 12, 1, local(tomorrow, "10:00"), local(tomorrow, "10:30"), "planned", 101),
            Appointment(2, 12, 1, local(tomorrow, "11:00"), local(tomorrow, "11:45"), "confirmed", 102),
            Appointment(3, 14, 1, local(tomorrow, "10:00"), local(tomorrow, "11:00"), "planned", 101),
        ],
    )
    return db, tomorrow


def events(sandbox, calendar_id: str) -> dict[str, dict]:
    items = sandbox._control("GET", f"/google_calendar/calendars/{calendar_id}/events")["items"]
    return {item["id"]: item for item in items}


def live(sandbox, calendar_id: str) -> dict[str, dict]:
    return {k: v for k, v in events(sandbox, calendar_id).items() if v["status"] != "cancelled"}


def test_create_move_cancel_and_rerun_without_duplicates(sandbox, google, clinic, ident_mysql):
    from ident_integrations.capabilities.calendar import event_id, sync_calendar
    from ident_integrations.store import tables

    db, tomorrow = clinic
    s = settings()
    cal12, cal14 = s.block.calendar_for(12), s.block.calendar_for(14)
    first = sync_calendar(s)
    assert (first["inserted"], first["patched"], first["deleted"]) == (3, 0, 0)
    assert set(live(sandbox, cal12)) == {event_id("gcal_test", 1), event_id("gcal_test", 2)}
    event = live(sandbox, cal12)[event_id("gcal_test", 1)]
    assert event["summary"] == "Иванов Пётр Сергеевич"
    assert "+7999" not in json.dumps(event, ensure_ascii=False)  # no phone by default
    assert event["start"]["dateTime"].startswith(f"{tomorrow}T10:00:00+03:00")
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_calendar_events WHERE integration = 'gcal_test'") == [(3,)]

    again = sync_calendar(s)
    assert (again["inserted"], again["patched"], again["deleted"], again["unchanged"]) == (0, 0, 0, 3)

    # Appointment 1 moves to 15:00, appointment 2 is cancelled.
    a = tables.appointments.c
    with db.begin() as conn:
        conn.execute(update(tables.appointments).where(a.id == 1).values(
            starts_at=local(tomorrow, "15:00"), ends_at=local(tomorrow, "15:30")))  # fmt: skip
        conn.execute(update(tables.appointments).where(a.id == 2).values(status="cancelled"))
    third = sync_calendar(s)
    assert (third["inserted"], third["patched"], third["deleted"], third["unchanged"]) == (0, 1, 1, 1)
    assert set(live(sandbox, cal12)) == {event_id("gcal_test", 1)}
    assert live(sandbox, cal12)[event_id("gcal_test", 1)]["start"]["dateTime"].startswith(f"{tomorrow}T15:00")
    assert len(events(sandbox, cal12)) == 2 and len(live(sandbox, cal14)) == 1  # never a duplicate
    assert query(ident_mysql, "SELECT appointment_id FROM ident_calendar_events ORDER BY 1") == [(1,), (3,)]


def test_a_crash_between_insert_and_commit_updates_instead_of_duplicating(sandbox, google, clinic, ident_mysql):
    from ident_integrations.capabilities.calendar import build_event, sync_calendar
    from ident_integrations.services.google_calendar import GOOGLE_CALENDAR
    from ident_integrations.store.calendar import CalendarStore

    db, tomorrow = clinic
    s = settings(repair_drift=False)  # only the 409 answer can tell the event exists
    store = CalendarStore(db, "gcal_test")
    # The crashed run: the event of appointment 1 went to Google, its row never reached the database.
    appointment = next(a for a in store.appointments(*_day(tomorrow)) if a.id == 1)
    wanted = build_event(s, appointment, s.block.calendar_for(12))
    GOOGLE_CALENDAR.hook(s).insert_event(wanted.calendar_id, wanted.body)
    result = sync_calendar(s)
    assert result["conflicts"] == 1 and result["inserted"] == 2
    assert len(events(sandbox, s.block.calendar_for(12))) == 2


def _day(day):
    return local(day, "00:00"), local(day + timedelta(days=1), "00:00")


def test_drift_is_repaired_and_patient_fields_are_configurable(sandbox, google, clinic, ident_mysql):
    from ident_integrations.capabilities.calendar import event_id, id_prefix, sync_calendar

    s = settings(patient_fields=("name", "phone"), summary_template="{patient} {phone}")
    cal12 = s.block.calendar_for(12)
    sync_calendar(s)
    assert live(sandbox, cal12)[event_id("gcal_test", 1)]["summary"] == "Иванов Пётр Сергеевич +79990001122"
    # Someone deletes our event in Google; a stray event of ours appears (a row lost).
    sandbox._control("DELETE", f"/google_calendar/calendars/{cal12}/events/{event_id('gcal_test', 1)}")
    _, tomorrow = clinic
    stray = {"id": f"{id_prefix('gcal_test')}999", "summary": "old",
             "start": {"dateTime": local(tomorrow, "18:00").isoformat()},
             "end": {"dateTime": local(tomorrow, "19:00").isoformat()},
             "extendedProperties": {"private": {"identIntegration": "gcal_test"}}}  # fmt: skip
    sandbox._control("POST", f"/google_calendar/calendars/{cal12}/events", json=stray)
    result = sync_calendar(s)
    assert result["restored"] == 1 and result["strays"] == 1 and result["unchanged"] == 2
    assert set(live(sandbox, cal12)) == {event_id("gcal_test", 1), event_id("gcal_test", 2)}


def test_a_template_naming_a_field_not_allowed_is_a_config_error():
    from pydantic import ValidationError

    from ident_integrations.capabilities.calendar import CalendarSettings

    with pytest.raises(ValidationError, match="patient_fields does not list 'phone'"):
        CalendarSettings(summary_template="{patient} {phone}")


def test_a_calendar_not_shared_fails_the_run_naming_it_after_the_others_sync(sandbox, google, clinic, ident_mysql):
    from ident_integrations.capabilities.calendar import sync_calendar

    s = settings()
    cal12, cal14 = s.block.calendar_for(12), s.block.calendar_for(14)
    sandbox._control("PUT", f"/google_calendar/calendars/{cal14}", json={"access": "reader"})
    with pytest.raises(AirflowFailException, match=cal14):
        sync_calendar(s)
    assert len(live(sandbox, cal12)) == 2 and live(sandbox, cal14) == {}


def test_429_backs_off_then_succeeds_and_the_token_is_never_logged(sandbox, google, clinic, ident_mysql, caplog):
    from ident_integrations.capabilities.calendar import sync_calendar

    s = settings()
    sandbox._control("POST", "/google_calendar/errors", json={"status": 429, "reason": "rateLimitExceeded",
                                                              "count": 2, "retry_after": 0.1})  # fmt: skip
    with caplog.at_level("INFO"):
        result = sync_calendar(s)
    assert result["inserted"] == 3
    stats = sandbox._control("GET", "/google_calendar/stats")
    assert stats["requests_by_status"]["429"] == 2
    logged = query(
        ident_mysql, "SELECT url, COALESCE(error_text, '') FROM ident_exchange_log WHERE capability = 'calendar'"
    )
    assert sum("429" in error for _, error in logged) == 2
    text = caplog.text + json.dumps(logged)
    assert stats["tokens"] and not any(token in text for token in stats["tokens"])
    assert google["private_key"].splitlines()[1] not in text


def test_a_key_google_does_not_know_fails_at_once(sandbox, google, clinic, monkeypatch):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from ident_hooks.exchange import ServiceAuthError
    from ident_integrations.capabilities.calendar import sync_calendar

    pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(*pem).decode()
    host = f"{sandbox.base_url}/google_calendar/"
    bad = json.dumps({**google, "private_key": other})
    monkeypatch.setenv(
        "AIRFLOW_CONN_GC_TEST", connection_json(conn_type="ident_google_calendar", host=host, password=bad)
    )
    before = sandbox._control("GET", "/google_calendar/stats")["refused_grants"]
    with pytest.raises(ServiceAuthError, match="invalid_grant: Invalid JWT Signature"):
        sync_calendar(settings())
    assert sandbox._control("GET", "/google_calendar/stats")["refused_grants"] == before + 1


def test_an_appointment_moved_to_another_doctor_moves_calendars_and_a_bad_one_is_rejected(
    sandbox, google, clinic, ident_mysql
):
    from ident_integrations.capabilities.calendar import event_id, sync_calendar
    from ident_integrations.store import tables

    db, tomorrow = clinic
    s = settings()
    cal12, cal14 = s.block.calendar_for(12), s.block.calendar_for(14)
    sync_calendar(s)
    a = tables.appointments.c
    with db.begin() as conn:
        conn.execute(update(tables.appointments).where(a.id == 2).values(doctor_id=14))
        conn.execute(update(tables.appointments).where(a.id == 3).values(ends_at=local(tomorrow, "09:00")))
    result = sync_calendar(s)
    assert (result["inserted"], result["deleted"], result["rejected"]) == (1, 2, 1)
    assert set(live(sandbox, cal12)) == {event_id("gcal_test", 1)}
    assert set(live(sandbox, cal14)) == {event_id("gcal_test", 2)}
    reasons = query(ident_mysql, "SELECT external_id, reason FROM ident_rejects WHERE capability = 'calendar'")
    assert len(reasons) == 1 and reasons[0][0] == "3" and "not after its start" in reasons[0][1]
    assert query(ident_mysql, "SELECT appointment_id, calendar_id FROM ident_calendar_events ORDER BY 1") == [
        (1, cal12), (2, cal14)]  # fmt: skip
