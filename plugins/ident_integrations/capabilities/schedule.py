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

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException
from pydantic import Field

from ident_integrations.capabilities import Capability, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability, TableName
from ident_integrations.records.schedule import Appointment, ScheduleSnapshot, Slot

log = logging.getLogger(__name__)
NAME = "schedule"
REFERENCE_EVERY = timedelta(days=1)  # a service's reference data is pushed at least daily


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
    ``every_run``: the slots are pushed every run, unchanged or not (NaPopravku asks for slots every
    10 minutes or more often).

    A service that keeps what it is not sent again (NaPopravku keeps a doctor's dates until they are
    sent) says what a payload lists, ``listed(payload)`` (its own keys), and how to clear what left:
    ``clear(keys, export)`` builds a payload that empties those keys over the horizon. A key listed
    by the last successful push and missing now (a doctor excluded, deactivated or moved off a
    branch) is cleared before the reference data and the slots go.
    """

    payload: Callable[[ScheduleExport, ResolvedCapability], Any]
    push: Callable[[Any, Any, ResolvedCapability], PushResult]
    busy: bool = False
    days_ahead: int | None = None
    every_run: bool = False
    # Reference data a service keeps apart from the slots (NaPopravku's clinics and doctors): built
    # and pushed like the slots, when it changed and at least daily.
    reference: Callable[[ScheduleExport, ResolvedCapability], Any] | None = None
    push_reference: Callable[[Any, Any, ResolvedCapability], PushResult] | None = None
    listed: Callable[[Any], list[str]] | None = None
    clear: Callable[[list[str], ScheduleExport], Any] | None = None


def _with_holds(snapshot: ScheduleSnapshot, requested: list[tuple[int, datetime, datetime]]) -> ScheduleSnapshot:
    """The snapshot with each requested time booked for its doctor at every branch they work at (a
    lead names no branch; a doctor cannot be in two places at once)."""
    branches: dict[int, list[int]] = {}
    for doctor_id, branch_id in snapshot.doctor_branches:
        branches.setdefault(doctor_id, []).append(branch_id)
    holds = [
        Appointment(-n, doctor_id, branch_id, start, end, "planned")
        for n, (doctor_id, start, end) in enumerate(requested, start=1)
        for branch_id in branches.get(doctor_id, ())
    ]
    return replace(snapshot, appointments=snapshot.appointments + tuple(holds)) if holds else snapshot


def build_export(settings: ResolvedCapability, pusher: SchedulePusher, store: Any, now: datetime) -> ScheduleExport:
    """The run's export: the schedule read over the horizon (a day wider on each side, for branches
    in other timezones), leads' requested times held, cut into slots by the engine."""
    from ident_integrations.slots import horizon, schedule_slots
    from ident_integrations.store.schedule import ScheduleStore

    block = settings.block
    days = block.days_ahead
    if pusher.days_ahead is not None and pusher.days_ahead != days:
        log.info("%s always gets today + %d days: schedule.days_ahead %d is overridden for %s",
                 settings.service, pusher.days_ahead, days, settings.integration)  # fmt: skip
        days = pusher.days_ahead
    start, end = now - timedelta(days=1), now + timedelta(days=days + 2)
    snapshot = ScheduleStore(store.db).snapshot(start, end)
    requested = store.requested_times(start, end)
    if requested:
        log.info("%d time(s) asked for by leads (e.g. NaPopravku bookings) held as booked", len(requested))
    slots = schedule_slots(
        _with_holds(snapshot, requested), now=now, days_ahead=days, skip_hours_today=block.skip_hours_today,
        use_rules=block.use_rules,
    )  # fmt: skip
    free = tuple(slot for slot in slots if slot.status == "free")
    busy = tuple(slot for slot in slots if slot.status == "busy") if pusher.busy else ()
    clinic = horizon(settings.timezone, now=now, days_ahead=days, skip_hours_today=block.skip_hours_today)
    export = ScheduleExport(snapshot, free, busy, clinic.today, clinic.last_date, now)
    _log_counts(export)
    return export


def _log_counts(export: ScheduleExport) -> None:
    doctors = {doctor.id: doctor.name for doctor in export.snapshot.doctors}
    free = Counter((slot.branch_id, slot.doctor_id) for slot in export.free)
    busy = Counter((slot.branch_id, slot.doctor_id) for slot in export.busy)
    log.info("Horizon %s .. %s: %d free slot(s), %d busy interval(s)", export.first_date, export.last_date,
             len(export.free), len(export.busy))  # fmt: skip
    pairs = set(free) | {(branch_id, doctor_id) for doctor_id, branch_id in export.snapshot.doctor_branches}
    for branch in export.snapshot.branches:
        linked = sorted(doctor_id for branch_id, doctor_id in pairs if branch_id == branch.id)
        log.info("  %s (%s): %d free", branch.name, branch.timezone, sum(free[(branch.id, d)] for d in linked))
        for doctor_id in linked:
            name, key = doctors.get(doctor_id, f"doctor {doctor_id}"), (branch.id, doctor_id)
            log.info("    %-40s free %4d  busy %4d", name, free[key], busy[key])


def _push_part(store: Any, part: str, payload: Any, send: Callable[[Any], PushResult], now: datetime,
               every: timedelta, listed: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Push one part unless it equals the last successful push made less than ``every`` ago; what it
    ``listed`` is recorded with the push."""
    from ident_integrations.records import payload_hash

    digest = payload_hash(payload)
    last = store.last_push(part)
    if last is not None and last.payload_hash == digest and now - last.pushed_at < every:
        log.info("%s unchanged since the push at %s: not sent (it is sent unchanged from %s)",
                 part, f"{last.pushed_at:%Y-%m-%d %H:%M} UTC", f"{last.pushed_at + every:%H:%M} UTC")  # fmt: skip
        return {"pushed": False, "items": last.items}
    why = (
        "first push" if last is None else "changed" if last.payload_hash != digest
        else "unchanged, sent every run" if not every else f"unchanged for {every}"
    )  # fmt: skip
    result = send(payload)
    store.record_push(part, digest, result.sent, now, listed)
    log.info("%s pushed (%s): %d item(s) in %d request(s) %s", part, why, result.sent, result.requests, result.detail)
    return {"pushed": True, "items": result.sent, "requests": result.requests}


def _clear_gone(store: Any, listed: list[str], export: ScheduleExport, send: Callable[[Any], PushResult],
                clear: Callable[[list[str], ScheduleExport], Any]) -> int:  # fmt: skip
    """Clear on the service what the last successful slots push listed and this one does not. Until
    the slots push after it succeeds, the last push still lists them: a failed run clears again."""
    last = store.last_push("slots")
    gone = sorted(set(last.listed) - set(listed)) if last is not None else []
    if not gone:
        return 0
    log.info("%d entry(ies) left the export since the last push, cleared on the service: %s", len(gone),
             ", ".join(gone))  # fmt: skip
    result = send(clear(gone, export))
    log.info("Cleared: %s", result.detail)
    return len(gone)


def push_schedule(settings: ResolvedCapability, *, now: datetime | None = None) -> dict[str, Any]:
    """One export: build the slots, clear on the service what left the export (when it keeps what it
    is not sent), push the service's reference data (when it has some) and the slots, each skipped
    when unchanged. A push the service rejects fails at once, its errors quoted."""
    from ident_hooks.exchange import ServiceResponseError
    from ident_integrations.store.schedule_export import ScheduleExportStore

    now = now or datetime.now(UTC)
    store = ScheduleExportStore.open(settings)
    result: dict[str, Any] = {}
    with service_hook(settings, store) as (pusher, hook, _):
        export = build_export(settings, pusher, store, now)
        slots = pusher.payload(export, settings)
        listed = pusher.listed(slots) if pusher.listed is not None else None

        def send_slots(payload: Any) -> PushResult:
            return pusher.push(hook, payload, settings)

        try:
            if listed is not None and pusher.clear is not None:
                result["cleared"] = _clear_gone(store, listed, export, send_slots, pusher.clear)
            if pusher.reference is not None and pusher.push_reference is not None:
                result["reference"] = _push_part(
                    store, "reference", pusher.reference(export, settings),
                    lambda payload: pusher.push_reference(hook, payload, settings), now, REFERENCE_EVERY,
                )  # fmt: skip
            every = timedelta(0) if pusher.every_run else timedelta(minutes=settings.block.force_push_minutes)
            result["slots"] = _push_part(store, "slots", slots, send_slots, now, every, listed)
        except ServiceResponseError as exc:
            # The service refused the payload: the same payload would be refused again. Its reference
            # data goes again next run, in case the service forgot it (the usual cause of "unknown id").
            store.forget_push("reference")
            raise AirflowFailException(f"{settings.service} rejected the schedule push: {exc}") from exc
    result.update(free=len(export.free), busy=len(export.busy))
    return result


def _doc(settings: ResolvedCapability) -> str:
    from ident_integrations.registry import service_for

    block, pusher = settings.block, service_for(settings).source(NAME)
    skipped = (
        "The slots are pushed every run, changed or not (the service asks for them this often)."
        if pusher.every_run
        else "A payload identical to the last successful push is not sent again, but one is\nsent at least "
        f"every {block.force_push_minutes} min."
    )
    horizon = f"today + {block.days_ahead} days"
    if pusher.days_ahead is not None and pusher.days_ahead != block.days_ahead:
        horizon = f"today + {pusher.days_ahead} days, the service's own (`days_ahead` {block.days_ahead} is overridden)"
    rules = "left out (`use_rules: true`)" if block.use_rules else "exported too (`use_rules: false`)"
    return f"""
## Free slots to `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** Every {block.interval_minutes} min it reads the clinic's schedule from the IDENT
database (connection `{settings.ident_conn_id}`: `ident_work_intervals` minus `ident_appointments`,
cut into slots of the rules' length, `ident_schedule_rules`) and pushes the free slots{
        " and busy intervals" if pusher.busy else ""
    } to the service (connection `{settings.conn_id}`).
Horizon: {horizon};
nothing starting within {block.skip_hours_today:g} h from now. Doctors the export rules exclude are {rules}.
A lead that asks for a doctor at a time (e.g. a NaPopravku booking) holds that time as booked:
it is never offered again, whether or not the clinic has entered the appointment yet.

**Skipped pushes.** {skipped} The log lists slot counts per branch and doctor.

**When it fails.** A push the service rejects (4xx with its validation errors) fails at once with
those errors quoted: fix the data or the mapping. 401/403: fix the key (connection
`{settings.conn_id}`). Timeouts and 5xx are retried.
"""


def build_dag(settings: ResolvedCapability) -> DAG:
    every = settings.block.interval_minutes
    with ident_dag(
        settings,
        description=f"Free slots to {settings.integration} ({settings.service}) every {every} min",
        doc_md=_doc(settings),
    ) as dag:

        @task(task_id="push_schedule", doc_md="Build the slots of the horizon and push them (skipped when unchanged).")
        def push_schedule_task() -> dict:
            return push_schedule(settings)

        push = push_schedule_task()
        if "leads" in settings.capabilities:

            @task(task_id="import_leads", doc_md="The integration's leads first: a slot just booked is not offered.")
            def import_leads_first() -> dict:
                from ident_integrations.capabilities.leads import import_leads
                from ident_integrations.config import load_config

                return import_leads(load_config().resolve(settings.integration, "leads")).__dict__

            import_leads_first() >> push
    return dag


SCHEDULE = Capability(name=NAME, settings=ScheduleSettings, action="push free slots", build_dag=build_dag,
                      run=push_schedule)  # fmt: skip
