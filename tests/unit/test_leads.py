from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.capabilities.leads import lead_window
from ident_integrations.records.leads import validate_leads

MSK = ZoneInfo("Europe/Moscow")


def ticket(**overrides):
    base = {
        "Id": "L-1",
        "DateAndTime": "2026-11-20T10:15:00+03:00",
        "ClientPhone": "8-911-001-0101",
        "ClientFullName": "Иванов Иван Иванович",
        "FormName": "Запись на приём",
        "UtmSource": "yandex",
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not ...}


def test_valid_lead_is_mapped_and_keeps_its_raw_payload():
    raw = ticket(DoctorId="12", PlanStart="2026-11-21T10:00:00+03:00", PlanEnd="2026-11-21T10:30:00+03:00")
    leads, rejects = validate_leads([raw], MSK)
    assert rejects == []
    (lead,) = leads
    assert lead.phone == "+79110010101" and lead.phone_raw == "8-911-001-0101"
    assert lead.doctor_id == 12 and lead.utm_source == "yandex"
    assert lead.key == ("L-1", datetime(2026, 11, 20, 7, 15, tzinfo=UTC))
    assert lead.raw is raw


def test_phone_and_id_may_be_numbers_and_names_may_be_split():
    leads, rejects = validate_leads(
        [ticket(Id=501, ClientPhone=79110010101, ClientFullName=..., ClientSurname="Петров", ClientName="Пётр")],
        MSK,
    )
    assert rejects == []
    assert leads[0].external_id == "501" and leads[0].phone == "+79110010101" and leads[0].surname == "Петров"


def test_dates_without_offset_are_clinic_time_and_other_offsets_are_understood():
    leads, _ = validate_leads(
        [
            ticket(Id="a", DateAndTime="2026-11-20T10:15:00"),
            ticket(Id="b", DateAndTime="2026-11-20T10:15:00+0300"),
            ticket(Id="c", DateAndTime="2026-11-20T07:15:00Z"),
        ],
        MSK,
    )
    assert {lead.key[1] for lead in leads} == {datetime(2026, 11, 20, 7, 15, tzinfo=UTC)}


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"ClientPhone": ...}, "ClientPhone is required"),
        ({"ClientPhone": ""}, "ClientPhone is required"),
        ({"ClientPhone": "звоните после 18"}, "without extra text"),
        ({"ClientPhone": "+89110001122"}, "domestic number written with a '+'"),
        ({"ClientSurname": "Иванов"}, "ClientFullName and ClientSurname/ClientName/ClientPatronymic are both set"),
        (
            {"PlanStart": "2026-11-21T11:00:00+03:00", "PlanEnd": "2026-11-21T10:00:00+03:00"},
            "PlanStart is after PlanEnd",
        ),
        (
            {"PlanStart": "2026-11-21T08:00:00+03:00", "PlanEnd": "2026-11-21T20:00:01+03:00"},
            "more than 12 hours apart",
        ),
        ({"DateAndTime": "yesterday"}, "DateAndTime: Value error, 'yesterday' is not an ISO 8601"),
        ({"DateAndTime": ...}, "DateAndTime: Field required"),
        ({"Id": ...}, "Id: Field required"),
        ({"DoctorId": "Dr. Who"}, "DoctorId: Input should be a valid integer"),
        ({"ClientEmail": "x" * 300}, "ClientEmail: String should have at most 255 characters"),
    ],
)
def test_invalid_leads_are_rejected_with_a_reason(overrides, reason):
    raw = ticket(**overrides)
    leads, rejects = validate_leads([raw, ticket(Id="ok")], MSK)
    assert [lead.external_id for lead in leads] == ["ok"]
    (reject,) = rejects
    assert reason.replace("Value error, ", "") in reject.reason
    assert reject.raw is raw


def test_exactly_twelve_hours_is_allowed_and_non_objects_are_rejected():
    leads, rejects = validate_leads(
        [ticket(PlanStart="2026-11-21T08:00:00+03:00", PlanEnd="2026-11-21T20:00:00+03:00"), "not a lead", 42],
        MSK,
    )
    assert len(leads) == 1
    assert [r.reason for r in rejects] == ["expected a JSON object, got str", "expected a JSON object, got int"]


# --- the lead window: 00:00 clinic time of the newest stored lead's date, up to now -----------


def test_window_starts_at_midnight_of_newest_lead_in_clinic_time():
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    # 21:30 UTC on the 20th is 00:30 on the 21st in Moscow: the window starts on the 21st.
    start, end = lead_window(
        newest_lead_at=datetime(2026, 11, 20, 21, 30, tzinfo=UTC),
        start_date=None,
        enabled_on=date(2026, 1, 1),
        now=now,
        tz=MSK,
    )
    assert start == datetime(2026, 11, 21, 0, 0, tzinfo=MSK)
    assert start.utcoffset() == timedelta(hours=3)
    assert end == now


def test_window_just_before_midnight_stays_on_that_day():
    start, _ = lead_window(
        newest_lead_at=datetime(2026, 11, 20, 20, 59, 59, tzinfo=UTC),  # 23:59:59 MSK
        start_date=None,
        enabled_on=date(2026, 1, 1),
        now=datetime(2026, 11, 22, tzinfo=UTC),
        tz=MSK,
    )
    assert start == datetime(2026, 11, 20, 0, 0, tzinfo=MSK)


def test_window_without_leads_uses_start_date_then_enabled_day():
    now = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
    start, _ = lead_window(
        newest_lead_at=None, start_date=date(2026, 11, 1), enabled_on=date(2026, 11, 22), now=now, tz=MSK
    )
    assert start == datetime(2026, 11, 1, tzinfo=MSK)
    start, _ = lead_window(newest_lead_at=None, start_date=None, enabled_on=date(2026, 11, 22), now=now, tz=MSK)
    assert start == datetime(2026, 11, 22, tzinfo=MSK)


def test_window_midnight_follows_dst_of_the_clinic_timezone():
    berlin = ZoneInfo("Europe/Berlin")
    start, _ = lead_window(
        newest_lead_at=datetime(2026, 3, 29, 12, 0, tzinfo=UTC),  # the day clocks go forward
        start_date=None,
        enabled_on=date(2026, 1, 1),
        now=datetime(2026, 3, 30, tzinfo=UTC),
        tz=berlin,
    )
    assert start.astimezone(UTC) == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
