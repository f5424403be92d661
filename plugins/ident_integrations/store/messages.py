"""SMS and e-mail reminders in the IDENT database: the visits to remind of (read from the schedule
tables), the messages (``ident_messages``) and the visits each reminds of (``ident_message_visits``).

"Never twice" rests on one transaction per message, made **before** the send: the message row
(status ``pending``, its deterministic ``smsc_id``) and one ``ident_message_visits`` row per visit,
keyed by integration + template + appointment. A key conflict means another run (a retry, a re-run,
the run before a crash) has that visit already: the message is not made again. A pending row is
then sent with SMSC's ``id`` = ``smsc_id``, so a resend after a crash is recognised by SMSC.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError

from ident_integrations.records import RejectedRecord
from ident_integrations.store import tables
from ident_integrations.store.base import IN_LIST_CHUNK, CapabilityStore

REMINDABLE = ("planned", "confirmed")  # records.schedule.AppointmentStatus: a visit still to come
FINAL = ("delivered", "undelivered")


@dataclass(frozen=True)
class Visit:
    """One visit to remind of, with what the templates need."""

    appointment_id: int
    patient_id: int
    surname: str
    name: str
    patronymic: str
    phone: str
    email: str
    starts_at: datetime  # aware UTC
    doctor: str
    branch_id: int
    branch: str
    branch_address: str
    branch_phone: str
    branch_timezone: str


@dataclass(frozen=True)
class Message:
    id: int
    channel: str
    template: str
    recipient: str
    subject: str | None
    text: str
    smsc_id: str
    status: str
    not_before: datetime | None
    sent_at: datetime | None = None


def _aware(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class MessageStore(CapabilityStore):
    capability = "sms"

    def __init__(self, db, integration: str, capability: str = "sms"):
        super().__init__(db, integration)
        self.capability = capability  # sms | email | sms_status: whose rejects and exchanges

    @classmethod
    def open(cls, settings) -> MessageStore:
        store = super().open(settings)
        store.capability = settings.capability
        return store

    # ---- reading -----------------------------------------------------------------------------

    def branch_count(self) -> int:
        with self.db.begin() as conn:
            return len(conn.execute(select(tables.branches.c.id)).all())

    def visits(self, start: datetime, end: datetime, template: str) -> list[Visit]:
        """Planned and confirmed visits starting in [start, end) whose patient is known, not yet
        reminded of by ``template`` in this integration; by patient and time."""
        a, p, b, d = tables.appointments.c, tables.patients.c, tables.branches.c, tables.doctors.c
        mv = tables.message_visits.c
        taken = exists().where(mv.integration == self.integration, mv.template == template, mv.appointment_id == a.id)
        statement = (
            select(
                a.id, p.id, p.surname, p.name, p.patronymic, p.phone, p.email, a.starts_at, d.name, b.id, b.name,
                b.address, b.phone, b.timezone,
            )
            .select_from(
                tables.appointments.join(tables.patients, p.id == a.patient_id)
                .join(tables.branches, b.id == a.branch_id)
                .join(tables.doctors, d.id == a.doctor_id)
            )
            .where(a.starts_at >= start, a.starts_at < end, a.status.in_(REMINDABLE), ~taken)
            .order_by(p.id, a.starts_at, a.id)
        )  # fmt: skip
        with self.db.begin() as conn:
            rows = conn.execute(statement).all()
        return [
            Visit(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4] or "",
                r[5] or "",
                r[6] or "",
                _aware(r[7]),
                r[8],
                r[9],
                r[10],
                r[11] or "",
                r[12] or "",
                r[13],
            )  # fmt: skip
            for r in rows
        ]

    def pending(self, channel: str) -> list[Message]:
        m = tables.messages.c
        with self.db.begin() as conn:
            rows = conn.execute(
                select(m.id, m.channel, m.template, m.recipient, m.subject, m.text, m.smsc_id, m.status, m.not_before)
                .where(m.integration == self.integration, m.channel == channel, m.status == "pending")
                .order_by(m.id)
            ).all()
        return [Message(*row[:8], _aware(row[8])) for row in rows]

    def unfinished(self, sent_since: datetime, limit: int) -> list[Message]:
        """Messages sent (either channel), without a final status, sent since ``sent_since``."""
        m = tables.messages.c
        with self.db.begin() as conn:
            rows = conn.execute(
                select(m.id, m.channel, m.template, m.recipient, m.subject, m.text, m.smsc_id, m.status, m.not_before,
                       m.sent_at)
                .where(m.integration == self.integration, m.status == "sent", m.final_at.is_(None),
                       m.sent_at >= sent_since)
                .order_by(m.sent_at, m.id)
                .limit(limit)
            ).all()  # fmt: skip
        return [Message(*row[:8], _aware(row[8]), _aware(row[9])) for row in rows]

    def live(self, message_ids: Sequence[int], now: datetime) -> set[int]:
        """Of these messages, those reminding of at least one visit still planned or confirmed and
        not started: a message that waited (quiet hours, no money) is not sent about a cancelled visit."""
        mv, a = tables.message_visits.c, tables.appointments.c
        ids, found = list(message_ids), set()
        with self.db.begin() as conn:
            for start in range(0, len(ids), IN_LIST_CHUNK):
                found.update(
                    conn.scalars(
                        select(mv.message_id)
                        .join(tables.appointments, a.id == mv.appointment_id)
                        .where(mv.integration == self.integration, a.status.in_(REMINDABLE), a.starts_at > now,
                               mv.message_id.in_(ids[start : start + IN_LIST_CHUNK]))
                        .distinct()
                    )
                )  # fmt: skip
        return found

    # ---- writing -----------------------------------------------------------------------------

    def claim(
        self, *, channel: str, template: str, patient_id: int, recipient: str, subject: str | None, text: str,
        smsc_id: str, appointment_ids: Sequence[int], now: datetime, not_before: datetime | None,
    ) -> int | None:  # fmt: skip
        """The message and its visits in one transaction; None when any of them is taken already."""
        try:
            with self.db.begin() as conn:
                result = conn.execute(
                    tables.messages.insert().values(
                        integration=self.integration, channel=channel, template=template, patient_id=patient_id,
                        recipient=recipient, subject=subject, text=text, smsc_id=smsc_id, status="pending",
                        created_at=now, not_before=not_before,
                    )
                )  # fmt: skip
                message_id = result.inserted_primary_key[0]
                conn.execute(
                    tables.message_visits.insert(),
                    [
                        {
                            "integration": self.integration,
                            "template": template,
                            "appointment_id": appointment_id,
                            "message_id": message_id,
                        }  # fmt: skip
                        for appointment_id in appointment_ids
                    ],
                )
            return int(message_id)
        except IntegrityError:
            return None

    def mark_sent(self, message_id: int, *, parts: int, cost: Decimal | None, at: datetime) -> None:
        self._set(message_id, status="sent", parts=parts, cost=cost, sent_at=at, smsc_error=None,
                  status_text="sent to SMSC")  # fmt: skip

    def mark_failed(self, message_id: int, *, code: int | None, text: str, at: datetime) -> None:
        self._set(message_id, status="failed", smsc_error=code, status_text=text[:255], final_at=at)

    def _set(self, message_id: int, **values: Any) -> None:
        m = tables.messages.c
        with self.db.begin() as conn:
            conn.execute(update(tables.messages).where(m.id == message_id).values(values))

    def record_statuses(self, updates: Sequence[dict[str, Any]]) -> None:
        """Each ``{"id", "status", "smsc_status", "smsc_error", "status_text", "status_checked_at",
        "final_at"}`` in one transaction."""
        m = tables.messages.c
        with self.db.begin() as conn:
            for values in updates:
                values = dict(values)
                message_id = values.pop("id")
                conn.execute(update(tables.messages).where(m.id == message_id).values(values))

    def reject(self, records: Sequence[RejectedRecord], now: datetime) -> int:
        if not records:
            return 0
        with self.db.begin() as conn:
            return self._quarantine(conn, records, now)

    def messages_for(self, appointment_ids: Sequence[int], template: str) -> dict[int, int]:
        """appointment id -> message id, for these visits and template."""
        mv = tables.message_visits.c
        found: dict[int, int] = {}
        ids = list(appointment_ids)
        with self.db.begin() as conn:
            for start in range(0, len(ids), IN_LIST_CHUNK):
                found.update(
                    conn.execute(
                        select(mv.appointment_id, mv.message_id).where(
                            and_(mv.integration == self.integration, mv.template == template,
                                 mv.appointment_id.in_(ids[start : start + IN_LIST_CHUNK]))
                        )
                    ).all()
                )  # fmt: skip
        return found
