"""The clinic's schedule as the free-slot export reads it, and the slots it gives: service-neutral.

The store (``store/schedule.py``) reads a :class:`ScheduleSnapshot` from the IDENT database; the
slot engine (``ident_integrations.slots``) turns it into :class:`Slot` s; each pusher
(``services/<name>.py``) maps those to its service's payload. Every date-time is timezone-aware
UTC; a branch's ``timezone`` says what "today", "a date" and "HH:MM" mean for its slots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

SlotStatus = Literal["free", "busy"]
AppointmentStatus = Literal["planned", "confirmed", "arrived", "completed", "cancelled", "no_show"]
FREEING_STATUSES = frozenset({"cancelled"})  # an appointment in one of these frees its time


@dataclass(frozen=True)
class Branch:
    id: int
    name: str
    timezone: str  # IANA, e.g. Europe/Moscow
    address: str = ""
    phone: str = ""


@dataclass(frozen=True)
class Doctor:
    id: int
    name: str  # "Фамилия Имя Отчество"
    specialty: str = ""
    active: bool = True
    exported: bool = True  # IDENT's "Правила выгрузки расписания": the per-doctor export switch


@dataclass(frozen=True)
class WorkInterval:
    doctor_id: int
    branch_id: int
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True)
class Appointment:
    id: int
    doctor_id: int
    branch_id: int
    starts_at: datetime
    ends_at: datetime
    status: AppointmentStatus = "planned"
    patient_id: int | None = None


@dataclass(frozen=True)
class ScheduleSnapshot:
    """What the export reads in one run: reference data, shifts and appointments over the horizon."""

    branches: tuple[Branch, ...]
    doctors: tuple[Doctor, ...]
    doctor_branches: tuple[tuple[int, int], ...]  # (doctor_id, branch_id)
    work_intervals: tuple[WorkInterval, ...]
    appointments: tuple[Appointment, ...]
    slot_minutes: int = 15  # IDENT's slot ("талон") length
    read_at: datetime | None = None


@dataclass(frozen=True, order=True)
class Slot:
    """One slot of a doctor at a branch: ``free`` (bookable) or ``busy``; ``ends_at - starts_at`` is
    the slot length for a free slot; a busy one covers booked time within the shift."""

    branch_id: int
    doctor_id: int
    starts_at: datetime
    ends_at: datetime
    status: SlotStatus = "free"
    local_date: str = field(default="", compare=False)  # YYYY-MM-DD in the branch's timezone
