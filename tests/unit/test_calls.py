"""Call history's pure logic: which window a run loads, how it is cut into chunks, and how each
service's record becomes a Call (every field), with bad records rejected for a clear reason."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.capabilities.calls import chunks, days_window, regular_window
from ident_integrations.records.calls import validate_calls
from ident_integrations.services import clinic_http, uis

MSK = ZoneInfo("Europe/Moscow")
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)  # 12:30 in Moscow


def msk(*args) -> datetime:
    return datetime(*args, tzinfo=MSK)


# --- windows and chunks -----------------------------------------------------------------------------


def test_the_first_run_loads_from_the_start_date():
    start, end = regular_window(last_window_end=None, start_date=date(2026, 1, 10), enabled_on=date(2026, 11, 1),
                                now=NOW, tz=MSK)  # fmt: skip
    assert start == msk(2026, 1, 10) and end == NOW


def test_without_a_start_date_the_first_run_loads_from_the_day_it_was_enabled():
    start, _ = regular_window(last_window_end=None, start_date=None, enabled_on=date(2026, 11, 20), now=NOW, tz=MSK)
    assert start == msk(2026, 11, 20)


def test_a_regular_run_reloads_one_closed_day_before_where_the_last_window_ended():
    last_end = msk(2026, 11, 24, 6, 0)  # the last run ended this morning
    start, _ = regular_window(last_window_end=last_end, start_date=date(2026, 1, 1), enabled_on=date(2026, 1, 1),
                              now=NOW, tz=MSK)  # fmt: skip
    assert start == msk(2026, 11, 23)
    # The day's boundary is the clinic's: 22:30 UTC on the 23rd is already the 24th in Moscow.
    start, _ = regular_window(last_window_end=datetime(2026, 11, 23, 22, 30, tzinfo=UTC), start_date=None,
                              enabled_on=date(2026, 1, 1), now=NOW, tz=MSK)  # fmt: skip
    assert start == msk(2026, 11, 23)


def test_a_day_range_is_inclusive_and_never_reaches_past_now():
    assert days_window(date(2026, 11, 1), date(2026, 11, 3), now=NOW, tz=MSK) == (msk(2026, 11, 1), msk(2026, 11, 4))
    assert days_window(date(2026, 11, 23), date(2026, 11, 30), now=NOW, tz=MSK)[1] == NOW
    with pytest.raises(Exception, match="to_date 2026-11-01 is before from_date 2026-11-03"):
        days_window(date(2026, 11, 3), date(2026, 11, 1), now=NOW, tz=MSK)


def test_chunks_are_cut_at_clinic_midnights_and_cover_the_window_once():
    start, end = msk(2026, 1, 1), msk(2026, 1, 20, 15, 45)
    pieces = chunks(start, end, 7, MSK)
    assert pieces == [
        (msk(2026, 1, 1), msk(2026, 1, 8)),
        (msk(2026, 1, 8), msk(2026, 1, 15)),
        (msk(2026, 1, 15), msk(2026, 1, 20, 15, 45)),
    ]


def test_a_window_starting_mid_day_ends_its_first_chunk_at_a_midnight():
    pieces = chunks(msk(2026, 1, 1, 12), msk(2026, 1, 3, 6), 1, MSK)
    assert pieces == [(msk(2026, 1, 1, 12), msk(2026, 1, 2)), (msk(2026, 1, 2), msk(2026, 1, 3)),
                      (msk(2026, 1, 3), msk(2026, 1, 3, 6))]  # fmt: skip


def test_a_short_backfill_interval_is_one_chunk_and_an_empty_window_none():
    interval = (datetime(2026, 3, 1, 3, tzinfo=UTC), datetime(2026, 3, 1, 6, tzinfo=UTC))
    assert chunks(*interval, 7, MSK) == [interval]
    assert chunks(NOW, NOW, 7, MSK) == []
    assert chunks(NOW + timedelta(days=1), NOW, 7, MSK) == []


# --- UIS -------------------------------------------------------------------------------------------


class AccountHook:
    """Stands in for UisHook's two local answers (its account timezone and link format); the hook
    itself is tested against the sandbox in tests/integration/test_uis_hook.py."""

    def timezone(self):
        return ZoneInfo("Asia/Yekaterinburg")  # +05:00: the account's zone, not the clinic's

    def record_url(self, communication_id, record_id):
        return f"https://app.uiscom.ru/system/media/talk/{communication_id}/{record_id}/"


UIS_CALL = {
    "id": 1234567890,
    "start_time": "2024-05-01 10:15:03",
    "finish_time": "2024-05-01 10:18:44",
    "finish_reason": "subscriber_disconnects",
    "direction": "in",
    "is_lost": False,
    "contact_phone_number": "79161234567",
    "virtual_phone_number": "74951234567",
    "communication_id": 555,
    "wait_duration": 12,
    "talk_duration": 190,
    "total_duration": 221,
    "call_records": ["f1e2d3", "a9b8c7"],
    "utm_source": "yandex",
    "utm_medium": "cpc",
    "utm_campaign": "implants",
    "utm_term": "имплант",
    "utm_content": "ad-7",
    "referrer": "https://yandex.ru/",
    "last_answered_employee_full_name": "Иванова Анна",
    "scenario_name": "Рабочее время",
}


def uis_calls(records):
    return uis.call_mapper(AccountHook(), settings=None)(records, False)


def test_every_uis_field_is_mapped_and_times_are_read_in_the_accounts_zone():
    (call,), rejects = uis_calls([UIS_CALL])
    assert rejects == []
    assert call.external_id == "1234567890"
    assert call.started_utc == datetime(2024, 5, 1, 5, 15, 3, tzinfo=UTC)
    assert call.finished_at.astimezone(UTC) == datetime(2024, 5, 1, 5, 18, 44, tzinfo=UTC)
    assert (call.direction, call.is_lost, call.finish_reason) == ("in", False, "subscriber_disconnects")
    assert (call.contact_phone_raw, call.contact_phone, call.virtual_phone) == ("79161234567", "+79161234567",
                                                                              "74951234567")  # fmt: skip
    assert (call.wait_seconds, call.talk_seconds, call.total_seconds) == (12, 190, 221)
    assert call.record_urls == (
        "https://app.uiscom.ru/system/media/talk/555/f1e2d3/",
        "https://app.uiscom.ru/system/media/talk/555/a9b8c7/",
    )
    assert (call.utm_source, call.utm_medium, call.utm_campaign, call.utm_term, call.utm_content) == (
        "yandex", "cpc", "implants", "имплант", "ad-7",
    )  # fmt: skip
    assert call.referrer == "https://yandex.ru/"
    assert (call.employee_name, call.scenario_name) == ("Иванова Анна", "Рабочее время")
    assert call.raw == UIS_CALL and not call.is_ongoing


def test_a_uis_call_in_progress_has_no_finish_and_a_lost_call_no_recordings():
    ongoing = {**UIS_CALL, "finish_time": None, "talk_duration": 30, "call_records": []}
    lost = {**UIS_CALL, "id": 2, "is_lost": True, "talk_duration": 0, "call_records": None,
            "last_answered_employee_full_name": None}  # fmt: skip
    (first, second), _ = uis_calls([ongoing, lost])
    assert first.is_ongoing and first.record_urls == ()
    assert second.is_lost and second.record_urls == () and second.employee_name is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"id": None}, "external_id"),
        ({"start_time": "01.05.2024 10:15"}, "not an ISO 8601 date"),
        ({"direction": "inbound"}, "direction"),
        ({"talk_duration": -5}, "talk_seconds"),
        ({"finish_time": "2024-05-01 09:00:00"}, "the call finishes before it starts"),
    ],
)
def test_a_bad_uis_record_is_rejected_with_its_reason_and_the_rest_kept(change, reason):
    calls, rejects = uis_calls([{**UIS_CALL, **change}, {**UIS_CALL, "id": 99}])
    assert [call.external_id for call in calls] == ["99"]
    assert reason in rejects[0].reason
    assert rejects[0].raw == {**UIS_CALL, **change}


# --- the clinic's own service (IDENT's call object) -----------------------------------------------------


IDENT_CALL = {
    "DateAndTime": "2026-11-20T10:00:00+03:00",
    "Direction": "in",
    "PhoneFrom": "8 (916) 123-45-67",
    "PhoneTo": "+7 495 123-45-67",
    "WaitInSeconds": 15,
    "TalkInSeconds": 120,
    "LineDescription": "Основная линия",
    "RecordUrl": "https://pbx.clinic.example/rec/1.mp3",
    "UtmSource": "google",
    "UtmMedium": "cpc",
    "UtmCampaign": "brand",
    "UtmTerm": "стоматология",
    "UtmContent": "v1",
    "HttpReferer": "https://www.google.com/",
}


def ident_calls(records, ongoing=False):
    return validate_calls(records, lambda record: clinic_http.ident_call(record, MSK, ongoing), MSK, "Id")


def test_every_ident_call_field_is_mapped():
    (call,), rejects = ident_calls([IDENT_CALL])
    assert rejects == []
    assert call.external_id == "2026-11-20T07:00:00Z|in|8 (916) 123-45-67|+7 495 123-45-67"
    assert call.started_utc == datetime(2026, 11, 20, 7, tzinfo=UTC)
    assert call.finished_at == msk(2026, 11, 20, 10, 2, 15)  # start + wait + talk
    assert (call.direction, call.is_lost) == ("in", False)
    assert (call.contact_phone_raw, call.contact_phone, call.virtual_phone) == ("8 (916) 123-45-67", "+79161234567",
                                                                              "+7 495 123-45-67")  # fmt: skip
    assert (call.wait_seconds, call.talk_seconds, call.total_seconds) == (15, 120, 135)
    assert call.record_urls == ("https://pbx.clinic.example/rec/1.mp3",)
    assert (call.utm_source, call.utm_medium, call.utm_campaign, call.utm_term, call.utm_content) == (
        "google", "cpc", "brand", "стоматология", "v1",
    )  # fmt: skip
    assert call.referrer == "https://www.google.com/"


def test_an_outgoing_ident_call_has_the_callee_as_contact_and_no_talk_means_lost():
    (call,), _ = ident_calls([{**IDENT_CALL, "Direction": "out", "TalkInSeconds": None, "RecordUrl": ""}])
    assert (call.contact_phone_raw, call.virtual_phone) == ("+7 495 123-45-67", "8 (916) 123-45-67")
    assert call.is_lost and call.talk_seconds is None and call.record_urls == ()


def test_an_ongoing_ident_call_keeps_the_key_it_will_have_when_finished():
    (ongoing,), _ = ident_calls([{**IDENT_CALL, "TalkInSeconds": 30}], ongoing=True)
    (finished,), _ = ident_calls([{**IDENT_CALL, "DateAndTime": "2026-11-20T07:00:00Z"}])
    assert ongoing.is_ongoing and not finished.is_ongoing
    assert ongoing.external_id == finished.external_id  # the same instant written another way


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"DateAndTime": None}, "is not an ISO 8601 date"),
        ({"Direction": "sideways"}, "direction"),
        ({"WaitInSeconds": "a while"}, "could not convert"),
        ({"TalkInSeconds": -3}, "talk_seconds"),
    ],
)
def test_a_bad_ident_call_is_rejected_with_its_reason(change, reason):
    calls, rejects = ident_calls([{**IDENT_CALL, **change}])
    assert calls == [] and reason in rejects[0].reason


def test_a_record_that_is_not_an_object_is_rejected():
    calls, rejects = ident_calls(["not a call"])
    assert calls == [] and rejects[0].reason == "expected a JSON object, got str"
