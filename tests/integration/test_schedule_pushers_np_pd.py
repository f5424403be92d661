"""The NaPopravku and ProDoctorov schedule pushers: a hand-built ScheduleExport (2 branches, one in
Vladivostok, 3 doctors, free and busy slots), pushed through the real hooks to the sandbox over
HTTP, and what the sandbox received checked field by field."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from ident_hooks.exchange import ServiceAuthError, ServiceResponseError
from ident_integrations.capabilities.schedule import ScheduleExport
from ident_integrations.config import RequestSettings, ResolvedCapability
from ident_integrations.records.schedule import Branch, Doctor, ScheduleSnapshot, Slot
from ident_integrations.registry import SERVICES
from tests.helpers import connection_json, schedule_settings

MSK, VLAT = timedelta(hours=3), timedelta(hours=10)
# 18:00 in Moscow on 2 June, already 01:00 on 3 June in Vladivostok.
NOW = datetime(2025, 6, 2, 15, 0, tzinfo=UTC)
FIRST = date(2025, 6, 2)
LAST = FIRST + timedelta(days=32)


def at(day: int, hhmm: str, offset: timedelta) -> datetime:
    hours, minutes = map(int, hhmm.split(":"))
    return datetime(2025, 6, day, hours, minutes, tzinfo=UTC) - offset


def slot(branch: int, doctor: int, day: int, start: str, end: str, status: str = "free") -> Slot:
    offset = MSK if branch == 1 else VLAT
    starts, ends = at(day, start, offset), at(day, end, offset)
    if ends <= starts:
        ends += timedelta(days=1)
    return Slot(branch, doctor, starts.astimezone(UTC), ends.astimezone(UTC), status, f"2025-06-{day:02d}")


BRANCHES = (
    Branch(1, "Дента на Невском", "Europe/Moscow", address="Невский пр., 100", phone="+7 812 000-00-01"),
    Branch(2, "Дента во Владивостоке", "Asia/Vladivostok"),
)
DOCTORS = (
    Doctor(10, "Иванова Анна Сергеевна", "Стоматолог-терапевт"),
    Doctor(11, "Петров Пётр Петрович", "Стоматолог-хирург"),
    Doctor(12, "Сидорова Мария Ивановна", ""),
    Doctor(13, "Исключённый Иван Иванович", "Ортодонт", exported=False),
)
LINKS = ((10, 1), (11, 1), (11, 2), (12, 2), (13, 1))
FREE = (
    slot(1, 10, 3, "12:00", "12:15"),
    slot(1, 10, 3, "12:15", "12:30"),
    slot(1, 10, 3, "12:30", "12:45"),
    slot(1, 10, 3, "14:00", "14:15"),
    slot(1, 10, 4, "10:00", "10:15"),
    slot(1, 11, 4, "11:00", "11:30"),
    slot(1, 11, 4, "23:45", "00:00"),  # ends at local midnight: no same-day HH:MM, left out
    slot(2, 11, 4, "09:00", "09:15"),  # 3 June 23:00 UTC: dated by Vladivostok's 4 June
    slot(2, 12, 5, "10:00", "10:15"),
    slot(1, 13, 3, "09:00", "09:15"),  # an excluded doctor's slot (the engine keeps it without use_rules)
)
BUSY = (
    slot(1, 10, 3, "12:45", "14:00", "busy"),
    slot(1, 11, 4, "10:00", "11:00", "busy"),
    slot(2, 12, 5, "09:00", "10:00", "busy"),
)


def make_export(free=FREE, busy=BUSY) -> ScheduleExport:
    snapshot = ScheduleSnapshot(BRANCHES, DOCTORS, LINKS, (), (), slot_minutes=15, read_at=NOW)
    return ScheduleExport(snapshot, tuple(free), tuple(busy), FIRST, LAST, NOW)


def settings(service: str, conn_id: str, **block) -> ResolvedCapability:
    return schedule_settings(service, conn_id, RequestSettings(request_backoff_seconds=0.01), **block)


def dates(first: date, count: int) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range(count)]


def sandbox_account(sandbox, service: str):
    """A fresh account of ``service`` in the sandbox, its state and the service's faults reset after."""
    name = f"sched-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/{service}/{name}/state")
    sandbox.reset_faults(service)


def settings_maker(monkeypatch, sandbox, service: str, host: str):
    """``make(token=None, **block)``: the settings of a new ``service`` connection to ``host``, with
    the sandbox key (or ``token``) as its password."""

    def make(token: str | None = None, **block) -> ResolvedCapability:
        conn_id = f"{service}_sched_{uuid.uuid4().hex[:6]}"
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            connection_json(conn_type=f"ident_{service}", host=host, password=sandbox.key if token is None else token),
        )
        return settings(service, conn_id, **block)

    return make


# -- NaPopravku -----------------------------------------------------------------------------------
@pytest.fixture
def np_account(sandbox):
    yield from sandbox_account(sandbox, "napopravku")


@pytest.fixture
def np_settings(monkeypatch, sandbox, np_account):
    return settings_maker(monkeypatch, sandbox, "napopravku", f"{sandbox.base_url}/napopravku/{np_account}/api/v1")


def np_received(sandbox, account) -> dict:
    return sandbox._control("GET", f"/napopravku/{account}/received")


def push_napopravku(settings_, export, exchanges=None):
    service = SERVICES["napopravku"]
    pusher = service.source("schedule")
    hook = service.hook(settings_, on_exchange=None if exchanges is None else exchanges.append)
    reference = pusher.push_reference(hook, pusher.reference(export, settings_), settings_)
    payload = pusher.payload(export, settings_)
    return reference, payload, pusher.push(hook, payload, settings_)


def test_napopravku_pusher_declares_free_slots_only_a_fixed_32_day_horizon_and_daily_reference():
    pusher = SERVICES["napopravku"].source("schedule")
    assert pusher.busy is False
    assert pusher.days_ahead == 32  # whatever schedule.days_ahead says (7 in these tests)
    assert pusher.reference is not None and pusher.push_reference is not None
    assert SERVICES["napopravku"].supports("leads")  # the lead source is still there


def test_napopravku_receives_clinics_doctors_and_every_date_of_the_horizon(sandbox, np_account, np_settings):
    s = np_settings(days_ahead=7)
    export = make_export()
    reference, payload, result = push_napopravku(s, export)
    assert (reference.requests, reference.sent) == (2, 6)  # 2 clinics + 4 doctors (no rules applied)
    assert "clinics 2 (created 2, updated 0)" in reference.detail
    assert result.requests == 2  # one POST slots per clinic
    got = np_received(sandbox, np_account)

    assert got["clinics"] == {
        "1": {"mis_clinic_id": "1", "name": "Дента на Невском", "comment": "Невский пр., 100, +7 812 000-00-01"},
        "2": {"mis_clinic_id": "2", "name": "Дента во Владивостоке", "comment": None},
    }
    assert got["doctors"]["10"] == {
        "mis_doctor_id": "10",
        "name": "Иванова Анна Сергеевна",
        "comment": "Стоматолог-терапевт",
        "mis_clinic_ids": ["1"],
    }
    assert got["doctors"]["11"]["mis_clinic_ids"] == ["1", "2"]
    assert got["doctors"]["12"]["comment"] is None and got["doctors"]["12"]["mis_clinic_ids"] == ["2"]
    assert set(got["doctors"]) == {"10", "11", "12", "13"}

    slots = got["slots"]
    assert set(slots) == {"1", "2"} and set(slots["1"]) == {"10", "11", "13"} and set(slots["2"]) == {"11", "12"}
    # Moscow's horizon: today (2 June) + 32 days; Vladivostok is already on 3 June: its own today + 32.
    for doctor in ("10", "11", "13"):
        assert list(slots["1"][doctor]) == dates(date(2025, 6, 2), 33)
    for doctor in ("11", "12"):
        assert list(slots["2"][doctor]) == dates(date(2025, 6, 3), 33)
    # Back-to-back 15-minute slots travel as one interval with duration 15; the service cuts them back.
    assert slots["1"]["10"]["2025-06-03"] == [
        {"from": "12:00", "to": "12:15"},
        {"from": "12:15", "to": "12:30"},
        {"from": "12:30", "to": "12:45"},
        {"from": "14:00", "to": "14:15"},
    ]
    assert slots["1"]["10"]["2025-06-04"] == [{"from": "10:00", "to": "10:15"}]
    assert slots["1"]["11"]["2025-06-04"] == [{"from": "11:00", "to": "11:30"}]  # not the 23:45 one
    assert slots["2"]["11"]["2025-06-04"] == [{"from": "09:00", "to": "09:15"}]  # Vladivostok's clock
    assert slots["2"]["12"]["2025-06-05"] == [{"from": "10:00", "to": "10:15"}]
    assert slots["1"]["10"]["2025-06-02"] == [] and slots["2"]["12"]["2025-07-05"] == []
    offered = sum(len(day) for doctors in slots.values() for days in doctors.values() for day in days.values())
    assert offered == result.sent == 9  # free slots only: no busy time, no midnight-crossing slot

    clinic_1 = payload["clinics"][0]
    assert clinic_1["mis_clinic_id"] == "1" and clinic_1["doctors"][0]["mis_doctor_id"] == "10"
    assert clinic_1["doctors"][0]["dates"][1] == {
        "date": "2025-06-03",
        "slots": [{"from": "12:00", "to": "12:45", "duration": 15}, {"from": "14:00", "to": "14:15", "duration": 15}],
    }
    assert payload == SERVICES["napopravku"].source("schedule").payload(make_export(), s)  # deterministic


def test_napopravku_rules_leave_out_an_excluded_doctor(sandbox, np_account, np_settings):
    s = np_settings(use_rules=True)
    reference, payload, _ = push_napopravku(s, make_export())
    got = np_received(sandbox, np_account)
    assert set(got["doctors"]) == {"10", "11", "12"} and "13" not in got["slots"]["1"]
    assert reference.sent == 5


def test_a_booked_slot_disappears_from_the_next_napopravku_push(sandbox, np_account, np_settings):
    s = np_settings()
    push_napopravku(s, make_export())
    booked = slot(1, 10, 3, "12:15", "12:30")
    push_napopravku(s, make_export(free=[x for x in FREE if x != booked]))
    got = np_received(sandbox, np_account)
    assert got["slots"]["1"]["10"]["2025-06-03"] == [
        {"from": "12:00", "to": "12:15"},
        {"from": "12:30", "to": "12:45"},
        {"from": "14:00", "to": "14:15"},
    ]
    # The last free slot of a date gone: the date is sent empty and cleared.
    push_napopravku(s, make_export(free=[x for x in FREE if x != slot(1, 10, 4, "10:00", "10:15")]))
    assert np_received(sandbox, np_account)["slots"]["1"]["10"]["2025-06-04"] == []
    assert np_received(sandbox, np_account)["pushes"] == {
        "clinics": 3,
        "doctors": 3,
        "slots": 6,
    }  # a POST slots per clinic


def test_a_rejected_napopravku_push_quotes_the_laravel_errors(sandbox, np_account, np_settings):
    s = np_settings()
    service = SERVICES["napopravku"]
    pusher = service.source("schedule")
    hook = service.hook(s)
    export = make_export()
    # Slots before the clinics and doctors exist: the service refuses the unknown ids.
    with pytest.raises(ServiceResponseError) as info:
        pusher.push(hook, pusher.payload(export, s), s)
    message = str(info.value)
    assert "NaPopravku rejected POST slots (422)" in message
    assert "clinics.0.mis_clinic_id: The selected clinics.0.mis clinic id is invalid." in message
    pusher.push_reference(hook, pusher.reference(export, s), s)
    day = {"date": "2025-06-03", "slots": [{"from": "9:00", "to": "09:15", "duration": None}]}
    bad = {"mis_clinic_id": "1", "doctors": [{"mis_doctor_id": "10", "dates": [day]}]}
    with pytest.raises(
        ServiceResponseError,
        match=r"clinics\.0\.doctors\.0\.dates\.0\.slots\.0\.from: The .* must match the format H:i",
    ):
        hook.update_slots([bad])
    assert np_received(sandbox, np_account)["rejected"] == 2


def test_a_refused_napopravku_token_fails_at_once(sandbox, np_account, np_settings):
    exchanges = []
    with pytest.raises(ServiceAuthError, match="Unauthenticated"):
        push_napopravku(np_settings(token="wrong-token"), make_export(), exchanges)
    assert len(exchanges) == 1  # no retries
    sandbox.set_faults("napopravku", auth_failure=True)
    exchanges.clear()
    with pytest.raises(ServiceAuthError, match="Integration key revoked"):
        push_napopravku(np_settings(), make_export(), exchanges)
    assert len(exchanges) == 1


def test_napopravku_push_survives_a_burst_of_5xx(sandbox, np_account, np_settings):
    sandbox.set_faults("napopravku", fail_next=2)
    _, _, result = push_napopravku(np_settings(), make_export())
    assert result.sent == 9 and np_received(sandbox, np_account)["pushes"]["slots"] == 2


# -- ProDoctorov ----------------------------------------------------------------------------------
@pytest.fixture
def pd_account(sandbox):
    yield from sandbox_account(sandbox, "prodoctorov")


@pytest.fixture
def pd_settings(monkeypatch, sandbox, pd_account):
    return settings_maker(monkeypatch, sandbox, "prodoctorov", f"{sandbox.base_url}/prodoctorov/{pd_account}/v2")


def pd_received(sandbox, account) -> dict:
    return sandbox._control("GET", f"/prodoctorov/{account}/received")


def push_prodoctorov(settings_, export, exchanges=None):
    service = SERVICES["prodoctorov"]
    pusher = service.source("schedule")
    hook = service.hook(settings_, on_exchange=None if exchanges is None else exchanges.append)
    payload = pusher.payload(export, settings_)
    return payload, pusher.push(hook, payload, settings_)


def test_prodoctorov_pusher_wants_busy_cells_and_keeps_the_configured_horizon():
    pusher = SERVICES["prodoctorov"].source("schedule")
    assert pusher.busy is True and pusher.days_ahead is None and pusher.reference is None
    assert SERVICES["prodoctorov"].conn_type == "ident_prodoctorov"


def test_prodoctorov_receives_filials_doctors_and_free_and_busy_cells(sandbox, pd_account, pd_settings):
    s = pd_settings(use_rules=True)
    payload, result = push_prodoctorov(s, make_export())
    got = pd_received(sandbox, pd_account)
    assert got["pushes"] == 1 and result.requests == 1
    filials = got["filials"]
    assert {k: v["name"] for k, v in filials.items()} == {"1": "Дента на Невском", "2": "Дента во Владивостоке"}
    assert set(filials["1"]["doctors"]) == {"10", "11"}  # 13 excluded by the rules
    assert set(filials["2"]["doctors"]) == {"11", "12"}
    ivanova = filials["1"]["doctors"]["10"]
    assert (ivanova["efio"], ivanova["espec"]) == ("Иванова Анна Сергеевна", "Стоматолог-терапевт")
    assert ivanova["cells"] == [
        {"dt": "2025-06-03", "time_start": "12:00", "time_end": "12:15", "free": True},
        {"dt": "2025-06-03", "time_start": "12:15", "time_end": "12:30", "free": True},
        {"dt": "2025-06-03", "time_start": "12:30", "time_end": "12:45", "free": True},
        {"dt": "2025-06-03", "time_start": "12:45", "time_end": "14:00", "free": False},
        {"dt": "2025-06-03", "time_start": "14:00", "time_end": "14:15", "free": True},
        {"dt": "2025-06-04", "time_start": "10:00", "time_end": "10:15", "free": True},
    ]
    assert filials["1"]["doctors"]["11"]["cells"] == [
        {"dt": "2025-06-04", "time_start": "10:00", "time_end": "11:00", "free": False},
        {"dt": "2025-06-04", "time_start": "11:00", "time_end": "11:30", "free": True},
    ]  # the 23:45-00:00 slot has no same-day form: left out
    assert filials["2"]["doctors"]["11"]["cells"] == [
        {"dt": "2025-06-04", "time_start": "09:00", "time_end": "09:15", "free": True}
    ]  # Vladivostok's date and clock, not Moscow's (3 June 23:00 UTC)
    sidorova = filials["2"]["doctors"]["12"]
    assert sidorova["efio"] == "Сидорова Мария Ивановна" and sidorova["espec"] is None
    assert "espec" not in payload["schedule"]["data"]["2"]["12"]  # no specialty: the key is left out
    assert sidorova["cells"] == [
        {"dt": "2025-06-05", "time_start": "09:00", "time_end": "10:00", "free": False},
        {"dt": "2025-06-05", "time_start": "10:00", "time_end": "10:15", "free": True},
    ]
    assert result.sent == 11 and result.detail == "filials 2, doctors 4, free 8, busy 3"
    assert payload["schedule"]["1"] == "Дента на Невском" and list(payload["schedule"]) == ["1", "2", "data"]


def test_prodoctorov_without_rules_lists_the_excluded_doctor_and_a_doctor_with_nothing_has_no_cells(
    sandbox, pd_account, pd_settings
):
    export = make_export(free=[x for x in FREE if x.doctor_id != 12], busy=[x for x in BUSY if x.doctor_id != 12])
    push_prodoctorov(pd_settings(), export)
    filials = pd_received(sandbox, pd_account)["filials"]
    assert filials["1"]["doctors"]["13"]["cells"] == [
        {"dt": "2025-06-03", "time_start": "09:00", "time_end": "09:15", "free": True}
    ]
    assert filials["2"]["doctors"]["12"]["cells"] == []  # sent empty: what ProDoctorov had is cleared


def test_a_rejected_prodoctorov_push_quotes_the_drf_errors(sandbox, pd_account, pd_settings):
    s = pd_settings()
    hook = SERVICES["prodoctorov"].hook(s)
    payload = SERVICES["prodoctorov"].source("schedule").payload(make_export(), s)
    cells = payload["schedule"]["data"]["1"]["10"]["cells"]
    cells[0] = {**cells[0], "time_start": "9:00", "free": "yes"}
    payload["schedule"]["data"]["7"] = {"99": {"efio": "Никто", "cells": []}}
    with pytest.raises(ServiceResponseError) as info:
        hook.send_schedule(payload)
    message = str(info.value)
    assert "ProDoctorov rejected POST doctors/send_schedule/ (400)" in message
    assert (
        "schedule.data.1.10.cells.0.time_start: Time has wrong format. Use one of these formats instead: hh:mm."
        in message
    )
    assert "schedule.data.1.10.cells.0.free: Must be a valid boolean." in message
    assert "schedule.data.7: Unknown filial '7'" in message
    got = pd_received(sandbox, pd_account)
    assert got["pushes"] == 0 and got["rejected"] == 1 and got["filials"] == {}


def test_a_refused_prodoctorov_token_fails_at_once_with_the_services_detail(sandbox, pd_account, pd_settings):
    exchanges = []
    with pytest.raises(ServiceAuthError, match=r"refused POST doctors/send_schedule/ with 401: Invalid token\."):
        push_prodoctorov(pd_settings(token="wrong-token"), make_export(), exchanges)
    assert len(exchanges) == 1
    sandbox.set_faults("prodoctorov", auth_failure=True)
    with pytest.raises(ServiceAuthError, match="Integration key revoked"):
        push_prodoctorov(pd_settings(), make_export())


def test_prodoctorov_push_survives_5xx_and_a_slow_answer(sandbox, pd_account, pd_settings):
    sandbox.set_faults("prodoctorov", fail_next=2)
    push_prodoctorov(pd_settings(), make_export())
    assert pd_received(sandbox, pd_account)["pushes"] == 1


def test_prodoctorov_connection_test(sandbox, pd_account, pd_settings):
    hook = SERVICES["prodoctorov"].hook(pd_settings())
    ok, message = hook.test_connection()
    assert ok and "token accepted (405" in message, message
    ok, message = SERVICES["prodoctorov"].hook(pd_settings(token="nope")).test_connection()
    assert not ok and "Invalid token." in message


def test_export_slot_dates_match_the_helper_data():
    # The hand-built slots carry the branch-local date the engine would give them.
    vlat = FREE[7]
    assert vlat.starts_at == datetime(2025, 6, 3, 23, 0, tzinfo=UTC) and vlat.local_date == "2025-06-04"


def test_each_receivers_index_lists_the_accounts_pushed_to(sandbox, np_account, np_settings, pd_account, pd_settings):
    """``GET /_sandbox/<service>/received``: the accounts that were pushed a schedule, and where to look."""
    push_napopravku(np_settings(), make_export())
    push_prodoctorov(pd_settings(), make_export())
    np_pushes = sum(np_received(sandbox, np_account)["pushes"].values())  # clinics, doctors, slots per clinic
    assert np_pushes == 2 + len(BRANCHES)
    for service, account, accepted in (("napopravku", np_account, np_pushes), ("prodoctorov", pd_account, 1)):
        index = sandbox._control("GET", f"/{service}/received")
        entry = index["accounts"][account]
        assert index["service"] == service and entry["accepted"] == accepted and entry["rejected"] == 0
        assert entry["received"] == f"/_sandbox/{service}/{account}/received"
        assert sandbox._control("GET", entry["received"].removeprefix("/_sandbox"))["rejected"] == 0
