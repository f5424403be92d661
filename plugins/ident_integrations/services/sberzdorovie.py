"""SberZdorovye (СберЗдоровье, formerly DocDoc): the free schedule, pushed through the **assumed**
API whose contract is written down once, in ``ident_hooks/sberzdorovie.py`` (SberHealth publishes
none for a push; it normally pulls from the MIS — reference aggregators.md §3).

One ``PUT schedule`` per run: every branch as a building with its address and timezone, under it
every doctor listed there (the doctor-branch links, plus any doctor with a slot there), each with
their free slots (start and end in the branch's own offset). Free slots only; the horizon's local
dates say what the snapshot replaces.
"""

from __future__ import annotations

from typing import Any

from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.schedule_payloads import (
    branches,
    doctors_by_branch,
    group,
    horizon_dates,
    local_slots,
    snapshot_pushed,
)


def schedule_body(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, Any]:
    """The ``PUT schedule`` body (deterministic: buildings, doctors and slots in id and time order)."""
    free = local_slots(export, export.free)
    grouped = group(free)
    by_branch = doctors_by_branch(export, settings)
    first, last = horizon_dates(export, free)
    buildings = [
        {
            "id": str(branch.id),
            "name": branch.name,
            "address": branch.address,
            "timezone": branch.timezone,
            "doctors": [
                {
                    "id": str(doctor.id),
                    "name": doctor.name,
                    "speciality": doctor.specialty,
                    "slots": [
                        {"start": slot.start.isoformat(), "end": slot.end.isoformat()}
                        for day in grouped.get((branch.id, doctor.id), {}).values()
                        for slot in day
                    ],
                }
                for doctor in by_branch[branch.id]
            ],
        }
        for branch in branches(export)
    ]
    return {"date_from": first.isoformat(), "date_to": last.isoformat(), "buildings": buildings}


def push_schedule(hook: Any, body: dict[str, Any], settings: ResolvedCapability) -> PushResult:
    answer = hook.put_schedule(body)
    sent = sum(len(doctor["slots"]) for building in body["buildings"] for doctor in building["doctors"])
    return snapshot_pushed(answer, body, sent=sent, entries=f"buildings {len(body['buildings'])}", who="the service")


SBERZDOROVIE = Service(
    name="sberzdorovie",
    conn_type="ident_sberzdorovie",
    hook_path="ident_hooks.sberzdorovie:SberZdorovieHook",
    sources={"schedule": SchedulePusher(payload=schedule_body, push=push_schedule)},
)
