"""What geocoding reads and writes in the IDENT database: patients' addresses (``ident_patients``),
DaData's answer per patient (``ident_geocodes``) and the paid requests per day
(``ident_service_usage``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update

from ident_integrations.records import RejectedRecord
from ident_integrations.store.base import IN_LIST_CHUNK, CapabilityStore, bulk_write
from ident_integrations.store.tables import geocodes, patients, service_usage


@dataclass(frozen=True)
class Candidate:
    patient_id: int
    address: str
    why: str  # new | changed | recheck (poor) | recheck (good)


class GeocodingStore(CapabilityStore):
    capability = "geocoding"

    def blank_addresses(self) -> int:
        """Patients with no address to geocode (null, empty or only spaces)."""
        p = patients.c
        with self.db.begin() as conn:
            return conn.scalar(
                select(func.count()).select_from(patients).where(or_(p.address.is_(None), func.trim(p.address) == ""))
            )

    def candidates(
        self,
        *,
        max_qc: int,
        max_qc_geo: int,
        poor_before: datetime,
        good_before: datetime | None,
    ) -> list[Candidate]:
        """Patients to geocode, new and changed addresses first, then the rechecks oldest first: no
        row yet; an address that differs from the one checked; a poor result (``qc > max_qc`` or
        ``qc_geo > max_qc_geo``, or none) checked before ``poor_before``; a good one checked before
        ``good_before`` (None: good results are never rechecked)."""
        p, g = patients.c, geocodes.c
        poor = or_(g.qc.is_(None), g.qc_geo.is_(None), g.qc > max_qc, g.qc_geo > max_qc_geo)
        changed = g.source_address != p.address
        due = [and_(poor, g.checked_at < poor_before)]
        if good_before is not None:
            due.append(and_(~poor, g.checked_at < good_before))
        why = case(
            (g.patient_id.is_(None), "new"),
            (changed, "changed"),
            (poor, "recheck (poor)"),
            else_="recheck (good)",
        )
        order = case((g.patient_id.is_(None), 0), (changed, 1), else_=2)
        query = (
            select(p.id, p.address, why)
            .select_from(patients.outerjoin(geocodes, g.patient_id == p.id))
            .where(p.address.is_not(None), func.trim(p.address) != "")
            .where(or_(g.patient_id.is_(None), changed, *due))
            .order_by(order, g.checked_at, p.id)
        )
        with self.db.begin() as conn:
            return [Candidate(int(pid), address, reason) for pid, address, reason in conn.execute(query)]

    def used_today(self, day: date) -> int:
        u = service_usage.c
        with self.db.begin() as conn:
            used = conn.scalar(select(u.requests).where(u.integration == self.integration, u.day == day))
        return int(used or 0)

    def save_batch(
        self,
        rows: Sequence[dict[str, Any]],
        rejected: Sequence[RejectedRecord],
        requests: int,
        day: date,
        now: datetime,
    ) -> int:
        """One batch in one transaction: the geocodes (replacing each patient's row), the rejected
        answers with their reasons, and the paid requests counted for ``day``. Returns how many
        rejects were new to the quarantine."""
        with self.db.begin() as conn:
            ids = [row["patient_id"] for row in rows]
            for start in range(0, len(ids), IN_LIST_CHUNK):
                conn.execute(geocodes.delete().where(geocodes.c.patient_id.in_(ids[start : start + IN_LIST_CHUNK])))
            bulk_write(conn, geocodes.insert(), ({"integration": self.integration, **row} for row in rows))
            new_rejects = self._quarantine(conn, rejected, now) if rejected else 0
            if requests:
                self._count_usage(conn, day, requests)
        return new_rejects

    def _count_usage(self, conn, day: date, requests: int) -> None:
        u = service_usage.c
        key = (u.integration == self.integration) & (u.day == day)
        done = conn.execute(update(service_usage).where(key).values(requests=u.requests + requests))
        if done.rowcount == 0:
            conn.execute(service_usage.insert().values(integration=self.integration, day=day, requests=requests))

    def count_usage(self, day: date, requests: int) -> None:
        """Requests paid outside a batch (the clinic's own address)."""
        if requests:
            with self.db.begin() as conn:
                self._count_usage(conn, day, requests)
