"""Online calendar ("Онлайн-календарь", Google Calendar): every ``calendar.interval_minutes`` each
doctor's appointments from today to today + ``days_ahead`` as events in the doctor's calendar, so
the doctor sees the current schedule on any device (ident-protocol.md §11).

A run reconciles: it reads the appointments that hold their time (``ident_appointments``, status
not cancelled) over the horizon, the events it wrote before (``ident_calendar_events``: calendar,
event id, content hash) and — to repair drift — the events each calendar really has in the horizon
(ours only: a private extended property names the integration, and the id carries its prefix).
Then it inserts the missing events, patches the moved or changed ones (unchanged ones are left
alone), deletes the events of cancelled, removed or re-assigned appointments, deletes stray events
of ours the database no longer knows, and restores ours that someone deleted in the calendar.

Event ids are derived from the integration and the appointment id (base32hex, the characters
Google allows), so a re-run never duplicates: a 409 on insert means the event exists (perhaps
deleted: a deleted id stays taken) and it is updated instead, with ``status: confirmed``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import string
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal

from airflow.sdk import DAG, task
from airflow.sdk.exceptions import AirflowFailException
from pydantic import Field, model_validator

from ident_integrations.capabilities import Capability, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability
from ident_integrations.records import RejectedRecord, payload_hash

log = logging.getLogger(__name__)
NAME = "calendar"
PROPERTY_INTEGRATION = "identIntegration"
PROPERTY_APPOINTMENT = "identAppointment"
PRUNE_AFTER = timedelta(days=90)  # rows of events that ended this long ago are forgotten
PatientField = Literal["name", "phone", "email"]
PATIENT_PLACEHOLDERS = {"patient": "name", "phone": "phone", "email": "email"}
OTHER_PLACEHOLDERS = frozenset({
    "doctor", "specialty", "branch", "branch_address", "branch_phone", "appointment_id", "start", "end", "date",
    "status",
})  # fmt: skip
MAX_SUMMARY = 1024
MAX_DESCRIPTION = 8192


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class CalendarSettings(CapabilitySettings):
    """An integration's ``calendar:`` block."""

    interval_minutes: IntervalMinutes = 15
    days_ahead: Annotated[int, Field(ge=0, le=90)] = 14  # today .. today + N days (clinic time)
    # Doctor id -> calendar id; a doctor not listed gets calendar_id_template (when set), else is skipped.
    calendar_ids: dict[int, Annotated[str, Field(min_length=1, max_length=255)]] = {}
    # e.g. doctor-{doctor_id}@group.calendar.google.com
    calendar_id_template: Annotated[str | None, Field(max_length=255)] = None
    # What of the patient goes into the event: by default the name only, never the phone unless listed.
    patient_fields: tuple[PatientField, ...] = ("name",)
    summary_template: Annotated[str, Field(min_length=1, max_length=500)] = "{patient}"
    description_template: Annotated[str, Field(max_length=2000)] = "{branch}. Запись в IDENT №{appointment_id}"
    location_template: Annotated[str, Field(max_length=500)] = "{branch_address}"
    summary_fallback: Annotated[str, Field(min_length=1, max_length=200)] = "Приём"  # when the summary comes out empty
    repair_drift: bool = True  # list each calendar's events: restore ours deleted there, delete strays
    page_size: Annotated[int, Field(ge=1, le=2500)] = 250

    @model_validator(mode="after")
    def _templates(self) -> CalendarSettings:
        if self.calendar_id_template is not None and "{doctor_id}" not in self.calendar_id_template:
            raise ValueError("calendar_id_template must contain {doctor_id}")
        for name in ("summary_template", "description_template", "location_template"):
            for placeholder in _placeholders(getattr(self, name)):
                if placeholder in PATIENT_PLACEHOLDERS:
                    if PATIENT_PLACEHOLDERS[placeholder] not in self.patient_fields:
                        raise ValueError(
                            f"{name} uses {{{placeholder}}} but patient_fields does not list"
                            f" {PATIENT_PLACEHOLDERS[placeholder]!r}: add it there to put it in events"
                        )
                elif placeholder not in OTHER_PLACEHOLDERS:
                    known = sorted(OTHER_PLACEHOLDERS | set(PATIENT_PLACEHOLDERS))
                    raise ValueError(f"{name}: unknown placeholder {{{placeholder}}} (known: {', '.join(known)})")
        return self

    def calendar_for(self, doctor_id: int) -> str | None:
        if doctor_id in self.calendar_ids:
            return self.calendar_ids[doctor_id]
        if self.calendar_id_template:
            return self.calendar_id_template.replace("{doctor_id}", str(doctor_id))
        return None


def id_prefix(integration: str) -> str:
    """``ident`` + 8 base32hex characters of the integration's name: what marks our events."""
    digest = base64.b32hexencode(hashlib.sha256(integration.encode()).digest()).decode().lower()
    return f"ident{digest[:8]}"


def event_id(integration: str, appointment_id: int) -> str:
    """The event id of an appointment: the prefix and the appointment id in decimal (digits are
    base32hex too), so the same appointment always has the same id in every run."""
    return f"{id_prefix(integration)}{appointment_id}"


def appointment_of(integration: str, eid: str) -> int | None:
    prefix = id_prefix(integration)
    rest = eid[len(prefix) :] if eid.startswith(prefix) else ""
    return int(rest) if rest.isdigit() else None


class BadAppointment(ValueError):
    """An appointment that cannot be an event (its reason goes to ident_rejects)."""


def _instant(value: Any) -> str | None:
    """An event's start/end as a UTC instant (what we compare), whatever offset Google wrote."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    try:
        moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC).isoformat() if moment.tzinfo else None


@dataclass(frozen=True)
class Wanted:
    appointment_id: int
    calendar_id: str
    event_id: str
    body: dict
    starts_at: datetime
    ends_at: datetime
    content_hash: str


def _managed(body: dict) -> dict:
    """The fields of an event this integration owns, normalised for comparison with Google's copy."""
    return {"summary": body.get("summary") or "", "description": body.get("description") or "",
            "location": body.get("location") or "", "start": _instant(body.get("start")),
            "end": _instant(body.get("end"))}  # fmt: skip


def build_event(settings: ResolvedCapability, appointment: Any, calendar_id: str) -> Wanted:
    """The event body of one appointment; :class:`BadAppointment` when it cannot be one."""
    from zoneinfo import ZoneInfo

    block: CalendarSettings = settings.block
    if appointment.ends_at <= appointment.starts_at:
        raise BadAppointment(f"ends at {appointment.ends_at:%Y-%m-%d %H:%M} UTC, not after its start")
    tz_name = appointment.timezone or settings.timezone
    try:
        tz = ZoneInfo(tz_name)
    except (KeyError, ValueError):
        raise BadAppointment(f"branch {appointment.branch_id} has an unknown timezone {tz_name!r}") from None
    start, end = appointment.starts_at.astimezone(tz), appointment.ends_at.astimezone(tz)
    fields = set(block.patient_fields)
    name = " ".join(part for part in (appointment.surname, appointment.name, appointment.patronymic) if part)
    values = {
        "patient": name if "name" in fields else "",
        "phone": appointment.phone if "phone" in fields else "",
        "email": appointment.email if "email" in fields else "",
        "doctor": appointment.doctor_name, "specialty": appointment.specialty, "branch": appointment.branch_name,
        "branch_address": appointment.branch_address, "branch_phone": appointment.branch_phone,
        "appointment_id": appointment.id, "start": f"{start:%H:%M}", "end": f"{end:%H:%M}",
        "date": f"{start:%d.%m.%Y}", "status": appointment.status,
    }  # fmt: skip
    summary = " ".join(block.summary_template.format(**values).split()) or block.summary_fallback
    description = "\n".join(line.rstrip() for line in block.description_template.format(**values).splitlines())
    eid = event_id(settings.integration, appointment.id)
    body = {
        "id": eid,
        "summary": summary[:MAX_SUMMARY],
        "description": description.strip()[:MAX_DESCRIPTION],
        "location": " ".join(block.location_template.format(**values).split()),
        "start": {"dateTime": start.isoformat(), "timeZone": tz_name},
        "end": {"dateTime": end.isoformat(), "timeZone": tz_name},
        "extendedProperties": {
            "private": {PROPERTY_INTEGRATION: settings.integration, PROPERTY_APPOINTMENT: str(appointment.id)}
        },  # fmt: skip
        "status": "confirmed",
    }
    return Wanted(appointment.id, calendar_id, eid, body, appointment.starts_at, appointment.ends_at,
                  payload_hash({**_managed(body), "calendar": calendar_id}))  # fmt: skip


def horizon(settings: ResolvedCapability, now: datetime) -> tuple[datetime, datetime]:
    """[today 00:00, (today + days_ahead + 1) 00:00) in the clinic's timezone, as UTC."""
    today = now.astimezone(settings.tz).date()
    start = datetime.combine(today, time(0), settings.tz)
    end = datetime.combine(today + timedelta(days=settings.block.days_ahead + 1), time(0), settings.tz)
    return start.astimezone(UTC), end.astimezone(UTC)


@dataclass
class _Batch:
    """What one calendar's reconciliation did, saved in one transaction."""

    written: list = field(default_factory=list)
    removed: list = field(default_factory=list)
    rejected: list = field(default_factory=list)


def _upsert(hook: Any, wanted: Wanted, counts: Counter, *, exists: bool, restoring: bool = False) -> None:
    """Write the event: patch when it is known to exist, else insert; a 409 means it exists (live
    or deleted) and it is updated instead; a patch that finds nothing inserts."""
    from ident_hooks.google_calendar import EventExists, EventGone

    if exists:
        try:
            hook.patch_event(wanted.calendar_id, wanted.event_id, wanted.body)
            counts["restored" if restoring else "patched"] += 1
            return
        except EventGone:
            pass
    try:
        hook.insert_event(wanted.calendar_id, wanted.body)
        counts["inserted"] += 1
    except EventExists:
        hook.update_event(wanted.calendar_id, wanted.event_id, wanted.body)
        counts["restored" if not exists else "patched"] += 1
        counts["conflicts"] += 1


def sync_calendar(settings: ResolvedCapability, *, now: datetime | None = None) -> dict[str, Any]:
    """One reconciliation of every doctor's calendar with the IDENT database over the horizon."""
    from ident_hooks.exchange import ServiceResponseError
    from ident_hooks.google_calendar import CalendarAccessError
    from ident_integrations.store.calendar import CalendarStore, EventRow

    now = now or datetime.now(UTC)
    block: CalendarSettings = settings.block
    start, end = horizon(settings, now)
    store = CalendarStore.open(settings)
    appointments = store.appointments(start, end)
    counts: Counter = Counter()
    wanted: dict[int, Wanted] = {}
    rejected: list[RejectedRecord] = []
    skipped_doctors: dict[int, str] = {}
    for appointment in appointments:
        calendar_id = block.calendar_for(appointment.doctor_id)
        if calendar_id is None:
            skipped_doctors[appointment.doctor_id] = appointment.doctor_name
            continue
        try:
            wanted[appointment.id] = build_event(settings, appointment, calendar_id)
        except BadAppointment as exc:
            rejected.append(RejectedRecord({"appointment_id": appointment.id, "doctor_id": appointment.doctor_id,
                                            "starts_at": appointment.starts_at.isoformat(),
                                            "ends_at": appointment.ends_at.isoformat()},
                                           f"appointment {appointment.id}: {exc}", str(appointment.id)))  # fmt: skip
    for doctor_id, name in sorted(skipped_doctors.items()):
        log.info("Doctor %s (%s) has no calendar (calendar.calendar_ids / calendar_id_template): skipped",
                 doctor_id, name)  # fmt: skip
    rows = store.events(start, list(wanted))
    calendars = sorted({w.calendar_id for w in wanted.values()} | {r.calendar_id for r in rows.values()})
    log.info("Horizon %s .. %s: %d appointment(s) for %d calendar(s), %d event(s) stored before",
             start, end, len(wanted), len(calendars), len(rows))  # fmt: skip
    failed: dict[str, str] = {}
    prefix = id_prefix(settings.integration)
    with service_hook(settings, store) as (_, hook, _exchanges):
        for calendar_id in calendars:
            batch = _Batch(rejected=rejected if calendar_id == calendars[0] else [])
            try:
                _sync_one(settings, hook, calendar_id, wanted, rows, start, end, prefix, batch, counts)
            except CalendarAccessError as exc:
                failed[calendar_id] = str(exc)
                log.error("%s", exc)
            except ServiceResponseError as exc:
                failed[calendar_id] = str(exc)
                log.error("Calendar %s: %s", calendar_id, exc)
            finally:
                counts["rejected_new"] += store.save(
                    [EventRow(*row) for row in batch.written], batch.removed, batch.rejected, datetime.now(UTC)
                )
        if not calendars and rejected:
            store.save([], [], rejected, datetime.now(UTC))
    store.prune(start - PRUNE_AFTER)
    counts["rejected"] = len(rejected)
    summary = {key: counts[key] for key in ("inserted", "patched", "restored", "deleted", "unchanged", "strays",
                                            "conflicts", "rejected", "rejected_new")}  # fmt: skip
    summary.update(appointments=len(wanted), calendars=len(calendars), skipped_doctors=len(skipped_doctors),
                   failed_calendars=sorted(failed))  # fmt: skip
    log.info("Calendar sync: %s", ", ".join(f"{k} {v}" for k, v in summary.items() if k != "failed_calendars"))
    for record in rejected:
        log.warning("Rejected: %s", record.reason)
    if failed:
        raise AirflowFailException(
            f"{len(failed)} calendar(s) could not be written (the others were synced): " + "; ".join(failed.values())
        )
    return summary


def _sync_one(settings, hook, calendar_id, wanted, rows, start, end, prefix, batch, counts) -> None:
    """Reconcile one calendar: its wanted events, the stored rows that point at it, and (drift)
    what it really holds of ours in the horizon."""
    here = {w.appointment_id: w for w in wanted.values() if w.calendar_id == calendar_id}
    actual: dict[str, dict] = {}
    if settings.block.repair_drift:
        ours = f"{PROPERTY_INTEGRATION}={settings.integration}"
        listed = hook.list_events(calendar_id, start, end, private_property=ours, page_size=settings.block.page_size)
        actual = {event["id"]: event for event in listed if str(event.get("id", "")).startswith(prefix)}
    for appointment_id, w in here.items():
        row = rows.get(appointment_id)
        event = actual.get(w.event_id)
        same_place = row is not None and row.calendar_id == calendar_id
        if settings.block.repair_drift:
            live = event is not None and event.get("status") != "cancelled"
            if same_place and row.content_hash == w.content_hash and live and _managed(event) == _managed(w.body):
                counts["unchanged"] += 1
                continue
            restoring = event is not None and not live
            if restoring:
                log.info("Event of appointment %s was deleted in %s: restored", appointment_id, calendar_id)
            _upsert_or_reject(hook, w, counts, batch, exists=event is not None, restoring=restoring)
        else:
            if same_place and row.content_hash == w.content_hash:
                counts["unchanged"] += 1
                continue
            _upsert_or_reject(hook, w, counts, batch, exists=same_place)
    # Stored rows of this calendar whose appointment is no longer wanted here: cancelled, removed,
    # moved beyond the horizon or to another doctor.
    gone = [row for row in rows.values() if row.calendar_id == calendar_id and row.appointment_id not in here]
    handled = set()
    for row in gone:
        event = actual.get(row.event_id)
        if event is not None and event.get("status") == "cancelled":
            removed = False  # already deleted there
        else:
            removed = hook.delete_event(calendar_id, row.event_id)
        counts["deleted"] += int(removed)
        handled.add(row.event_id)
        if wanted.get(row.appointment_id) is None:
            batch.removed.append(row.appointment_id)
    # Drift: events of ours in the calendar that the database does not want here.
    wanted_ids = {w.event_id for w in here.values()}
    for eid, event in actual.items():
        if eid in wanted_ids or eid in handled or event.get("status") == "cancelled":
            continue
        log.info("Stray event %s in %s (appointment %s not in the database for it): deleted", eid, calendar_id,
                 appointment_of(settings.integration, eid))  # fmt: skip
        counts["strays"] += int(hook.delete_event(calendar_id, eid))


def _upsert_or_reject(hook, w: Wanted, counts: Counter, batch: _Batch, *, exists: bool, restoring=False) -> None:
    from ident_hooks.exchange import ServiceResponseError
    from ident_hooks.google_calendar import CalendarAccessError, EventExists, EventGone

    try:
        _upsert(hook, w, counts, exists=exists, restoring=restoring)
    except (CalendarAccessError, EventExists, EventGone):
        raise
    except ServiceResponseError as exc:  # Google refused this event (a 400): the others go on
        batch.rejected.append(RejectedRecord({"appointment_id": w.appointment_id, "event": w.body},
                                             f"Google refused the event: {exc}", str(w.appointment_id)))  # fmt: skip
        return
    batch.written.append((w.appointment_id, w.calendar_id, w.event_id, w.starts_at, w.ends_at, w.content_hash))


def _doc(settings: ResolvedCapability) -> str:
    block: CalendarSettings = settings.block
    if block.calendar_ids and block.calendar_id_template:
        where = (f"{len(block.calendar_ids)} doctor(s) by `calendar_ids`, the others by "
                 f"`{block.calendar_id_template}`")  # fmt: skip
    elif block.calendar_ids:
        where = f"the {len(block.calendar_ids)} doctor(s) of `calendar_ids` (the others are skipped, logged)"
    elif block.calendar_id_template:
        where = f"`{block.calendar_id_template}`"
    else:
        where = "no doctor yet: set `calendar_ids` or `calendar_id_template`"
    fields = ", ".join(block.patient_fields) or "nothing"
    return f"""
## Doctors' schedules in Google Calendar through `{settings.integration}`

{settings.description}

**What it does.** Every {block.interval_minutes} min it reads `ident_appointments` (status not
cancelled, active doctors, with `ident_doctors`, `ident_branches`, `ident_patients`) from the IDENT
database (connection `{settings.ident_conn_id}`) for today .. today + {block.days_ahead} days
({settings.timezone}) and makes each doctor's Google calendar (connection `{settings.conn_id}`) show
them: calendars {where}. Patient data in events: {fields} (`patient_fields`; the phone only when
listed). It inserts missing events, patches moved or changed ones, deletes events of cancelled or
removed appointments, and writes what it did to `ident_calendar_events` (event id and content hash
per appointment: unchanged events are not sent again).{
        " Each run also lists every calendar's events "
        "in the horizon: ours deleted by someone are restored, stray ones of ours deleted."
        if block.repair_drift
        else ""
    }

**Ids.** Event ids are `{id_prefix(settings.integration)}<appointment id>` (base32hex), so a re-run
never duplicates: a 409 means the event exists (or was deleted) and it is updated instead.

**When it fails.** 401 or `invalid_grant`: the service-account key in `{settings.conn_id}` is wrong
or revoked (fails at once). A calendar not shared with the service account ("Make changes to
events") fails the run naming the calendar, after the other calendars are synced. 403 rate limits,
429, 5xx and timeouts are retried with backoff. An appointment Google refuses (or one ending before
it starts) goes to `ident_rejects` with the reason; the rest loads.
"""


def build_dag(settings: ResolvedCapability) -> DAG:
    every = settings.block.interval_minutes
    with ident_dag(
        settings,
        description=f"Doctors' appointments to Google Calendar through {settings.integration} every {every} min",
        doc_md=_doc(settings),
    ) as dag:

        @task(task_id="sync_calendar", doc_md="Reconcile every doctor's calendar with ident_appointments.")
        def sync_task() -> dict:
            return sync_calendar(settings)

        sync_task()
    return dag


CALENDAR = Capability(name=NAME, settings=CalendarSettings, action="sync calendars", build_dag=build_dag,
                      run=sync_calendar)  # fmt: skip
