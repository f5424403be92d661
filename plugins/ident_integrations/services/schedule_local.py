"""What the schedule pushers (``services/<name>.py``, ``sources["schedule"]``) share when they map a
:class:`~ident_integrations.capabilities.schedule.ScheduleExport` to a service's payload: the
doctors a branch exports, the local dates of a branch's horizon, a slot as a local date with
``HH:MM`` clock times in the branch's timezone. Pure functions, deterministic order (by id, then
time), no I/O.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from ident_integrations.capabilities.schedule import ScheduleExport
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.schedule import Branch, Doctor, Slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalSlot:
    """A slot as services with clock times see it: its branch's local date and ``HH:MM`` times."""

    branch_id: int
    doctor_id: int
    date: str  # YYYY-MM-DD, the local date it starts on
    start: str  # HH:MM local
    end: str  # HH:MM local, later than start on the same date
    free: bool


def use_rules(settings: ResolvedCapability | None) -> bool:
    return bool(getattr(getattr(settings, "block", None), "use_rules", False))


def zones(export: ScheduleExport) -> dict[int, ZoneInfo]:
    return {branch.id: ZoneInfo(branch.timezone) for branch in export.snapshot.branches}


def exported_doctors(export: ScheduleExport, settings: ResolvedCapability | None) -> dict[int, Doctor]:
    """Active doctors, without those IDENT's export rules exclude when the integration applies them
    (``schedule.use_rules``), by id: the slot engine's own rule, so a doctor it left out is not
    listed with an empty schedule either."""
    rules = use_rules(settings)
    doctors = [d for d in export.snapshot.doctors if d.active and (d.exported or not rules)]
    return {d.id: d for d in sorted(doctors, key=lambda d: d.id)}


def doctors_by_branch(export: ScheduleExport, settings: ResolvedCapability | None) -> dict[int, list[Doctor]]:
    """Per branch of the snapshot (by id), the exported doctors linked to it (``doctor_branches``)
    or with a slot there, by id. Every branch is a key, a branch without doctors too."""
    doctors = exported_doctors(export, settings)
    branches = {b.id for b in export.snapshot.branches}
    linked: dict[int, set[int]] = {b: set() for b in branches}
    pairs = list(export.snapshot.doctor_branches)
    pairs += [(s.doctor_id, s.branch_id) for s in (*export.free, *export.busy)]
    for doctor_id, branch_id in pairs:
        if branch_id in branches and doctor_id in doctors:
            linked[branch_id].add(doctor_id)
    return {b: [doctors[d] for d in sorted(ids)] for b, ids in sorted(linked.items())}


def branches(export: ScheduleExport) -> list[Branch]:
    return sorted(export.snapshot.branches, key=lambda b: b.id)


def branch_dates(export: ScheduleExport, branch: Branch, slots: list[LocalSlot] = ()) -> list[str]:
    """The local dates of a branch's horizon: from the branch's own today (``generated_at`` in its
    timezone — the engine's ``now``) over as many days as the export's horizon spans
    (``last_date - first_date``), plus any date one of ``slots`` starts on; sorted."""
    today = export.generated_at.astimezone(ZoneInfo(branch.timezone)).date()
    span = max(0, (export.last_date - export.first_date).days)
    days = {(today + timedelta(days=n)).isoformat() for n in range(span + 1)}
    days |= {s.date for s in slots if s.branch_id == branch.id}
    return sorted(days)


def local_slots(export: ScheduleExport, slots: tuple[Slot, ...], *, service: str) -> list[LocalSlot]:
    """``slots`` in their branch's local time, sorted by branch, doctor, date and start. A slot that
    does not end on the local date it starts on (one across midnight, or ending exactly at
    midnight) has no same-day ``HH:MM`` form: it is left out, and counted in a warning."""
    tz = zones(export)
    out: list[LocalSlot] = []
    dropped = 0
    for slot in slots:
        zone = tz.get(slot.branch_id)
        if zone is None:
            continue  # a slot of a branch missing from the snapshot: nothing to file it under
        start, end = slot.starts_at.astimezone(zone), slot.ends_at.astimezone(zone)
        if end.date() != start.date() or end <= start:
            dropped += 1
            continue
        out.append(
            LocalSlot(
                slot.branch_id,
                slot.doctor_id,
                start.date().isoformat(),
                start.strftime("%H:%M"),
                end.strftime("%H:%M"),
                slot.status == "free",
            )
        )
    if dropped:
        log.warning("%s: %d slot(s) crossing local midnight left out (no same-day HH:MM form)", service, dropped)
    out.sort(key=lambda s: (s.branch_id, s.doctor_id, s.date, s.start, s.end))
    return out


def group(slots: list[LocalSlot]) -> dict[tuple[int, int], dict[str, list[LocalSlot]]]:
    """(branch, doctor) -> date -> slots, keeping the order."""
    out: dict[tuple[int, int], dict[str, list[LocalSlot]]] = defaultdict(lambda: defaultdict(list))
    for s in slots:
        out[(s.branch_id, s.doctor_id)][s.date].append(s)
    return out


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)
