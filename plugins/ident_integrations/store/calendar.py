"""The online calendar's store: the appointments it shows (``ident_appointments`` with their doctor,
branch and patient) and, per integration, the event each appointment has as last written
(``ident_calendar_events``), which the next run compares with the database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, delete, select

from ident_integrations.records import RejectedRecord
from ident_integrations.records.schedule import FREEING_STATUSES
from ident_integrations.store import tables
from ident_integrations.store.base import IN_LIST_CHUNK, CapabilityStore


@dataclass(frozen=True)
class CalendarAppointment:
    """One appointment as its calendar event needs it."""

    id: int
    doctor_id: int
    doctor_name: str
    specialty: str
    branch_id: int
    branch_name: str
    branch_address: str
    branch_phone: str
    timezone: str
    starts_at: datetime
    ends_at: datetime
    status: str
    patient_id: int | None
    surname: str
    name: str
    patronymic: str
    phone: str
    email: str


@dataclass(frozen=True)
class EventRow:
    appointment_id: int
    calendar_id: str
    event_id: str
    starts_at: datetime
    ends_at: datetime
    content_hash: str


class CalendarStore(CapabilityStore):
    capability = "calendar"

    def appointments(self, start: datetime, end: datetime) -> list[CalendarAppointment]:
        """Appointments overlapping [start, end) that hold their time (not cancelled), of active
        doctors, with their branch and patient (a missing patient or branch leaves blanks)."""
        a, d, b, p = tables.appointments.c, tables.doctors.c, tables.branches.c, tables.patients.c
        query = (
            select(
                a.id,
                a.doctor_id,
                d.name,
                d.specialty,
                a.branch_id,
                b.name,
                b.address,
                b.phone,
                b.timezone,
                a.starts_at,
                a.ends_at,
                a.status,
                a.patient_id,
                p.surname,
                p.name,
                p.patronymic,
                p.phone,
                p.email,
            )  # fmt: skip
            .select_from(
                tables.appointments.join(tables.doctors, d.id == a.doctor_id)
                .outerjoin(tables.branches, b.id == a.branch_id)
                .outerjoin(tables.patients, p.id == a.patient_id)
            )
            .where(a.starts_at < end, a.ends_at > start, a.status.not_in(sorted(FREEING_STATUSES)), d.active)
            .order_by(a.doctor_id, a.starts_at, a.id)
        )
        with self.db.begin() as conn:
            rows = conn.execute(query).all()
        return [
            CalendarAppointment(
                row[0],
                row[1],
                row[2] or "",
                row[3] or "",
                row[4],
                row[5] or "",
                row[6] or "",
                row[7] or "",
                row[8] or "",
                row[9],
                row[10],
                row[11],
                row[12],
                *(value or "" for value in row[13:]),
            )  # fmt: skip
            for row in rows
        ]

    def events(self, start: datetime, appointment_ids: Sequence[int]) -> dict[int, EventRow]:
        """The integration's stored events that end after ``start`` or belong to one of
        ``appointment_ids`` (an appointment moved in from the past or from beyond the horizon)."""
        e = tables.calendar_events.c
        columns = (e.appointment_id, e.calendar_id, e.event_id, e.starts_at, e.ends_at, e.content_hash)
        found: dict[int, EventRow] = {}
        with self.db.begin() as conn:
            for row in conn.execute(select(*columns).where(e.integration == self.integration, e.ends_at > start)):
                found[row[0]] = EventRow(*row)
            ids = sorted(set(appointment_ids) - set(found))
            for first in range(0, len(ids), IN_LIST_CHUNK):
                chunk = ids[first : first + IN_LIST_CHUNK]
                query = select(*columns).where(e.integration == self.integration, e.appointment_id.in_(chunk))
                for row in conn.execute(query):
                    found[row[0]] = EventRow(*row)
        return found

    def save(
        self, written: Iterable[EventRow], removed: Iterable[int], rejected: Sequence[RejectedRecord], now: datetime
    ) -> int:
        """Record what a batch did in one transaction: events written (upserted), events deleted
        (their rows gone), rejected appointments quarantined. Returns the new rejects."""
        e = tables.calendar_events.c
        written, removed = list(written), sorted(set(removed))
        with self.db.begin() as conn:
            ids = sorted({row.appointment_id for row in written} | set(removed))
            for first in range(0, len(ids), IN_LIST_CHUNK):
                conn.execute(
                    delete(tables.calendar_events).where(
                        e.integration == self.integration, e.appointment_id.in_(ids[first : first + IN_LIST_CHUNK])
                    )
                )
            if written:
                conn.execute(
                    tables.calendar_events.insert(),
                    [
                        {
                            "integration": self.integration,
                            "appointment_id": row.appointment_id,
                            "calendar_id": row.calendar_id,
                            "event_id": row.event_id,
                            "starts_at": row.starts_at,
                            "ends_at": row.ends_at,
                            "content_hash": row.content_hash,
                            "synced_at": now,
                        }  # fmt: skip
                        for row in written
                    ],
                )
            return self._quarantine(conn, rejected, now) if rejected else 0

    def prune(self, before: datetime) -> int:
        """Forget events that ended before ``before`` (long past: never touched again)."""
        e = tables.calendar_events.c
        with self.db.begin() as conn:
            return conn.execute(
                delete(tables.calendar_events).where(and_(e.integration == self.integration, e.ends_at < before))
            ).rowcount
