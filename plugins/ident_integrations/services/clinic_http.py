"""The clinic's own service over HTTP ("Вариант с HTTP"): IDENT's protocol, so a ticket from
``GetTickets`` already carries IDENT's field names and maps to a Lead as it is; a call from
``GetFinishedCalls`` / ``GetOngoingCalls`` is IDENT's call object (reference §2.5).

The schedule goes out as IDENT sends it, ``PostTimeTable`` (reference §2.6): the doctors and
branches by id and name, and every interval of the horizon — free slots (``IsBusy`` false, one per
slot) and busy time (``IsBusy`` true) — with ``StartDateTime`` in the branch's own UTC offset and
``LengthInMinutes``. gzip-compressed when the connection's ``compress`` extra asks."""

from __future__ import annotations

import numbers
from datetime import UTC, timedelta
from typing import Any

from ident_integrations.capabilities.calls import CallMapper, CallSource
from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.records import parse_service_datetime
from ident_integrations.records.calls import validate_calls
from ident_integrations.records.leads import validate_leads
from ident_integrations.services import Service
from ident_integrations.services.schedule_payloads import branches, exported_doctors, local_slots

UTM_FIELDS = {"UtmSource": "utm_source", "UtmMedium": "utm_medium", "UtmCampaign": "utm_campaign",
              "UtmTerm": "utm_term", "UtmContent": "utm_content"}  # fmt: skip


def _seconds(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Number | str):  # Number: a DB Decimal too
        raise ValueError(f"{value!r} is not a number of seconds")
    return int(float(value))


def ident_call(record: dict[str, Any], tz: Any, ongoing: bool) -> dict[str, Any]:
    """IDENT's call object as a Call. It has no id: a call is known by when it started, its direction
    and its two numbers (an ``Id``, if the service sends one, wins)."""
    started = parse_service_datetime(record.get("DateAndTime"), tz)
    direction = record.get("Direction")
    wait, talk = _seconds(record.get("WaitInSeconds")), _seconds(record.get("TalkInSeconds"))
    phone_from, phone_to = record.get("PhoneFrom"), record.get("PhoneTo")
    contact, line = (phone_to, phone_from) if direction == "out" else (phone_from, phone_to)
    key = record.get("Id") or f"{started.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}|{direction}|{phone_from}|{phone_to}"
    total = (wait or 0) + (talk or 0)
    return {
        "external_id": key,
        "started_at": started,
        "finished_at": None if ongoing else started + timedelta(seconds=total),
        "direction": direction,
        "is_lost": not talk,
        "contact_phone_raw": contact,
        "virtual_phone": line,
        "wait_seconds": wait,
        "talk_seconds": talk,
        "total_seconds": total,
        "record_urls": (record["RecordUrl"],) if record.get("RecordUrl") else (),
        **{ours: record.get(theirs) for theirs, ours in UTM_FIELDS.items()},
        "referrer": record.get("HttpReferer"),
    }


def tickets_to_leads(hook: Any, records: list[Any], settings: ResolvedCapability) -> tuple:
    """IDENT's tickets are already a Lead's input (clinic time where a date has no offset)."""
    return validate_leads(records, settings.tz)


def call_mapper(hook: Any, settings: ResolvedCapability) -> CallMapper:
    tz = settings.tz  # IDENT's dates carry their offset; one without is clinic time

    def to_calls(page: list[Any], ongoing: bool) -> tuple:
        return validate_calls(page, lambda record: ident_call(record, tz, ongoing), tz, "Id")

    return to_calls


def timetable_intervals(export: ScheduleExport, settings: ResolvedCapability) -> list[dict[str, Any]]:
    """IDENT's Interval objects of the export's exported doctors, free and busy, ordered by branch,
    doctor and start; ``StartDateTime`` in the branch's offset, whole seconds."""
    doctors = exported_doctors(export, settings)
    return [
        {
            "DoctorId": slot.doctor_id,
            "BranchId": slot.branch_id,
            "StartDateTime": slot.start.isoformat(),
            "LengthInMinutes": slot.minutes,
            "IsBusy": not slot.free,
        }
        for slot in local_slots(export, (*export.free, *export.busy))
        if slot.doctor_id in doctors and slot.minutes > 0
    ]


def timetable(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, Any]:
    """The ``PostTimeTable`` body: Doctors, Branches and Intervals (reference §2.6)."""
    return {
        "Doctors": [{"Id": doctor.id, "Name": doctor.name} for doctor in exported_doctors(export, settings).values()],
        "Branches": [{"Id": branch.id, "Name": branch.name} for branch in branches(export)],
        "Intervals": timetable_intervals(export, settings),
    }


def push_timetable(hook: Any, body: dict[str, Any], settings: ResolvedCapability) -> PushResult:
    size = hook.post_timetable(body)
    busy = sum(1 for interval in body["Intervals"] if interval["IsBusy"])
    detail = (
        f"doctors {len(body['Doctors'])}, branches {len(body['Branches'])}, "
        f"free {len(body['Intervals']) - busy}, busy {busy}, {size} bytes{' gzip' if hook.compress else ''}"
    )
    return PushResult(requests=1, sent=len(body["Intervals"]), detail=detail)


CLINIC_HTTP = Service(
    name="clinic_http",
    conn_type="ident_clinic_http",
    hook_path="ident_hooks.clinic_http:ClinicHttpHook",
    sources={
        "leads": LeadSource(
            fetch=lambda hook, start, end, settings: hook.get_tickets(start, end, settings.block.page_size),
            to_leads=tickets_to_leads,
        ),
        "calls": CallSource(
            pages=lambda hook, start, end, settings: hook.iter_finished_calls(start, end, settings.block.page_limit),
            ongoing=lambda hook, start, end, settings: [hook.get_ongoing_calls(start, end, settings.block.page_limit)],
            mapper=call_mapper,
        ),
        "schedule": SchedulePusher(payload=timetable, push=push_timetable, busy=True),
    },
)
