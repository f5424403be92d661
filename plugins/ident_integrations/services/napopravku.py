"""NaPopravku (napopravku.ru): appointments booked on the aggregator as leads, each acknowledged
right after the commit that stored it — ``success`` true once stored, false with a readable reason
when it cannot be (it then sits in ``ident_rejects``). NaPopravku cancels an appointment left
unacknowledged for 10 minutes, so: the DAGs of this service run in their own Airflow pool
(``ident_napopravku``), an acknowledgement that failed is retried by the next run (the appointment
is still unreceived, its upsert changes nothing), and a run fails at once, without the task's
retries — the failure alert — when a stored appointment more than 8 minutes old is still
unacknowledged (reference aggregators.md §1).

The schedule (``sources["schedule"]``): clinics and doctors, then free slots as a full snapshot of
the 32-day horizon per doctor and date (below). The schedule DAG runs the lead import first, so a
slot just booked through NaPopravku is never offered again."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.records import RejectedRecord
from ident_integrations.records.leads import Lead, validate_leads
from ident_integrations.records.schedule import Branch
from ident_integrations.services import Service
from ident_integrations.services.schedule_payloads import (
    LocalSlot,
    branch_dates,
    branches,
    doctors_by_branch,
    group,
    local_slots,
    same_day,
)

log = logging.getLogger(__name__)
POOL = "ident_napopravku"
ALERT_AFTER = timedelta(minutes=8)  # NaPopravku cancels at 10: two minutes left to act


def appointment_ticket(appointment: dict[str, Any]) -> dict[str, Any]:
    """An appointment in IDENT's ticket fields (NaPopravku has no UTM tags; its ``source`` goes to
    the form name). Times are the service's, UTC where they carry no zone (the hook decides).

    Not mapped: ``patient_birthday``, ``patient_gender``, ``mis_service_id`` and ``clinic``. IDENT's
    ticket has no field for them (reference ident-protocol.md §2.4; §3, the database variant, has no
    public schema either), so ``ident_leads`` has no column for them: they stay in the lead's
    ``raw_payload``, the appointment exactly as received."""
    from ident_hooks.napopravku import parse_wire_time

    doctor = appointment.get("doctor") if isinstance(appointment.get("doctor"), dict) else {}
    doctor_id = str(doctor.get("mis_doctor_id") or "")
    source = appointment.get("source")
    return {
        "Id": appointment.get("uuid"),
        "DateAndTime": parse_wire_time(appointment.get("created_at")),
        "ClientSurname": appointment.get("patient_surname"),
        "ClientName": appointment.get("patient_firstname"),
        "ClientPatronymic": appointment.get("patient_father_name"),
        "ClientPhone": appointment.get("patient_phone"),
        "ClientEmail": appointment.get("patient_email"),
        "DoctorId": int(doctor_id) if doctor_id.isdigit() else None,
        "DoctorName": doctor.get("name"),
        "PlanStart": parse_wire_time(appointment.get("start_time")),
        "PlanEnd": parse_wire_time(appointment.get("end_time")),
        "Comment": appointment.get("comment"),
        "FormName": f"НаПоправку: {source}" if source else "НаПоправку",
    }


def fetch(hook: Any, start: datetime, end: datetime, settings: ResolvedCapability) -> list[Any]:
    """Every appointment not yet received (whatever the window: the service keeps them until
    acknowledged, and cancels them 10 minutes later)."""
    return [appointment for page in hook.iter_unreceived() for appointment in page]


def acknowledge(hook: Any, leads: list[Lead], rejects: list[RejectedRecord], settings: ResolvedCapability) -> None:
    """After the commit: each stored appointment received, each rejected one refused with its reason."""
    answers = [(lead.raw, True, None) for lead in leads]
    answers += [(reject.raw, False, f"Не загружено в IDENT: {reject.reason}") for reject in rejects]
    failed: list[tuple[dict, Exception]] = []
    from ident_hooks.exchange import ServiceAuthError  # loaded by the task, not at DAG parse

    for appointment, success, message in answers:
        if not isinstance(appointment, dict) or not appointment.get("uuid"):
            continue  # nothing to answer to
        try:
            hook.set_received(str(appointment["uuid"]), success, message)
        except ServiceAuthError:
            raise
        except AirflowException as exc:  # retried by the next run: the appointment stays unreceived
            failed.append((appointment, exc))
    log.info("NaPopravku: %d acknowledged, %d refused, %d failed", len(leads), len(rejects), len(failed))
    overdue = [(a, exc) for a, exc in failed if _age(a) > ALERT_AFTER]
    for appointment, exc in failed:
        log.warning("NaPopravku appointment %s not acknowledged (next run retries): %s", appointment["uuid"], exc)
    if overdue:
        # Failed at once, not retried: the failure alert goes out only once no retry is left, and by
        # the task's first retry (60 s later) NaPopravku has cancelled the appointment, so the retry
        # would find nothing to acknowledge and succeed without anyone being told.
        uuids = ", ".join(str(a["uuid"]) for a, _ in overdue)
        raise AirflowFailException(
            f"{len(overdue)} NaPopravku appointment(s) stored more than {ALERT_AFTER.seconds // 60} min ago are "
            f"still unacknowledged and will be cancelled by NaPopravku at 10 min: {uuids}; last error: {overdue[-1][1]}"
        )


def _age(appointment: dict) -> timedelta:
    from ident_hooks.napopravku import parse_wire_time

    created = parse_wire_time(appointment.get("created_at"))
    return datetime.now(UTC) - created if created else timedelta(0)


# -- schedule (the free-slot export) ---------------------------------------------------------------
# NaPopravku's RTA API (hook docstring, "Schedule"): clinics and doctors as reference data (pushed
# when changed and at least daily), then free slots only, grouped clinic -> doctor -> date, clock
# times local to the branch. Every run sends, for every doctor of every clinic, every date of the
# horizon, a date without free slots as "slots": [] — so a slot booked or closed since the last
# push disappears (the service replaces a doctor's slots per date it is sent). The horizon is fixed
# at today + 32 days, whatever schedule.days_ahead says (the NaPopravku team's rule).
DAYS_AHEAD = 32


def _clinic_comment(branch: Branch) -> str | None:
    parts = [part.strip() for part in (branch.address, branch.phone) if part and part.strip()]
    return ", ".join(parts) or None


def schedule_reference(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, list[dict]]:
    """``POST clinics`` and ``POST doctors`` bodies' lists: every branch as a clinic (the address and
    phone as its comment); every exported doctor linked to a branch, its specialty as the comment,
    its branches as ``mis_clinic_ids``. Ids as strings (``mis_*_id`` are strings in the client)."""
    by_branch = doctors_by_branch(export, settings)
    clinic_ids: dict[int, list[str]] = {}
    names: dict[int, Any] = {}
    for branch_id, doctors in by_branch.items():
        for doctor in doctors:
            clinic_ids.setdefault(doctor.id, []).append(str(branch_id))
            names[doctor.id] = doctor
    return {
        "clinics": [
            {"mis_clinic_id": str(b.id), "name": b.name, "comment": _clinic_comment(b)} for b in branches(export)
        ],
        "doctors": [
            {
                "mis_doctor_id": str(doctor_id),
                "name": names[doctor_id].name,
                "comment": names[doctor_id].specialty or None,
                "mis_clinic_ids": clinic_ids[doctor_id],
            }
            for doctor_id in sorted(clinic_ids)
        ],
    }


def push_reference(hook: Any, payload: dict[str, list[dict]], settings: ResolvedCapability) -> PushResult:
    clinics = hook.update_clinics(payload["clinics"])
    doctors = hook.update_doctors(payload["doctors"])
    not_matched = doctors.get("not_matched")
    detail = (
        f"clinics {len(payload['clinics'])} (created {clinics.get('created', '?')}, updated "
        f"{clinics.get('updated', '?')}), doctors {len(payload['doctors'])} (created {doctors.get('created', '?')}, "
        f"updated {doctors.get('updated', '?')}"
        + (f", not matched to NaPopravku profiles {len(not_matched)}" if isinstance(not_matched, list | dict) else "")
        + ")"
    )
    log.info("NaPopravku reference pushed: %s", detail)
    return PushResult(requests=2, sent=len(payload["clinics"]) + len(payload["doctors"]), detail=detail)


def _intervals(slots: list[LocalSlot]) -> list[dict[str, Any]]:
    """Back-to-back slots of one length as one interval with that ``duration`` (the service cuts it
    into the same slots: README's 16:00-17:00 by 15 = four slots); a lone slot as itself."""
    out: list[dict[str, Any]] = []
    for slot in slots:
        start, end = f"{slot.start:%H:%M}", f"{slot.end:%H:%M}"
        last = out[-1] if out else None
        if last is not None and last["to"] == start and last["duration"] == slot.minutes:
            last["to"] = end
        else:
            out.append({"from": start, "to": end, "duration": slot.minutes})
    return out


def _minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


def slot_count(interval: dict[str, Any]) -> int:
    span = _minutes(interval["to"]) - _minutes(interval["from"])
    return span // interval["duration"] if interval.get("duration") else 1


def schedule_payload(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, list[dict]]:
    """The ``POST slots`` body: ``{"clinics": [{mis_clinic_id, doctors: [{mis_doctor_id, dates:
    [{date, slots: [{from, to, duration}]}]}]}]}``, free slots only, every date of each branch's
    horizon for every doctor of the branch (``[]`` when none is free). A branch without doctors is
    left out (nothing to replace)."""
    free = same_day(local_slots(export, export.free), service="NaPopravku")
    grouped = group(free)
    by_branch = doctors_by_branch(export, settings)
    clinics = []
    for branch in branches(export):
        doctors = by_branch.get(branch.id, [])
        if not doctors:
            continue
        dates = branch_dates(export, branch, free)
        clinics.append(
            {
                "mis_clinic_id": str(branch.id),
                "doctors": [
                    {
                        "mis_doctor_id": str(doctor.id),
                        "dates": [
                            {
                                "date": day.isoformat(),
                                "slots": _intervals(grouped.get((branch.id, doctor.id), {}).get(day, [])),
                            }
                            for day in dates
                        ],
                    }
                    for doctor in doctors
                ],
            }
        )
    return {"clinics": clinics}


def listed(payload: dict[str, list[dict]]) -> list[str]:
    """The ``<mis_clinic_id>/<mis_doctor_id>`` pairs a ``POST slots`` body lists: NaPopravku keeps a
    pair's dates until they are sent again, so a pair that leaves the export is cleared (below)."""
    return [f"{clinic['mis_clinic_id']}/{doctor['mis_doctor_id']}" for clinic in payload["clinics"]
            for doctor in clinic["doctors"]]  # fmt: skip


def clear(keys: list[str], export: ScheduleExport) -> dict[str, list[dict]]:
    """A ``POST slots`` body that empties every date of the horizon for each ``clinic/doctor`` pair:
    a doctor excluded, deactivated or moved off a branch is no longer bookable there. A branch gone
    from the IDENT database gets the clinic horizon's dates."""
    known = {str(branch.id): branch for branch in branches(export)}
    span = (export.last_date - export.first_date).days
    clinics: dict[str, list[dict]] = {}
    for key in keys:
        clinic_id, doctor_id = key.split("/", 1)
        branch = known.get(clinic_id)
        days = branch_dates(export, branch) if branch else [export.first_date + timedelta(n) for n in range(span + 1)]
        dates = [{"date": day.isoformat(), "slots": []} for day in days]
        clinics.setdefault(clinic_id, []).append({"mis_doctor_id": doctor_id, "dates": dates})
    return {"clinics": [{"mis_clinic_id": c, "doctors": doctors} for c, doctors in clinics.items()]}


def push_schedule(hook: Any, payload: dict[str, list[dict]], settings: ResolvedCapability) -> PushResult:
    """One ``POST slots`` per clinic (no payload limit is known; a clinic's doctors and dates stay
    together). The hook raises on a refusal (a 422 with the service's field errors quoted)."""
    slots = dates = empty = doctors = 0
    for clinic in payload["clinics"]:
        hook.update_slots([clinic])
        counts = {
            doctor["mis_doctor_id"]: sum(slot_count(i) for day in doctor["dates"] for i in day["slots"])
            for doctor in clinic["doctors"]
        }
        log.info("NaPopravku clinic %s: free slots per doctor %s", clinic["mis_clinic_id"], counts)
        doctors += len(clinic["doctors"])
        slots += sum(counts.values())
        dates += sum(len(doctor["dates"]) for doctor in clinic["doctors"])
        empty += sum(1 for doctor in clinic["doctors"] for day in doctor["dates"] if not day["slots"])
    detail = f"clinics {len(payload['clinics'])}, doctors {doctors}, doctor-dates {dates} ({empty} without free slots)"
    return PushResult(requests=len(payload["clinics"]), sent=slots, detail=detail)


NAPOPRAVKU = Service(
    name="napopravku",
    conn_type="ident_napopravku",
    hook_path="ident_hooks.napopravku:NaPopravkuHook",
    pool=POOL,
    needs={
        "schedule": (
            "leads",
            "its appointments are imported before the slots go out, so a booked slot is not offered again",
        )
    },
    sources={
        "leads": LeadSource(
            fetch=fetch,
            to_leads=lambda hook, records, settings: validate_leads(records, settings.tz, appointment_ticket, "uuid"),
            acknowledge=acknowledge,
            repullable=False,
        ),
        "schedule": SchedulePusher(
            payload=schedule_payload,
            push=push_schedule,
            busy=False,
            days_ahead=DAYS_AHEAD,
            every_run=True,
            reference=schedule_reference,
            push_reference=push_reference,
            listed=listed,
            clear=clear,
        ),
    },
)
