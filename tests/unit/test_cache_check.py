"""The cache check's comparison: missing, extra and changed rows counted per clinic day."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from ident_integrations.cache_check import closed_days, compare_by_day, frame

MSK = ZoneInfo("Europe/Moscow")


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


def test_missing_extra_and_changed_rows_are_counted_per_clinic_day():
    source = frame([("a", at(1, 10), "h1"), ("b", at(1, 11), "h2"), ("c", at(2, 10), "new"), ("d", at(2, 22), "h4")])
    stored = frame([("a", at(1, 10), "h1"), ("c", at(2, 10), "old"), ("x", at(2, 12), "hx")])
    comparison = compare_by_day(source, stored, MSK)
    assert sorted(comparison.keys("missing")) == ["b", "d"]
    assert comparison.keys("extra") == ["x"] and comparison.keys("changed") == ["c"]
    report = comparison.report.to_dict(orient="index")
    # 22:00 UTC on the 2nd is 01:00 on the 3rd in Moscow: the clinic's day counts.
    assert report == {
        date(2026, 11, 1): {"fetched": 2, "stored": 1, "missing": 1, "extra": 0, "changed": 0},
        date(2026, 11, 2): {"fetched": 1, "stored": 2, "missing": 0, "extra": 1, "changed": 1},
        date(2026, 11, 3): {"fetched": 1, "stored": 0, "missing": 1, "extra": 0, "changed": 0},
    }


def test_equal_sides_have_nothing_to_repair_and_empty_sides_compare():
    rows = [("a", at(1, 10), "h1")]
    assert compare_by_day(frame(rows), frame(rows), MSK).keys("missing", "extra", "changed") == []
    empty = compare_by_day(frame([]), frame([]), MSK)
    assert empty.report.empty and empty.keys("missing") == []


def test_closed_days_are_yesterday_and_before_in_clinic_time():
    now = datetime(2026, 11, 24, 22, 30, tzinfo=UTC)  # already the 25th in Moscow
    assert closed_days(3, now, MSK) == [date(2026, 11, 22), date(2026, 11, 23), date(2026, 11, 24)]
