"""What every free-slot pusher (``services/<name>.py``, ``sources["schedule"]``) reads from a
:class:`~ident_integrations.capabilities.schedule.ScheduleExport` before mapping it to its own wire
shape: the branches, the doctors the export rules export and which of them each branch lists, each
slot in its branch's local time, and the local dates a branch's horizon covers. Pure functions, no
I/O, deterministic order (by id, then time): a payload is compared with the last push to skip an
unchanged one. Also what a full-snapshot push (``PUT schedule`` with ``date_from``/``date_to``)
reports once the service has answered.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ident_integrations.capabilities.schedule import PushResult, ScheduleExport
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.schedule import Branch, Doctor, Slot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalSlot:
    """A slot in its branch's own time: aware start and end in the branch's offset, whole seconds."""

    branch_id: int
    doctor_id: int
    start: datetime
    end: datetime
    minutes: int  # whole minutes from start to end (the engine cuts on minutes)
    free: bool

    @property
    def day(self) -> date:
        """The local date it starts on."""
        return self.start.date()


def branches(export: ScheduleExport) -> list[Branch]:
    return sorted(export.snapshot.branches, key=lambda branch: branch.id)


def exported_doctors(export: ScheduleExport, settings: ResolvedCapability) -> dict[int, Doctor]:
    """The active doctors, without those IDENT's export rules exclude when the integration applies
    them (``schedule.use_rules``), by id: the slot engine's own rule, so a doctor it leaves out is
    never named, and a slot of theirs is not sent."""
    use_rules = settings.block.use_rules
    chosen = [doctor for doctor in export.snapshot.doctors if doctor.active and (doctor.exported or not use_rules)]
    return {doctor.id: doctor for doctor in sorted(chosen, key=lambda doctor: doctor.id)}


def doctors_by_branch(export: ScheduleExport, settings: ResolvedCapability) -> dict[int, list[Doctor]]:
    """Per branch of the snapshot (by id), the exported doctors linked to it (``doctor_branches``)
    or with a slot there, by id. Every branch is a key, a branch without doctors too."""
    doctors = exported_doctors(export, settings)
    linked: dict[int, set[int]] = {branch.id: set() for branch in export.snapshot.branches}
    pairs = list(export.snapshot.doctor_branches)
    pairs += [(slot.doctor_id, slot.branch_id) for slot in (*export.free, *export.busy)]
    for doctor_id, branch_id in pairs:
        if branch_id in linked and doctor_id in doctors:
            linked[branch_id].add(doctor_id)
    return {branch_id: [doctors[d] for d in sorted(ids)] for branch_id, ids in sorted(linked.items())}


def local_slots(export: ScheduleExport, slots: Iterable[Slot]) -> list[LocalSlot]:
    """``slots`` in their branch's local time, by branch, doctor and start (busy before free on a tie).
    A slot of a branch missing from the snapshot is left out, as the slot engine ignores one."""
    zones = {branch.id: ZoneInfo(branch.timezone) for branch in export.snapshot.branches}
    out = [
        LocalSlot(
            slot.branch_id,
            slot.doctor_id,
            slot.starts_at.astimezone(zones[slot.branch_id]).replace(microsecond=0),
            slot.ends_at.astimezone(zones[slot.branch_id]).replace(microsecond=0),
            int((slot.ends_at - slot.starts_at).total_seconds() // 60),
            slot.status == "free",
        )
        for slot in slots
        if slot.branch_id in zones
    ]
    return sorted(out, key=lambda s: (s.branch_id, s.doctor_id, s.start, s.end, s.free))


def same_day(slots: list[LocalSlot], *, service: str) -> list[LocalSlot]:
    """The slots that end on the local date they start on, for services with ``HH:MM`` clock times:
    one across midnight (or ending exactly at midnight) has no such form, and is left out and
    counted in a warning."""
    kept = [slot for slot in slots if slot.end.date() == slot.day and slot.end > slot.start]
    if len(kept) < len(slots):
        log.warning(
            "%s: %d slot(s) crossing local midnight left out (no same-day HH:MM form)", service, len(slots) - len(kept)
        )
    return kept


def group(slots: Iterable[LocalSlot]) -> dict[tuple[int, int], dict[date, list[LocalSlot]]]:
    """(branch, doctor) -> local date -> slots, keeping the order."""
    out: dict[tuple[int, int], dict[date, list[LocalSlot]]] = defaultdict(lambda: defaultdict(list))
    for slot in slots:
        out[(slot.branch_id, slot.doctor_id)][slot.day].append(slot)
    return out


def branch_dates(export: ScheduleExport, branch: Branch, slots: Iterable[LocalSlot] = ()) -> list[date]:
    """The local dates of a branch's horizon: from the branch's own today (``generated_at`` in its
    timezone — the engine's ``now``) over as many days as the export's horizon spans
    (``last_date - first_date``), plus any date one of ``slots`` at the branch starts on; sorted."""
    today = export.generated_at.astimezone(ZoneInfo(branch.timezone)).date()
    span = max(0, (export.last_date - export.first_date).days)
    days = {today + timedelta(days=n) for n in range(span + 1)}
    days |= {slot.day for slot in slots if slot.branch_id == branch.id}
    return sorted(days)


def horizon_dates(export: ScheduleExport, slots: list[LocalSlot]) -> tuple[date, date]:
    """The first and last local date a full-snapshot push replaces: the export's own dates, widened
    to every branch's horizon (a branch far east is already a day further) and slots."""
    days = [export.first_date, export.last_date]
    for branch in export.snapshot.branches:
        days += branch_dates(export, branch, slots)
    return min(days), max(days)


def snapshot_pushed(answer: dict[str, Any], body: dict[str, Any], *, sent: int, entries: str, who: str) -> PushResult:
    """The result of one full-snapshot push of ``sent`` slots: as many as the service's answer says
    it took (``slots``), when it says; ``entries`` (what the body listed) and the horizon's dates
    as the detail, with a note when ``who`` took another number than was sent."""
    taken = answer.get("slots")
    detail = f"{entries}, {body['date_from']}..{body['date_to']}"
    if isinstance(taken, int) and taken != sent:
        detail += f"; {who} says it took {taken} of {sent} slots"
    return PushResult(requests=1, sent=taken if isinstance(taken, int) else sent, detail=detail)
