"""Free-slot export ("выгрузка расписания"): every ``schedule.interval_minutes`` read the clinic's
schedule from the IDENT database, turn it into free (and busy) slots, and push them to the
integration's service.

The flow of one run: the store reads a :class:`~ident_integrations.records.schedule.ScheduleSnapshot`
over the horizon; the slot engine (``ident_integrations.slots``) gives the slots; the service's
:class:`SchedulePusher` builds its payload from an :class:`ScheduleExport` and pushes it. A payload
identical to the last successful push is not sent again, but one is pushed at least every
``schedule.force_push_minutes``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import Field

from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability, TableName
from ident_integrations.records.schedule import ScheduleSnapshot, Slot

NAME = "schedule"


class ScheduleSettings(CapabilitySettings):
    """An integration's ``schedule:`` block (IDENT's schedule-export settings)."""

    interval_minutes: IntervalMinutes = 10
    days_ahead: Annotated[int, Field(ge=0, le=120)] = 30  # today + N days (a service may fix its own)
    skip_hours_today: Annotated[float, Field(ge=0, le=48)] = 2  # today, nothing starting sooner
    use_rules: bool = False  # leave out the doctors IDENT's export rules exclude
    force_push_minutes: Annotated[int, Field(ge=1, le=1440)] = 60  # push even an unchanged payload this often
    # The clinic's own tables (service clinic_db): the timetable table the horizon is replaced in.
    table: TableName = "TimeTable"


@dataclass(frozen=True)
class ScheduleExport:
    """What a pusher builds its payload from: the snapshot (branches, doctors), the slots over the
    horizon, and the horizon's local dates (first and last, inclusive)."""

    snapshot: ScheduleSnapshot
    free: tuple[Slot, ...]
    busy: tuple[Slot, ...]
    first_date: date
    last_date: date
    generated_at: datetime


@dataclass(frozen=True)
class PushResult:
    """What a push did, for the run's summary line and the Asset-free return value."""

    requests: int  # how many requests it took
    sent: int  # slots (or intervals/cells) the service took
    detail: str = ""  # e.g. "clinics 3, doctors 25 (daily)"


@dataclass(frozen=True)
class SchedulePusher:
    """How one service takes the schedule (``Service.sources["schedule"]``).

    ``payload(export, settings)`` builds the payload (JSON-ready; compared with the last push to
    skip an unchanged one, so it must be deterministic); ``push(hook, payload, settings)`` sends it
    and returns a :class:`PushResult`, raising the hook's errors (a rejected push: the service's
    validation errors quoted). ``busy``: the service wants busy slots too. ``days_ahead``: a horizon
    the service fixes whatever is configured (NaPopravku: 32), logged when it overrides a setting.
    """

    payload: Callable[[ScheduleExport, ResolvedCapability], Any]
    push: Callable[[Any, Any, ResolvedCapability], PushResult]
    busy: bool = False
    days_ahead: int | None = None
    # Reference data a service keeps apart from the slots (NaPopravku's clinics and doctors): built
    # and pushed like the slots, when it changed and at least daily.
    reference: Callable[[ScheduleExport, ResolvedCapability], Any] | None = None
    push_reference: Callable[[Any, Any, ResolvedCapability], PushResult] | None = None
