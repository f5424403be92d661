"""The clinic's schedule in the IDENT database, which the free-slot export reads: branches,
doctors and where they work, shifts, appointments, patients, and the schedule-export rules.

The export reads one :class:`~ident_integrations.records.schedule.ScheduleSnapshot` per run
(:meth:`ScheduleStore.snapshot`). The rules are IDENT's "Правила выгрузки расписания": the slot
("талон") length and a per-doctor export switch, with IDENT's rule for new staff — once any doctor
has been excluded, a doctor added later starts excluded until switched on. That rule is decided in
one place, :func:`resolve_export`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Self

from sqlalchemy import Connection, delete, func, select, update

from ident_integrations.records.patients import Patient
from ident_integrations.records.schedule import Appointment, Branch, Doctor, ScheduleSnapshot, WorkInterval
from ident_integrations.store import tables
from ident_integrations.store.base import bulk_write
from ident_integrations.store.database import IdentDatabase

DEFAULT_SLOT_MINUTES = 15  # IDENT's default "длина талона"
RULES_ID = 1  # the rules are one row
MAX_SLOT_MINUTES = 24 * 60
# Children first: what ``clear`` deletes, in an order that would suit foreign keys too.
SCHEDULE_TABLES = (
    tables.doctor_export, tables.schedule_rules, tables.appointments, tables.work_intervals,
    tables.doctor_branches, tables.patients, tables.doctors, tables.branches,
)  # fmt: skip


def resolve_export(switch: bool | None, added_at: datetime, excluded_since: datetime | None) -> bool:
    """Whether a doctor's schedule is exported: the switch where one was set; otherwise exported,
    unless a doctor had been excluded before this one was added (IDENT's rule for new staff)."""
    if switch is not None:
        return switch
    return excluded_since is None or added_at <= excluded_since


class ScheduleStore:
    """The schedule tables of one IDENT database (clinic-wide: not one integration's)."""

    def __init__(self, db: IdentDatabase):
        self.db = db

    @classmethod
    def open(cls, conn_id: str = "ident_db") -> Self:
        """The store on connection ``conn_id``, with the schema brought up to date first."""
        db = IdentDatabase(conn_id)
        db.ensure_schema()
        return cls(db)

    # ---- reads -------------------------------------------------------------------------------

    def snapshot(self, start: datetime, end: datetime) -> ScheduleSnapshot:
        """Everything the export needs for [start, end), read in one transaction: every branch, the
        active doctors (``exported`` resolved by the rules), where they work, and their shifts and
        appointments (any status) that overlap [start, end)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("snapshot bounds must be timezone-aware")
        w, a = tables.work_intervals.c, tables.appointments.c
        link = tables.doctor_branches.c
        with self.db.begin() as conn:
            read_at = datetime.now(UTC)
            slot_minutes, excluded_since = self._rules(conn)
            switches = self._switches(conn)
            branch_rows = conn.execute(select(tables.branches).order_by(tables.branches.c.id)).mappings().all()
            doctor_rows = (
                conn.execute(select(tables.doctors).where(tables.doctors.c.active).order_by(tables.doctors.c.id))
                .mappings()
                .all()
            )
            links = conn.execute(select(link.doctor_id, link.branch_id).order_by(link.doctor_id, link.branch_id)).all()
            shifts = conn.execute(
                select(w.doctor_id, w.branch_id, w.starts_at, w.ends_at)
                .where(w.starts_at < end, w.ends_at > start)
                .order_by(w.doctor_id, w.branch_id, w.starts_at)
            ).all()
            booked = conn.execute(
                select(a.id, a.doctor_id, a.branch_id, a.starts_at, a.ends_at, a.status, a.patient_id)
                .where(a.starts_at < end, a.ends_at > start)
                .order_by(a.doctor_id, a.branch_id, a.starts_at, a.id)
            ).all()
        active = {row["id"] for row in doctor_rows}
        return ScheduleSnapshot(
            branches=tuple(
                Branch(row["id"], row["name"], row["timezone"], row["address"] or "", row["phone"] or "")
                for row in branch_rows
            ),
            doctors=tuple(
                Doctor(
                    row["id"],
                    row["name"],
                    row["specialty"] or "",
                    True,
                    resolve_export(switches.get(row["id"]), row["created_at"], excluded_since),
                )
                for row in doctor_rows
            ),
            doctor_branches=tuple((d, b) for d, b in links if d in active),
            work_intervals=tuple(WorkInterval(*row) for row in shifts if row[0] in active),
            appointments=tuple(Appointment(*row) for row in booked if row[1] in active),
            slot_minutes=slot_minutes,
            read_at=read_at,
        )

    def _switches(self, conn: Connection) -> dict[int, bool]:
        switch = tables.doctor_export.c
        return {
            doctor_id: bool(exported) for doctor_id, exported in conn.execute(select(switch.doctor_id, switch.exported))
        }

    def _rules(self, conn: Connection) -> tuple[int, datetime | None]:
        rules = tables.schedule_rules.c
        row = conn.execute(
            select(rules.slot_minutes, rules.new_doctors_excluded_since).where(rules.id == RULES_ID)
        ).first()
        return (DEFAULT_SLOT_MINUTES, None) if row is None else (row[0], row[1])

    def slot_minutes(self) -> int:
        with self.db.begin() as conn:
            return self._rules(conn)[0]

    def doctor_exports(self) -> dict[int, bool]:
        """Every doctor's export switch as the rules resolve it (active or not)."""
        with self.db.begin() as conn:
            _, excluded_since = self._rules(conn)
            switches = self._switches(conn)
            rows = conn.execute(select(tables.doctors.c.id, tables.doctors.c.created_at)).all()
        return {doctor_id: resolve_export(switches.get(doctor_id), added, excluded_since) for doctor_id, added in rows}

    def counts(self) -> dict[str, int]:
        """Rows per schedule table (what ``ident demo-data`` reports)."""
        with self.db.begin() as conn:
            return {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in reversed(SCHEDULE_TABLES)
            }

    # ---- the rules -----------------------------------------------------------------------------

    def _write_rules(self, conn: Connection, now: datetime, **values: Any) -> None:
        updated = conn.execute(
            update(tables.schedule_rules).where(tables.schedule_rules.c.id == RULES_ID).values(updated_at=now, **values)
        )
        if updated.rowcount == 0:
            row = {"id": RULES_ID, "slot_minutes": DEFAULT_SLOT_MINUTES, "new_doctors_excluded_since": None}
            conn.execute(tables.schedule_rules.insert().values({**row, "updated_at": now, **values}))

    def set_slot_minutes(self, minutes: int) -> None:
        """The slot ("талон") length the export cuts free time into."""
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_SLOT_MINUTES:
            raise ValueError(
                f"the slot length must be a whole number of minutes from 1 to {MAX_SLOT_MINUTES}: {minutes!r}"
            )
        with self.db.begin() as conn:
            self._write_rules(conn, datetime.now(UTC), slot_minutes=minutes)

    def set_doctor_export(self, doctor_id: int, exported: bool) -> None:
        """Switch a doctor's export on or off. The first exclusion ever also starts IDENT's rule for
        new staff: doctors added after this moment start excluded."""
        now = datetime.now(UTC)
        with self.db.begin() as conn:
            if conn.execute(select(tables.doctors.c.id).where(tables.doctors.c.id == doctor_id)).first() is None:
                raise KeyError(f"no doctor {doctor_id} in the IDENT database")
            changed = conn.execute(
                update(tables.doctor_export)
                .where(tables.doctor_export.c.doctor_id == doctor_id)
                .values(exported=exported, set_at=now)
            )
            if changed.rowcount == 0:
                conn.execute(tables.doctor_export.insert().values(doctor_id=doctor_id, exported=exported, set_at=now))
            if not exported and self._rules(conn)[1] is None:
                self._write_rules(conn, now, new_doctors_excluded_since=now)

    # ---- writes (the demo data; a real clinic's IDENT writes its own) -----------------------------

    def add(
        self,
        *,
        branches: Iterable[Branch] = (),
        doctors: Iterable[Doctor] = (),
        doctor_branches: Iterable[tuple[int, int]] = (),
        work_intervals: Iterable[WorkInterval] = (),
        patients: Iterable[Patient] = (),
        appointments: Iterable[Appointment] = (),
        added_at: datetime | None = None,
    ) -> None:
        """Insert rows in one transaction. Doctors are recorded as added at ``added_at`` (default
        now); their ``exported`` field is not written — only :meth:`set_doctor_export` sets a switch."""
        with self.db.begin() as conn:
            self._insert(conn, branches, doctors, doctor_branches, work_intervals, patients, appointments, added_at)

    def replace(self, **rows: Any) -> None:
        """Delete every row of the schedule tables (the rules and switches too) and insert these,
        in one transaction (what ``ident demo-data`` does). Takes :meth:`add`'s arguments."""
        with self.db.begin() as conn:
            for table in SCHEDULE_TABLES:
                conn.execute(delete(table))
            self._insert(conn, **rows)

    def clear(self) -> None:
        self.replace()

    def _insert(
        self,
        conn: Connection,
        branches: Iterable[Branch] = (),
        doctors: Iterable[Doctor] = (),
        doctor_branches: Iterable[tuple[int, int]] = (),
        work_intervals: Iterable[WorkInterval] = (),
        patients: Iterable[Patient] = (),
        appointments: Iterable[Appointment] = (),
        added_at: datetime | None = None,
    ) -> None:
        added_at = added_at or datetime.now(UTC)
        bulk_write(
            conn,
            tables.branches.insert(),
            (
                {"id": b.id, "name": b.name, "address": b.address, "phone": b.phone, "timezone": b.timezone}
                for b in branches
            ),
        )
        bulk_write(
            conn,
            tables.doctors.insert(),
            (
                {"id": d.id, "name": d.name, "specialty": d.specialty, "active": d.active, "created_at": added_at}
                for d in doctors
            ),
        )
        bulk_write(
            conn, tables.doctor_branches.insert(), ({"doctor_id": d, "branch_id": b} for d, b in doctor_branches)
        )
        bulk_write(
            conn,
            tables.work_intervals.insert(),
            (
                {"doctor_id": w.doctor_id, "branch_id": w.branch_id, "starts_at": w.starts_at, "ends_at": w.ends_at}
                for w in work_intervals
            ),
        )
        bulk_write(conn, tables.patients.insert(), (dict(p.__dict__) for p in patients))
        bulk_write(
            conn,
            tables.appointments.insert(),
            (
                {
                    "id": a.id,
                    "doctor_id": a.doctor_id,
                    "branch_id": a.branch_id,
                    "patient_id": a.patient_id,
                    "starts_at": a.starts_at,
                    "ends_at": a.ends_at,
                    "status": a.status,
                }
                for a in appointments
            ),
        )
