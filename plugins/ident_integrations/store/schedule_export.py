"""What one integration's schedule export keeps in the IDENT database: the last successful push of
each part (``ident_schedule_pushes``), and the times leads have asked for, which it holds as busy."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from ident_integrations.store.base import CapabilityStore
from ident_integrations.store.tables import leads, schedule_pushes


@dataclass(frozen=True)
class LastPush:
    payload_hash: str
    pushed_at: datetime
    items: int
    listed: tuple[str, ...] = ()  # what the push listed (a service's own keys), when it says


class ScheduleExportStore(CapabilityStore):
    capability = "schedule"

    def last_push(self, part: str) -> LastPush | None:
        p = schedule_pushes.c
        with self.db.begin() as conn:
            row = conn.execute(
                select(p.payload_hash, p.pushed_at, p["items"], p.listed).where(
                    p.integration == self.integration, p.part == part
                )
            ).first()
        if row is None:
            return None
        return LastPush(row.payload_hash, row.pushed_at, row[2], tuple(json.loads(row.listed)) if row.listed else ())

    def record_push(
        self, part: str, payload_hash: str, items: int, at: datetime, listed: list[str] | None = None
    ) -> None:
        p = schedule_pushes.c
        values = {"payload_hash": payload_hash, "pushed_at": at, "items": items,
                  "listed": json.dumps(listed) if listed is not None else None}  # fmt: skip
        with self.db.begin() as conn:
            done = conn.execute(
                update(schedule_pushes).where(p.integration == self.integration, p.part == part).values(values)
            )
            if done.rowcount == 0:
                conn.execute(schedule_pushes.insert().values(integration=self.integration, part=part, **values))

    def requested_times(self, start: datetime, end: datetime) -> list[tuple[int, datetime, datetime]]:
        """(doctor id, start, end) of the leads of any integration that ask for a doctor at a time
        overlapping [start, end) — e.g. a NaPopravku booking not yet entered as an appointment. However
        long ago it was loaded: a booked time is never offered again (the engine drops it once past)."""
        t = leads.c
        with self.db.begin() as conn:
            rows = conn.execute(
                select(t.doctor_id, t.plan_start, t.plan_end)
                .where(
                    t.doctor_id.is_not(None),
                    t.plan_start < end,
                    t.plan_end > start,
                )
                .order_by(t.doctor_id, t.plan_start)
            ).all()
        return [(doctor_id, plan_start, plan_end) for doctor_id, plan_start, plan_end in rows]

    def forget_push(self, part: str) -> None:
        """Make the next run push ``part`` whatever it holds (after a rejected push)."""
        p = schedule_pushes.c
        with self.db.begin() as conn:
            conn.execute(schedule_pushes.delete().where(p.integration == self.integration, p.part == part))
