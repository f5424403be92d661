"""What the schedule pushers of the clinic's own service (HTTP and tables), SberZdorovye and 32top
share: which doctors a payload names, each slot as an aware start and end in its branch's own UTC
offset, its length in minutes, and the horizon's local dates a full snapshot replaces.

Service-neutral helpers over a :class:`~ident_integrations.capabilities.schedule.ScheduleExport`;
each service module maps their results to its own wire shape. Deterministic order throughout (the
payload is compared with the last push to skip an unchanged one).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from ident_integrations.capabilities.schedule import ScheduleExport
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.schedule import Branch, Doctor, Slot


def branch_zones(export: ScheduleExport) -> dict[int, ZoneInfo]:
    return {branch.id: ZoneInfo(branch.timezone) for branch in export.snapshot.branches}


def branches(export: ScheduleExport) -> list[Branch]:
    return sorted(export.snapshot.branches, key=lambda branch: branch.id)


def listed_doctors(export: ScheduleExport, settings: ResolvedCapability, slots: Iterable[Slot] = ()) -> list[Doctor]:
    """The doctors a payload names, by id: the snapshot's active doctors (without those IDENT's
    export rules exclude when ``schedule.use_rules`` is on), and every doctor one of ``slots``
    belongs to, so no slot ever points at a doctor the payload does not name."""
    use_rules = bool(getattr(settings.block, "use_rules", False))
    with_slots = {slot.doctor_id for slot in slots}
    chosen = [
        doctor
        for doctor in export.snapshot.doctors
        if doctor.id in with_slots or (doctor.active and (doctor.exported or not use_rules))
    ]
    return sorted(chosen, key=lambda doctor: doctor.id)


def local_start(slot: Slot, zones: dict[int, ZoneInfo]) -> datetime:
    """The slot's start in its branch's timezone (aware, whole seconds)."""
    return slot.starts_at.astimezone(zones[slot.branch_id]).replace(microsecond=0)


def local_end(slot: Slot, zones: dict[int, ZoneInfo]) -> datetime:
    return slot.ends_at.astimezone(zones[slot.branch_id]).replace(microsecond=0)


def length_minutes(slot: Slot) -> int:
    """Whole minutes from start to end (the engine cuts on minutes)."""
    return int((slot.ends_at - slot.starts_at).total_seconds() // 60)


def horizon_dates(export: ScheduleExport, slots: Iterable[Slot] = ()) -> tuple[date, date]:
    """The horizon's first and last local date, widened to any slot's local date outside them (a
    branch far east may already be a day further than the export's dates): what a full-snapshot
    push says it replaces."""
    zones = branch_zones(export)
    first, last = export.first_date, export.last_date
    for slot in slots:
        day = local_start(slot, zones).date()
        first, last = min(first, day), max(last, day)
    return first, last


def horizon_bounds(export: ScheduleExport, slots: Iterable[Slot] = ()) -> tuple[datetime, datetime]:
    """[first local date 00:00, the day after the last 00:00) as naive wall times: the rows a table
    variant replaces (each branch's rows hold its own wall time)."""
    first, last = horizon_dates(export, slots)
    midnight = datetime.min.time()
    return datetime.combine(first, midnight), datetime.combine(last + timedelta(days=1), midnight)


def ordered(slots: Iterable[Slot]) -> list[Slot]:
    """Branch, doctor, start: the order every payload lists slots in."""
    return sorted(slots, key=lambda slot: (slot.branch_id, slot.doctor_id, slot.starts_at, slot.ends_at, slot.status))


def surname(name: str) -> str:
    """The first word of "Фамилия Имя Отчество"."""
    words = name.split()
    return words[0] if words else ""
