"""NaPopravku (napopravku.ru): appointments booked on the aggregator as leads, each acknowledged
right after the commit that stored it — ``success`` true once stored, false with a readable reason
when it cannot be (it then sits in ``ident_rejects``). NaPopravku cancels an appointment left
unacknowledged for 10 minutes, so: the DAGs of this service run in their own Airflow pool
(``ident_napopravku``), an acknowledgement that failed is retried by the next run (the appointment
is still unreceived, its upsert changes nothing), and a run fails — the failure alert — when a
stored appointment more than 8 minutes old is still unacknowledged (reference aggregators.md §1)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowException

from ident_hooks.exchange import ServiceAuthError
from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.records import RejectedRecord
from ident_integrations.records.leads import Lead, validate_leads
from ident_integrations.services import Service

log = logging.getLogger(__name__)
POOL = "ident_napopravku"
ALERT_AFTER = timedelta(minutes=8)  # NaPopravku cancels at 10: two minutes left to act


def appointment_ticket(appointment: dict[str, Any]) -> dict[str, Any]:
    """An appointment in IDENT's ticket fields (NaPopravku has no UTM tags; its ``source`` goes to
    the form name). Times are the service's, UTC where they carry no zone (the hook decides)."""
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
        uuids = ", ".join(str(a["uuid"]) for a, _ in overdue)
        raise AirflowException(
            f"{len(overdue)} NaPopravku appointment(s) stored more than {ALERT_AFTER.seconds // 60} min ago are "
            f"still unacknowledged and will be cancelled by NaPopravku at 10 min: {uuids}; last error: {overdue[-1][1]}"
        )


def _age(appointment: dict) -> timedelta:
    from ident_hooks.napopravku import parse_wire_time

    created = parse_wire_time(appointment.get("created_at"))
    return datetime.now(UTC) - created if created else timedelta(0)


NAPOPRAVKU = Service(
    name="napopravku",
    conn_type="ident_napopravku",
    hook_path="ident_hooks.napopravku:NaPopravkuHook",
    pool=POOL,
    sources={
        "leads": LeadSource(
            fetch=fetch,
            to_leads=lambda hook, records, settings: validate_leads(records, settings.tz, appointment_ticket, "uuid"),
            acknowledge=acknowledge,
            repullable=False,
        ),
    },
)
