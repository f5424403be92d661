"""The slot engine on hand-computed cases.

Every expected slot is written out literally: its local date (the branch's), then its start and end
in UTC, then its status. Moscow is UTC+3 all year, Yekaterinburg UTC+5, Berlin UTC+1 in winter and
UTC+2 in summer (from 02:00 on the last Sunday of March to 03:00 on the last Sunday of October).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.records.schedule import Appointment, Branch, Doctor, ScheduleSnapshot, WorkInterval
from ident_integrations.slots import busy_intervals, free_slots, horizon, schedule_slots

MSK = ZoneInfo("Europe/Moscow")
BERLIN = ZoneInfo("Europe/Berlin")
YEKT = ZoneInfo("Asia/Yekaterinburg")

DOCTOR = 7
BRANCH = 1
# 2026-03-02 00:00 in Moscow: "today" is Monday 2 March; every test shift below is later.
NOW = datetime(2026, 3, 1, 21, 0, tzinfo=UTC)
IVANOVA = Doctor(DOCTOR, "Иванова Анна Сергеевна")


def msk(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=MSK)


def snapshot(
    work,
    appointments=(),
    *,
    slot_minutes: int = 15,
    timezone: str = "Europe/Moscow",
    doctors=(IVANOVA,),
    branches=None,
) -> ScheduleSnapshot:
    """Shifts and appointments as (start, end) or (start, end, status) of doctor 7 at branch 1, or
    as full records."""
    shifts = tuple(w if isinstance(w, WorkInterval) else WorkInterval(DOCTOR, BRANCH, *w) for w in work)
    booked = tuple(
        a if isinstance(a, Appointment) else Appointment(n, DOCTOR, BRANCH, *a) for n, a in enumerate(appointments, 1)
    )
    return ScheduleSnapshot(
        branches=branches or (Branch(BRANCH, "Стоматология на Ленина", timezone),),
        doctors=doctors,
        doctor_branches=tuple({(w.doctor_id, w.branch_id) for w in shifts}),
        work_intervals=shifts,
        appointments=booked,
        slot_minutes=slot_minutes,
    )


def view(slots) -> list[tuple[str, str, str, str]]:
    """(local date, start UTC, end UTC, status) of each slot."""
    return [(s.local_date, f"{s.starts_at:%Y-%m-%d %H:%M}", f"{s.ends_at:%Y-%m-%d %H:%M}", s.status) for s in slots]


def everything(snap, *, now=NOW, days_ahead=3, skip_hours_today=0, **kwargs):
    return view(schedule_slots(snap, now=now, days_ahead=days_ahead, skip_hours_today=skip_hours_today, **kwargs))


# --- cutting free time ------------------------------------------------------------------------------


def test_a_shift_without_appointments_is_cut_from_its_start_and_the_remainder_is_not_offered():
    # 09:00-10:40 Moscow = 06:00-07:40 UTC; 30-minute slots: 09:00, 09:30, 10:00; 10:30-10:40 is too short.
    snap = snapshot([(msk(3, 9), msk(3, 10, 40))], slot_minutes=30)
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:30", "free"),
        ("2026-03-03", "2026-03-03 06:30", "2026-03-03 07:00", "free"),
        ("2026-03-03", "2026-03-03 07:00", "2026-03-03 07:30", "free"),
    ]


def test_slots_are_utc_and_carry_the_doctor_and_branch():
    slot = free_slots(snapshot([(msk(3, 9), msk(3, 9, 15))]), now=NOW, skip_hours_today=0)[0]
    assert (slot.branch_id, slot.doctor_id) == (BRANCH, DOCTOR)
    assert slot.starts_at == datetime(2026, 3, 3, 6, 0, tzinfo=UTC)
    assert slot.starts_at.utcoffset() == timedelta(0)
    assert slot.ends_at == datetime(2026, 3, 3, 6, 15, tzinfo=UTC)


def test_overlapping_appointments_are_one_busy_block_and_free_time_is_aligned_from_its_end():
    # Shift 09:00-12:00; appointments 09:30-10:15 and 10:00-10:50 overlap: booked 09:30-10:50.
    # Free 09:00-09:30 (09:00, 09:15) and 10:50-12:00 (10:50, 11:05, 11:20, 11:35; 11:50-12:00 too short).
    snap = snapshot(
        [(msk(3, 9), msk(3, 12))],
        [(msk(3, 9, 30), msk(3, 10, 15)), (msk(3, 10), msk(3, 10, 50))],
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:15", "free"),
        ("2026-03-03", "2026-03-03 06:15", "2026-03-03 06:30", "free"),
        ("2026-03-03", "2026-03-03 06:30", "2026-03-03 07:50", "busy"),
        ("2026-03-03", "2026-03-03 07:50", "2026-03-03 08:05", "free"),
        ("2026-03-03", "2026-03-03 08:05", "2026-03-03 08:20", "free"),
        ("2026-03-03", "2026-03-03 08:20", "2026-03-03 08:35", "free"),
        ("2026-03-03", "2026-03-03 08:35", "2026-03-03 08:50", "free"),
    ]


def test_an_appointment_inside_another_changes_nothing():
    snap = snapshot(
        [(msk(3, 9), msk(3, 10))],
        [(msk(3, 9), msk(3, 9, 45)), (msk(3, 9, 15), msk(3, 9, 30))],
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:45", "busy"),
        ("2026-03-03", "2026-03-03 06:45", "2026-03-03 07:00", "free"),
    ]


def test_back_to_back_appointments_are_one_busy_interval():
    # Shift 09:00-11:00; 09:15-09:45 and 09:45-10:30 back to back. Free 09:00-09:15 and 10:30-11:00.
    snap = snapshot(
        [(msk(3, 9), msk(3, 11))],
        [(msk(3, 9, 45), msk(3, 10, 30)), (msk(3, 9, 15), msk(3, 9, 45))],
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:15", "free"),
        ("2026-03-03", "2026-03-03 06:15", "2026-03-03 07:30", "busy"),
        ("2026-03-03", "2026-03-03 07:30", "2026-03-03 07:45", "free"),
        ("2026-03-03", "2026-03-03 07:45", "2026-03-03 08:00", "free"),
    ]


def test_appointments_sticking_out_of_the_shift_are_clipped_to_it():
    # Shift 10:00-12:00; 09:30-10:30 starts before it, 11:30-12:30 ends after it, 13:00-14:00 is outside.
    # Busy 10:00-10:30 and 11:30-12:00; free 10:30-11:30 = four slots.
    snap = snapshot(
        [(msk(3, 10), msk(3, 12))],
        [(msk(3, 9, 30), msk(3, 10, 30)), (msk(3, 11, 30), msk(3, 12, 30)), (msk(3, 13), msk(3, 14))],
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 07:00", "2026-03-03 07:30", "busy"),
        ("2026-03-03", "2026-03-03 07:30", "2026-03-03 07:45", "free"),
        ("2026-03-03", "2026-03-03 07:45", "2026-03-03 08:00", "free"),
        ("2026-03-03", "2026-03-03 08:00", "2026-03-03 08:15", "free"),
        ("2026-03-03", "2026-03-03 08:15", "2026-03-03 08:30", "free"),
        ("2026-03-03", "2026-03-03 08:30", "2026-03-03 09:00", "busy"),
    ]


def test_an_appointment_covering_the_whole_shift_leaves_one_busy_interval_and_no_slot():
    snap = snapshot([(msk(3, 10), msk(3, 11))], [(msk(3, 8), msk(3, 13))])
    assert everything(snap) == [("2026-03-03", "2026-03-03 07:00", "2026-03-03 08:00", "busy")]


def test_one_appointment_spanning_two_shifts_is_busy_in_each():
    # Shifts 09:00-10:00 and 10:30-11:30; one appointment 09:45-10:45 reaches into both.
    snap = snapshot(
        [(msk(3, 9), msk(3, 10)), (msk(3, 10, 30), msk(3, 11, 30))],
        [(msk(3, 9, 45), msk(3, 10, 45))],
        slot_minutes=45,
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:45", "free"),
        ("2026-03-03", "2026-03-03 06:45", "2026-03-03 07:00", "busy"),
        ("2026-03-03", "2026-03-03 07:30", "2026-03-03 07:45", "busy"),
        ("2026-03-03", "2026-03-03 07:45", "2026-03-03 08:30", "free"),
    ]


def test_a_cancelled_appointment_frees_its_time():
    snap = snapshot(
        [(msk(3, 9), msk(3, 10))],
        [(msk(3, 9), msk(3, 9, 30), "cancelled"), (msk(3, 9, 30), msk(3, 10), "confirmed")],
    )
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 06:15", "free"),
        ("2026-03-03", "2026-03-03 06:15", "2026-03-03 06:30", "free"),
        ("2026-03-03", "2026-03-03 06:30", "2026-03-03 07:00", "busy"),
    ]


def test_a_free_gap_shorter_than_a_slot_is_not_offered():
    # Shift 09:00-10:00; appointments 09:00-09:25 and 09:35-09:45: the gap 09:25-09:35 is 10 minutes,
    # the tail 09:45-10:00 is exactly one slot.
    snap = snapshot(
        [(msk(3, 9), msk(3, 10))],
        [(msk(3, 9), msk(3, 9, 25)), (msk(3, 9, 35), msk(3, 9, 45))],
    )
    assert view(free_slots(snap, now=NOW, skip_hours_today=0)) == [
        ("2026-03-03", "2026-03-03 06:45", "2026-03-03 07:00", "free"),
    ]


def test_overlapping_and_back_to_back_shifts_are_one_span():
    # 09:00-09:40 and 09:40-10:00 join into 09:00-10:00 (four slots, not two plus a remainder);
    # 14:00-15:00 and 14:30-15:10 join into 14:00-15:10 (four slots, 15:00-15:10 dropped).
    snap = snapshot(
        [
            (msk(3, 9), msk(3, 9, 40)),
            (msk(3, 9, 40), msk(3, 10)),
            (msk(3, 14), msk(3, 15)),
            (msk(3, 14, 30), msk(3, 15, 10)),
        ]
    )
    assert [start for _, start, _, _ in everything(snap)] == [
        "2026-03-03 06:00",
        "2026-03-03 06:15",
        "2026-03-03 06:30",
        "2026-03-03 06:45",
        "2026-03-03 11:00",
        "2026-03-03 11:15",
        "2026-03-03 11:30",
        "2026-03-03 11:45",
    ]


# --- midnight --------------------------------------------------------------------------------------


def test_a_shift_crossing_midnight_dates_each_slot_by_its_local_start():
    # 3 March 22:00 - 4 March 02:00 Moscow, 45-minute slots: 22:00, 22:45, 23:30 (ends 00:15, still
    # dated the 3rd), 00:15, 01:00 (01:45-02:00 too short).
    snap = snapshot([(msk(3, 22), msk(4, 2))], slot_minutes=45)
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 19:00", "2026-03-03 19:45", "free"),
        ("2026-03-03", "2026-03-03 19:45", "2026-03-03 20:30", "free"),
        ("2026-03-03", "2026-03-03 20:30", "2026-03-03 21:15", "free"),
        ("2026-03-04", "2026-03-03 21:15", "2026-03-03 22:00", "free"),
        ("2026-03-04", "2026-03-03 22:00", "2026-03-03 22:45", "free"),
    ]


def test_busy_time_across_midnight_is_split_at_local_midnight():
    # Night shift 22:00-02:00, appointment 23:00-00:30: busy 23:00-00:00 on the 3rd, 00:00-00:30 on the 4th.
    snap = snapshot([(msk(3, 22), msk(4, 2))], [(msk(3, 23), msk(4, 0, 30))], slot_minutes=30)
    assert everything(snap) == [
        ("2026-03-03", "2026-03-03 19:00", "2026-03-03 19:30", "free"),
        ("2026-03-03", "2026-03-03 19:30", "2026-03-03 20:00", "free"),
        ("2026-03-03", "2026-03-03 20:00", "2026-03-03 21:00", "busy"),
        ("2026-03-04", "2026-03-03 21:00", "2026-03-03 21:30", "busy"),
        ("2026-03-04", "2026-03-03 21:30", "2026-03-03 22:00", "free"),
        ("2026-03-04", "2026-03-03 22:00", "2026-03-03 22:30", "free"),
        ("2026-03-04", "2026-03-03 22:30", "2026-03-03 23:00", "free"),
    ]


# --- today's cut-off -------------------------------------------------------------------------------


def test_today_nothing_starting_within_the_skipped_hours_and_the_grid_is_kept():
    # Now 08:50 Moscow, 2 hours skipped: the cut-off is 10:50. The 09:00-12:00 shift's slots stay on
    # its 15-minute grid: 11:00, 11:15, 11:30, 11:45 (not 10:50, 11:05, ...).
    snap = snapshot([(msk(3, 9), msk(3, 12)), (msk(2, 9), msk(2, 12))])
    slots = free_slots(snap, now=msk(3, 8, 50), days_ahead=1, skip_hours_today=2)
    assert [start for _, start, _, _ in view(slots)] == [
        "2026-03-03 08:00",
        "2026-03-03 08:15",
        "2026-03-03 08:30",
        "2026-03-03 08:45",
    ]


def test_a_slot_starting_exactly_at_the_cut_off_is_offered():
    snap = snapshot([(msk(3, 10), msk(3, 11, 30))], slot_minutes=30)
    at_cut = free_slots(snap, now=msk(3, 9), days_ahead=0, skip_hours_today=2)  # cut-off 11:00 sharp
    assert view(at_cut) == [("2026-03-03", "2026-03-03 08:00", "2026-03-03 08:30", "free")]
    a_microsecond_later = free_slots(snap, now=msk(3, 9) + timedelta(microseconds=1), days_ahead=0)
    assert a_microsecond_later == []


def test_nothing_in_the_past_even_without_skipped_hours():
    snap = snapshot([(msk(3, 9), msk(3, 10))], [(msk(3, 9), msk(3, 9, 15))])
    assert everything(snap, now=msk(3, 9, 31)) == [
        ("2026-03-03", "2026-03-03 06:45", "2026-03-03 07:00", "free"),
    ]


def test_a_busy_interval_starting_before_the_cut_off_is_left_out_whole():
    # Cut-off 10:00: busy 09:30-10:30 is not exported (nor clipped to 10:00-10:30); busy 11:00-11:30 is.
    snap = snapshot([(msk(3, 9), msk(3, 12))], [(msk(3, 9, 30), msk(3, 10, 30)), (msk(3, 11), msk(3, 11, 30))])
    assert view(busy_intervals(snap, now=msk(3, 8), skip_hours_today=2)) == [
        ("2026-03-03", "2026-03-03 08:00", "2026-03-03 08:30", "busy"),
    ]


def test_the_cut_off_is_an_instant_so_it_reaches_past_midnight():
    # Now 23:00 on the 3rd, 2 hours skipped: tomorrow's 00:00 and 00:30 slots are within the cut.
    snap = snapshot([(msk(4, 0), msk(4, 2))], slot_minutes=30)
    assert view(free_slots(snap, now=msk(3, 23), skip_hours_today=2)) == [
        ("2026-03-04", "2026-03-03 22:00", "2026-03-03 22:30", "free"),
        ("2026-03-04", "2026-03-03 22:30", "2026-03-03 23:00", "free"),
    ]


# --- the horizon ------------------------------------------------------------------------------------


def test_the_horizons_last_day_is_included_and_the_day_after_is_not():
    # Now Monday 2 March 12:00 Moscow, days_ahead=2: dates 2, 3 and 4 March. The 2nd's 09:00 is past;
    # on the 4th, 23:00-01:00 gives 23:00 (dated the 4th, in) and 00:00 (the 5th, out); the 5th is out.
    snap = snapshot(
        [
            (msk(2, 9), msk(2, 10)),
            (msk(3, 9), msk(3, 10)),
            (msk(4, 9), msk(4, 10)),
            (msk(4, 23), msk(5, 1)),
            (msk(5, 9), msk(5, 10)),
        ],
        slot_minutes=60,
    )
    assert view(free_slots(snap, now=msk(2, 12), days_ahead=2, skip_hours_today=0)) == [
        ("2026-03-03", "2026-03-03 06:00", "2026-03-03 07:00", "free"),
        ("2026-03-04", "2026-03-04 06:00", "2026-03-04 07:00", "free"),
        ("2026-03-04", "2026-03-04 20:00", "2026-03-04 21:00", "free"),
    ]


def test_a_slot_starting_on_the_horizons_last_day_is_offered_whole_even_past_its_midnight():
    # Last day the 4th; 23:30-01:30 with 60-minute slots: 23:30-00:30 starts on the 4th (in, whole),
    # 00:30-01:30 starts on the 5th (out).
    snap = snapshot([(msk(4, 23, 30), msk(5, 1, 30))], slot_minutes=60)
    assert view(free_slots(snap, now=msk(2, 12), days_ahead=2, skip_hours_today=0)) == [
        ("2026-03-04", "2026-03-04 20:30", "2026-03-04 21:30", "free"),
    ]


def test_busy_time_on_the_horizons_last_night_ends_at_its_midnight():
    snap = snapshot([(msk(4, 22), msk(5, 2))], [(msk(4, 23), msk(5, 1))], slot_minutes=60)
    assert view(busy_intervals(snap, now=msk(2, 12), days_ahead=2, skip_hours_today=0)) == [
        ("2026-03-04", "2026-03-04 20:00", "2026-03-04 21:00", "busy"),
    ]


def test_horizon_names_its_dates_and_bounds():
    window = horizon("Europe/Moscow", now=msk(2, 12), days_ahead=2, skip_hours_today=2)
    assert window.dates == ("2026-03-02", "2026-03-03", "2026-03-04")
    assert window.starts_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)
    assert window.ends_at == datetime(2026, 3, 4, 21, 0, tzinfo=UTC)
    assert len(horizon("Europe/Moscow", now=msk(2, 12)).dates) == 31
    assert len(horizon("Europe/Moscow", now=msk(2, 12), days_ahead=32).dates) == 33


def test_the_skipped_hours_are_real_hours_on_a_dst_night():
    # Berlin, 29 March 2026 01:30 CET (00:30 UTC); two real hours later it is 04:30 CEST (02:30 UTC).
    window = horizon("Europe/Berlin", now=datetime(2026, 3, 29, 1, 30, tzinfo=BERLIN), days_ahead=0)
    assert window.starts_at == datetime(2026, 3, 29, 2, 30, tzinfo=UTC)


# --- time zones -----------------------------------------------------------------------------------


def berlin_snapshot(day: int, month: int, start: int, end: int) -> ScheduleSnapshot:
    shift = (datetime(2026, month, day, start, tzinfo=BERLIN), datetime(2026, month, day, end, tzinfo=BERLIN))
    return snapshot([shift], slot_minutes=60, timezone="Europe/Berlin")


@pytest.mark.parametrize(
    ("day", "month", "starts_utc"),
    [
        # Saturday before the March change: CET, UTC+1.
        (28, 3, ["2026-03-28 08:00", "2026-03-28 09:00", "2026-03-28 10:00"]),
        # Sunday 29 March, clocks went 02:00 -> 03:00 in the night: CEST, UTC+2.
        (29, 3, ["2026-03-29 07:00", "2026-03-29 08:00", "2026-03-29 09:00"]),
        # Saturday before the October change: still CEST.
        (24, 10, ["2026-10-24 07:00", "2026-10-24 08:00", "2026-10-24 09:00"]),
        # Sunday 25 October, clocks went 03:00 -> 02:00: CET again.
        (25, 10, ["2026-10-25 08:00", "2026-10-25 09:00", "2026-10-25 10:00"]),
    ],
)
def test_a_morning_shift_around_the_dst_sundays_in_berlin(day, month, starts_utc):
    # 09:00-12:00 local, hourly slots; the horizon (from 27 March, 240 days) covers both changes.
    now = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)
    slots = view(free_slots(berlin_snapshot(day, month, 9, 12), now=now, days_ahead=240, skip_hours_today=0))
    assert [start for _, start, _, _ in slots] == starts_utc
    assert {local_date for local_date, *_ in slots} == {f"2026-{month:02d}-{day:02d}"}


def test_the_dst_transition_sunday_in_berlin_gives_the_right_utc_slots():
    # 09:00-12:00 CEST on 29 March 2026 = 07:00-10:00 UTC, three 60-minute slots.
    slots = free_slots(berlin_snapshot(29, 3, 9, 12), now=datetime(2026, 3, 28, 12, tzinfo=UTC), skip_hours_today=0)
    assert view(slots) == [
        ("2026-03-29", "2026-03-29 07:00", "2026-03-29 08:00", "free"),
        ("2026-03-29", "2026-03-29 08:00", "2026-03-29 09:00", "free"),
        ("2026-03-29", "2026-03-29 09:00", "2026-03-29 10:00", "free"),
    ]


def test_a_night_shift_over_the_spring_change_is_one_hour_shorter():
    # 01:00 CET - 04:00 CEST on 29 March is 00:00-02:00 UTC: two real hours, two slots.
    slots = free_slots(berlin_snapshot(29, 3, 1, 4), now=datetime(2026, 3, 28, 12, tzinfo=UTC), skip_hours_today=0)
    assert view(slots) == [
        ("2026-03-29", "2026-03-29 00:00", "2026-03-29 01:00", "free"),
        ("2026-03-29", "2026-03-29 01:00", "2026-03-29 02:00", "free"),
    ]


def test_a_night_shift_over_the_autumn_change_is_one_hour_longer():
    # 01:00 CEST - 04:00 CET on 25 October is 23:00 (24th) - 03:00 UTC: four slots, all on the local 25th.
    slots = free_slots(berlin_snapshot(25, 10, 1, 4), now=datetime(2026, 10, 24, 12, tzinfo=UTC), skip_hours_today=0)
    assert view(slots) == [
        ("2026-10-25", "2026-10-24 23:00", "2026-10-25 00:00", "free"),
        ("2026-10-25", "2026-10-25 00:00", "2026-10-25 01:00", "free"),
        ("2026-10-25", "2026-10-25 01:00", "2026-10-25 02:00", "free"),
        ("2026-10-25", "2026-10-25 02:00", "2026-10-25 03:00", "free"),
    ]


def test_yekaterinburgs_today_is_not_moscows_around_midnight_utc():
    # Now 20:00 UTC on 2 March: 23:00 on the 2nd in Moscow, 01:00 on the 3rd in Yekaterinburg.
    # With days_ahead=0 each branch exports its own today only.
    moscow, yekaterinburg = Branch(1, "Москва", "Europe/Moscow"), Branch(2, "Екатеринбург", "Asia/Yekaterinburg")
    snap = snapshot(
        [
            WorkInterval(DOCTOR, 1, msk(2, 23), msk(2, 23, 30)),  # Moscow today: in
            WorkInterval(DOCTOR, 1, msk(3, 9), msk(3, 9, 30)),  # Moscow tomorrow: out
            WorkInterval(DOCTOR, 2, datetime(2026, 3, 2, 23, tzinfo=YEKT), datetime(2026, 3, 3, 0, tzinfo=YEKT)),
            WorkInterval(DOCTOR, 2, datetime(2026, 3, 3, 9, tzinfo=YEKT), datetime(2026, 3, 3, 9, 30, tzinfo=YEKT)),
        ],
        slot_minutes=30,
        branches=(yekaterinburg, moscow),
    )
    now = datetime(2026, 3, 2, 20, 0, tzinfo=UTC)
    slots = free_slots(snap, now=now, days_ahead=0, skip_hours_today=0)
    assert [(s.branch_id, *row) for s, row in zip(slots, view(slots), strict=True)] == [
        (1, "2026-03-02", "2026-03-02 20:00", "2026-03-02 20:30", "free"),
        (2, "2026-03-03", "2026-03-03 04:00", "2026-03-03 04:30", "free"),
    ]
    assert horizon("Europe/Moscow", now=now, days_ahead=0).dates == ("2026-03-02",)
    assert horizon("Asia/Yekaterinburg", now=now, days_ahead=0).dates == ("2026-03-03",)


# --- doctors ----------------------------------------------------------------------------------------


def doctors_snapshot() -> ScheduleSnapshot:
    doctors = (
        Doctor(1, "Активная Анна"),
        Doctor(2, "Уволенный Пётр", active=False),
        Doctor(3, "Исключённая Мария", exported=False),
        Doctor(4, "Уволенный и исключённый", active=False, exported=False),
    )
    work = [WorkInterval(d.id, BRANCH, msk(3, 9), msk(3, 9, 15)) for d in doctors]
    work.append(WorkInterval(99, BRANCH, msk(3, 9), msk(3, 9, 15)))  # not in the snapshot's doctors
    return snapshot(work, doctors=doctors)


def test_an_inactive_doctor_is_never_exported():
    for use_rules in (False, True):
        ids = {s.doctor_id for s in schedule_slots(doctors_snapshot(), now=NOW, use_rules=use_rules)}
        assert 2 not in ids and 4 not in ids and 99 not in ids


def test_an_excluded_doctor_is_left_out_only_where_the_rules_apply():
    assert [s.doctor_id for s in free_slots(doctors_snapshot(), now=NOW)] == [1, 3]
    assert [s.doctor_id for s in free_slots(doctors_snapshot(), now=NOW, use_rules=True)] == [1]


def test_appointments_at_another_branch_or_of_another_doctor_do_not_count():
    snap = snapshot(
        [(msk(3, 9), msk(3, 9, 30))],
        [Appointment(1, DOCTOR, 2, msk(3, 9), msk(3, 9, 15)), Appointment(2, 8, BRANCH, msk(3, 9, 15), msk(3, 9, 30))],
    )
    assert [status for *_, status in everything(snap)] == ["free", "free"]


# --- order and the three views --------------------------------------------------------------------


def network(reverse: bool) -> ScheduleSnapshot:
    branches = (Branch(2, "Вторая", "Europe/Moscow"), Branch(1, "Первая", "Europe/Moscow"))
    doctors = (Doctor(9, "Девятый"), Doctor(3, "Третий"))
    work = [
        WorkInterval(9, 2, msk(3, 9), msk(3, 10)),
        WorkInterval(3, 2, msk(3, 9), msk(3, 10)),
        WorkInterval(9, 1, msk(4, 9), msk(4, 10)),
        WorkInterval(3, 1, msk(3, 14), msk(3, 15)),
        WorkInterval(3, 1, msk(3, 9), msk(3, 10)),
    ]
    booked = [
        Appointment(1, 9, 2, msk(3, 9, 30), msk(3, 10)),
        Appointment(2, 3, 1, msk(3, 14), msk(3, 14, 30)),
        Appointment(3, 3, 1, msk(3, 9), msk(3, 9, 30)),
    ]
    if reverse:
        branches, doctors, work, booked = branches[::-1], doctors[::-1], work[::-1], booked[::-1]
    return ScheduleSnapshot(branches, doctors, (), tuple(work), tuple(booked), slot_minutes=30)


def test_the_order_is_branch_doctor_start_whatever_the_snapshots_order():
    expected = [
        (1, 3, "2026-03-03 06:00", "busy"),
        (1, 3, "2026-03-03 06:30", "free"),
        (1, 3, "2026-03-03 11:00", "busy"),
        (1, 3, "2026-03-03 11:30", "free"),
        (1, 9, "2026-03-04 06:00", "free"),
        (1, 9, "2026-03-04 06:30", "free"),
        (2, 3, "2026-03-03 06:00", "free"),
        (2, 3, "2026-03-03 06:30", "free"),
        (2, 9, "2026-03-03 06:00", "free"),
        (2, 9, "2026-03-03 06:30", "busy"),
    ]
    for reverse in (False, True):
        slots = schedule_slots(network(reverse), now=NOW, skip_hours_today=0)
        assert [(s.branch_id, s.doctor_id, f"{s.starts_at:%Y-%m-%d %H:%M}", s.status) for s in slots] == expected
        assert slots == sorted(slots)


def test_free_slots_and_busy_intervals_are_the_two_halves_of_schedule_slots():
    both = schedule_slots(network(False), now=NOW, skip_hours_today=0)
    free = free_slots(network(False), now=NOW, skip_hours_today=0)
    busy = busy_intervals(network(False), now=NOW, skip_hours_today=0)
    assert free == [s for s in both if s.status == "free"]
    assert busy == [s for s in both if s.status == "busy"]
    assert len(free) == 7 and len(busy) == 3


def test_the_same_snapshot_gives_the_same_slots():
    assert schedule_slots(network(False), now=NOW) == schedule_slots(network(False), now=NOW)


# --- refused input -----------------------------------------------------------------------------------


def test_naive_date_times_and_bad_arguments_are_refused():
    snap = snapshot([(msk(3, 9), msk(3, 10))])
    with pytest.raises(ValueError, match="timezone-aware"):
        free_slots(snap, now=datetime(2026, 3, 2, 12))
    with pytest.raises(ValueError, match="timezone-aware"):
        free_slots(snapshot([(datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 10))]), now=NOW)
    with pytest.raises(ValueError, match="days_ahead"):
        free_slots(snap, now=NOW, days_ahead=-1)
    with pytest.raises(ValueError, match="skip_hours_today"):
        free_slots(snap, now=NOW, skip_hours_today=-1)
    with pytest.raises(ValueError, match="slot_minutes"):
        free_slots(snapshot([(msk(3, 9), msk(3, 10))], slot_minutes=0), now=NOW)


def test_the_garbage_collector_is_left_as_it_was():
    import gc

    snap = snapshot([(msk(3, 9), msk(3, 10))])
    assert gc.isenabled()
    free_slots(snap, now=NOW)
    assert gc.isenabled()
    gc.disable()
    try:
        free_slots(snap, now=NOW)
        assert not gc.isenabled()
        with pytest.raises(ValueError):
            free_slots(snapshot([(datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 10))]), now=NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()
    with pytest.raises(ValueError):
        free_slots(snapshot([(datetime(2026, 3, 3, 9), datetime(2026, 3, 3, 10))]), now=NOW)
    assert gc.isenabled()
