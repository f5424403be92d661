"""The schedule store on real databases (MariaDB and SQLite): the snapshot reads exactly the rows
that overlap its window, and IDENT's export rules — slot length, the per-doctor switch and the rule
for new staff (once any doctor was excluded, a doctor added later starts excluded until switched on)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ident_integrations.records.patients import Patient
from ident_integrations.records.schedule import Appointment, Branch, Doctor, WorkInterval
from ident_integrations.store.schedule import ScheduleStore, resolve_export
from tests.helpers import query

T0 = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)  # 09:00 in Moscow


def h(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


@pytest.fixture(params=["mariadb", "sqlite"])
def store(request):
    request.getfixturevalue("ident_mysql" if request.param == "mariadb" else "ident_sqlite")
    store = ScheduleStore.open("ident_db")
    store.clear()  # the MariaDB database is shared by the run: start from no schedule rows
    return store


BRANCHES = [
    Branch(1, "На Тверской", "Europe/Moscow", "г. Москва, ул. Тверская, д. 12", "+74950000001"),
    Branch(2, "В Екатеринбурге", "Asia/Yekaterinburg"),
]
DOCTORS = [
    Doctor(1, "Иванова Анна Сергеевна", "Стоматолог-терапевт"),
    Doctor(2, "Петров Олег Ильич", "Стоматолог-хирург"),
    Doctor(3, "Сидоров Пётр Петрович", "Ортодонт", active=False),
]


def test_the_snapshot_reads_exactly_the_rows_overlapping_its_window(store):
    start, end = h(0), h(10)
    store.add(
        branches=BRANCHES,
        doctors=DOCTORS,
        doctor_branches=[(1, 1), (1, 2), (2, 1), (3, 1)],
        work_intervals=[
            WorkInterval(1, 1, h(-8), h(-2)),  # ends before the window: out
            WorkInterval(1, 1, h(-1), h(1)),  # sticks in from before: in
            WorkInterval(1, 2, h(2), h(8)),  # inside: in
            WorkInterval(2, 1, h(9), h(12)),  # sticks out past the end: in
            WorkInterval(2, 1, h(10), h(14)),  # starts at the end (half-open): out
            WorkInterval(2, 1, h(-6), h(0)),  # ends at the start: out
            WorkInterval(3, 1, h(1), h(5)),  # an inactive doctor's: out
        ],
        patients=[Patient(7, "Смирнова", "Ольга", "Ивановна", "+79160000007", "o@example.ru", "г. Москва, Арбат, 1")],
        appointments=[
            Appointment(10, 1, 1, h(-0.5), h(0.25), "completed", 7),  # overlaps the start: in
            Appointment(11, 1, 2, h(3), h(3.5), "cancelled", 7),  # cancelled: still read (it frees its time)
            Appointment(12, 1, 2, h(3), h(3.25), "planned"),  # no patient
            Appointment(13, 2, 1, h(9.75), h(10.5), "confirmed", 7),  # overlaps the end: in
            Appointment(14, 2, 1, h(10), h(10.5), "planned", 7),  # starts at the end: out
            Appointment(15, 2, 1, h(-1), h(0), "completed", 7),  # ends at the start: out
            Appointment(16, 3, 1, h(2), h(3), "planned", 7),  # an inactive doctor's: out
        ],
    )
    snap = store.snapshot(start, end)
    assert snap.branches == tuple(BRANCHES)  # every branch, with its timezone; no address read back as ""
    assert snap.doctors == (DOCTORS[0], DOCTORS[1])  # active ones only, both exported (nobody excluded)
    assert snap.doctor_branches == ((1, 1), (1, 2), (2, 1))
    assert snap.work_intervals == (
        WorkInterval(1, 1, h(-1), h(1)),
        WorkInterval(1, 2, h(2), h(8)),
        WorkInterval(2, 1, h(9), h(12)),
    )
    assert snap.appointments == (
        Appointment(10, 1, 1, h(-0.5), h(0.25), "completed", 7),
        Appointment(11, 1, 2, h(3), h(3.5), "cancelled", 7),
        Appointment(12, 1, 2, h(3), h(3.25), "planned", None),
        Appointment(13, 2, 1, h(9.75), h(10.5), "confirmed", 7),
    )
    assert all(w.starts_at.tzinfo is UTC for w in snap.work_intervals)  # aware UTC out
    assert snap.slot_minutes == 15 and snap.read_at is not None
    with pytest.raises(ValueError, match="timezone-aware"):
        store.snapshot(start.replace(tzinfo=None), end)


def test_slot_length_defaults_to_15_minutes_and_is_kept(store):
    assert store.slot_minutes() == 15
    store.set_slot_minutes(30)
    store.set_slot_minutes(20)  # the rules are one row: updated, not added
    assert store.slot_minutes() == 20 and store.snapshot(h(0), h(1)).slot_minutes == 20
    raw = store.db.engine.raw_connection()
    try:
        assert query(raw, "SELECT id, slot_minutes FROM ident_schedule_rules") == [(1, 20)]
    finally:
        raw.close()
    for wrong in (0, -15, 24 * 60 + 1, 15.5, True):
        with pytest.raises(ValueError, match="whole number of minutes"):
            store.set_slot_minutes(wrong)


def exported(store) -> dict[int, bool]:
    via_snapshot = {d.id: d.exported for d in store.snapshot(h(0), h(1)).doctors}
    assert via_snapshot == {k: v for k, v in store.doctor_exports().items() if k in via_snapshot}
    return via_snapshot


def test_without_any_exclusion_a_new_doctor_is_exported(store):
    store.add(doctors=DOCTORS[:2], added_at=h(-100))
    store.add(doctors=[Doctor(4, "Новикова Мария Павловна", "Ортодонт")])
    assert exported(store) == {1: True, 2: True, 4: True}


def test_after_an_exclusion_doctors_added_later_start_excluded_until_switched_on(store):
    store.add(doctors=DOCTORS[:2], added_at=h(-100))
    store.set_doctor_export(2, False)
    assert exported(store) == {1: True, 2: False}  # doctor 1 was there before the exclusion: unchanged
    store.set_doctor_export(2, True)  # everyone exported again: the rule for new staff still holds
    store.add(doctors=[Doctor(4, "Новикова Мария Павловна", "Ортодонт")])  # added now, after it
    store.add(doctors=[Doctor(5, "Орлов Илья Андреевич", "Имплантолог")])
    assert exported(store) == {1: True, 2: True, 4: False, 5: False}
    store.set_doctor_export(4, True)
    assert exported(store) == {1: True, 2: True, 4: True, 5: False}
    store.set_doctor_export(4, True)  # idempotent
    store.set_doctor_export(1, False)
    assert exported(store) == {1: False, 2: True, 4: True, 5: False}
    with pytest.raises(KeyError, match="no doctor 99"):
        store.set_doctor_export(99, False)


def test_replace_drops_every_schedule_row_the_rules_included(store):
    store.add(branches=BRANCHES, doctors=DOCTORS, doctor_branches=[(1, 1)], added_at=h(-100))
    store.set_doctor_export(1, False)
    store.set_slot_minutes(30)
    store.replace(doctors=[Doctor(9, "Орлов Илья Андреевич")])
    counts = store.counts()
    assert counts["ident_doctors"] == 1 and counts["ident_branches"] == 0 and counts["ident_doctor_export"] == 0
    assert store.slot_minutes() == 15 and exported(store) == {9: True}  # no exclusion any more


@pytest.mark.parametrize(
    "switch, added_at, since, expected",
    [
        (None, h(0), None, True),  # nobody was ever excluded
        (None, h(0), h(1), True),  # added before the first exclusion
        (None, h(1), h(1), True),  # the same moment counts as before
        (None, h(2), h(1), False),  # added after it: starts excluded
        (True, h(2), h(1), True),  # ... until switched on
        (False, h(0), None, False),  # switched off
    ],
)
def test_resolve_export(switch, added_at, since, expected):
    assert resolve_export(switch, added_at, since) is expected
