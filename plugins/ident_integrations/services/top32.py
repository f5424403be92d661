"""32top (32top.ru): leads from the catalogue and its booking widget, through the **assumed**
partner API whose contract is written down once, in ``ident_hooks/top32.py`` (32top publishes
none; reference aggregators.md §4).

Each lead names the doctor by surname (IDENT's ``DoctorName``) and the chosen slot's start
(``PlanStart``, clinic time unless it carries an offset); the patient's name is one string
(``ClientFullName``). 32top sends no UTM tags: by the reference's convention (§6.2) ``UtmSource`` is
``32top`` and ``UtmMedium`` ``aggregator``; the lead's channel (catalogue, widget, app) goes to the
form name and its page to the referrer. Status, branch and ``updated_at`` stay in the raw payload.

The free schedule (``PUT schedule``, same contract): one entry per doctor and branch, the doctor
named by surname as 32top's leads name them (and by our id), the free slots grouped by the branch's
local date as local ``HH:MM`` with their length. Free slots only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.leads import validate_leads
from ident_integrations.services import Service
from ident_integrations.services.schedule_payloads import (
    branches,
    doctors_by_branch,
    group,
    horizon_dates,
    local_slots,
    snapshot_pushed,
)

SOURCES = {"catalog": "каталог", "widget": "виджет на сайте", "app": "приложение"}


def lead_ticket(lead: dict[str, Any]) -> dict[str, Any]:
    """A 32top lead in IDENT's ticket fields (times as sent: the record's validation reads them,
    a time without an offset in the clinic's timezone)."""
    source = lead.get("source")
    channel = SOURCES.get(source, source) if isinstance(source, str) and source.strip() else None
    return {
        "Id": lead.get("id"),
        "DateAndTime": lead.get("created_at"),
        "ClientFullName": lead.get("patient_name"),
        "ClientPhone": lead.get("patient_phone"),
        "ClientEmail": lead.get("patient_email"),
        "DoctorName": lead.get("doctor_surname"),
        "PlanStart": lead.get("appointment_start"),
        "Comment": lead.get("comment"),
        "FormName": f"32top: {channel}" if channel else "32top",
        "UtmSource": "32top",
        "UtmMedium": "aggregator",
        "HttpReferer": lead.get("page_url"),
    }


def fetch(hook: Any, start: datetime, end: datetime, settings: ResolvedCapability) -> list[Any]:
    """Leads created in the window (``created_from`` = start, ``created_to`` = end, both inclusive)."""
    return [lead for page in hook.iter_leads(start, end, per_page=settings.block.page_size) for lead in page]


def to_leads(hook: Any, records: list[Any], settings: ResolvedCapability) -> tuple:
    return validate_leads(records, settings.tz, lead_ticket, "id")


def _surname(name: str) -> str:
    """The first word of "Фамилия Имя Отчество"."""
    words = name.split()
    return words[0] if words else ""


def schedule_body(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, Any]:
    """The ``PUT schedule`` body (deterministic: doctors by id then branch, dates and times ascending)."""
    free = local_slots(export, export.free)
    grouped = group(free)
    first, last = horizon_dates(export, free)
    entries = sorted(
        (
            (doctor, branch_id)
            for branch_id, doctors in doctors_by_branch(export, settings).items()
            for doctor in doctors
        ),
        key=lambda entry: (entry[0].id, entry[1]),
    )
    return {
        "date_from": first.isoformat(),
        "date_to": last.isoformat(),
        "branches": [{"id": str(b.id), "name": b.name, "timezone": b.timezone} for b in branches(export)],
        "doctors": [
            {
                "id": str(doctor.id),
                "surname": _surname(doctor.name),
                "full_name": doctor.name,
                "branch_id": str(branch_id),
                "dates": [
                    {
                        "date": day.isoformat(),
                        "slots": [{"time": f"{slot.start:%H:%M}", "duration": slot.minutes} for slot in slots],
                    }
                    for day, slots in grouped.get((branch_id, doctor.id), {}).items()
                ],
            }
            for doctor, branch_id in entries
        ],
    }


def push_schedule(hook: Any, body: dict[str, Any], settings: ResolvedCapability) -> PushResult:
    data = hook.put_schedule(body)
    sent = sum(len(day["slots"]) for doctor in body["doctors"] for day in doctor["dates"])
    return snapshot_pushed(data, body, sent=sent, entries=f"doctor entries {len(body['doctors'])}", who="32top")


TOP32 = Service(
    name="top32",
    conn_type="ident_top32",
    hook_path="ident_hooks.top32:Top32Hook",
    sources={
        "leads": LeadSource(fetch=fetch, to_leads=to_leads),
        "schedule": SchedulePusher(payload=schedule_body, push=push_schedule),
    },
)
