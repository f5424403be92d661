"""ProDoctorov (prodoctorov.ru, through MedFlex): the free schedule pushed with ``send_schedule``
(wire format in ``ident_hooks/prodoctorov.py``; reference aggregators.md §2).

One push per run, a full snapshot: every branch as a filial (its name under ``schedule``), under it
every doctor linked to it (or with a slot there) — ``efio`` the full name, ``espec`` the specialty
(omitted when the doctor has none) — with **both free and busy** cells: each free slot, and each
busy interval of the working day (booked time, already merged and split at local midnight by the
slot engine), dated and timed in the branch's own timezone. A doctor with nothing on the horizon
is sent with ``cells: []``, so what ProDoctorov showed for them before is cleared. The horizon is
``schedule.days_ahead`` (default 30, what the implementations send).
"""

from __future__ import annotations

import logging
from typing import Any

from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.schedule_payloads import branches, doctors_by_branch, group, local_slots, same_day

log = logging.getLogger(__name__)


def schedule_payload(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, Any]:
    """The ``send_schedule`` body: ``{"schedule": {"<branch id>": name, …, "data": {"<branch id>":
    {"<doctor id>": {"efio", "espec"?, "cells": [{dt, time_start, time_end, free}]}}}}}``; ids as
    strings, branches and doctors by id, cells by date and time."""
    cells = same_day(local_slots(export, (*export.free, *export.busy)), service="ProDoctorov")
    grouped = group(cells)
    by_branch = doctors_by_branch(export, settings)
    schedule: dict[str, Any] = {str(branch.id): branch.name for branch in branches(export)}
    data: dict[str, Any] = {}
    for branch in branches(export):
        doctors: dict[str, Any] = {}
        for doctor in by_branch.get(branch.id, []):
            entry: dict[str, Any] = {"efio": doctor.name}
            if doctor.specialty:
                entry["espec"] = doctor.specialty
            entry["cells"] = [
                {
                    "dt": cell.day.isoformat(),
                    "time_start": f"{cell.start:%H:%M}",
                    "time_end": f"{cell.end:%H:%M}",
                    "free": cell.free,
                }
                for day in grouped.get((branch.id, doctor.id), {}).values()
                for cell in day
            ]
            doctors[str(doctor.id)] = entry
        data[str(branch.id)] = doctors
    schedule["data"] = data
    return {"schedule": schedule}


def push_schedule(hook: Any, payload: dict[str, Any], settings: ResolvedCapability) -> PushResult:
    """One ``send_schedule`` with every filial; the hook raises on a refusal (the service's
    validation errors quoted)."""
    hook.send_schedule(payload)
    data = payload["schedule"]["data"]
    free = busy = 0
    for filial, doctors in data.items():
        for doctor_id, doctor in doctors.items():
            f = sum(1 for cell in doctor["cells"] if cell["free"])
            b = len(doctor["cells"]) - f
            free, busy = free + f, busy + b
            log.info("ProDoctorov filial %s doctor %s: %d free, %d busy cell(s)", filial, doctor_id, f, b)
    doctors = sum(len(doctors) for doctors in data.values())
    return PushResult(
        requests=1, sent=free + busy, detail=f"filials {len(data)}, doctors {doctors}, free {free}, busy {busy}"
    )


PRODOCTOROV = Service(
    name="prodoctorov",
    conn_type="ident_prodoctorov",
    hook_path="ident_hooks.prodoctorov:ProDoctorovHook",
    sources={"schedule": SchedulePusher(payload=schedule_payload, push=push_schedule, busy=True)},
)
