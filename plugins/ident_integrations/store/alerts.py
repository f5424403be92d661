"""The alerts' memory in the IDENT database (``ident_alert_state``): one row per DAG.

Every decision to send is one conditional UPDATE whose row count says whether this caller won it,
so two tasks failing in the same run, a retried callback or two lag checks at once send one alert.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.tables import alert_state

FAILURE, LAG = "failure", "lag"


@dataclass(frozen=True)
class DagHealth:
    dag_id: str
    first_seen_at: datetime
    last_success_at: datetime | None
    open_alert: str | None


class AlertStore:
    def __init__(self, db: IdentDatabase):
        self.db = db

    def _ensure(self, dag_ids: list[str], now: datetime) -> None:
        """A row for each DAG, first seen now if it had none (in its own short transaction)."""
        with self.db.begin() as conn:
            known = set(conn.execute(select(alert_state.c.dag_id).where(alert_state.c.dag_id.in_(dag_ids))).scalars())
        for dag_id in dag_ids:
            if dag_id in known:
                continue
            try:
                with self.db.begin() as conn:
                    conn.execute(insert(alert_state).values(dag_id=dag_id, first_seen_at=now))
            except IntegrityError:
                pass  # another process inserted it at the same moment: the row is there either way

    def claim_failure(self, dag_id: str, run_id: str, now: datetime) -> bool:
        """True for the first caller for this failed run (it sends the alert); False after that."""
        c = alert_state.c
        self._ensure([dag_id], now)
        with self.db.begin() as conn:
            claimed = conn.execute(
                update(alert_state)
                .where(c.dag_id == dag_id, or_(c.alerted_run_id.is_(None), c.alerted_run_id != run_id))
                .values(alerted_run_id=run_id, last_failure_at=now, open_alert=FAILURE, open_since=now)
            ).rowcount
        return claimed == 1

    def record_success(self, dag_id: str, run_id: str, now: datetime) -> str | None:
        """Note the success; the alert it closes (failure or lag), if one was open and this caller
        closed it (it sends the recovery message)."""
        c = alert_state.c
        self._ensure([dag_id], now)
        with self.db.begin() as conn:
            open_alert = conn.execute(select(c.open_alert).where(c.dag_id == dag_id)).scalar()
            closed = 0
            if open_alert is not None:
                closed = conn.execute(
                    update(alert_state)
                    .where(c.dag_id == dag_id, c.open_alert == open_alert)
                    .values(open_alert=None, open_since=None)
                ).rowcount
            conn.execute(
                update(alert_state).where(c.dag_id == dag_id).values(last_success_at=now, last_success_run_id=run_id)
            )
        return open_alert if closed == 1 else None

    def health(self, dag_ids: list[str], now: datetime) -> dict[str, DagHealth]:
        """Each DAG's row, made now for a DAG seen for the first time (its lag counts from now)."""
        c = alert_state.c
        self._ensure(dag_ids, now)
        with self.db.begin() as conn:
            rows = conn.execute(
                select(c.dag_id, c.first_seen_at, c.last_success_at, c.open_alert).where(c.dag_id.in_(dag_ids))
            ).all()
        return {row.dag_id: DagHealth(*row) for row in rows}

    def claim_lag(self, dag_id: str, now: datetime) -> bool:
        """True for the first caller to open a lag alert on a DAG with no alert open."""
        c = alert_state.c
        with self.db.begin() as conn:
            claimed = conn.execute(
                update(alert_state)
                .where(and_(c.dag_id == dag_id, c.open_alert.is_(None)))
                .values(open_alert=LAG, open_since=now)
            ).rowcount
        return claimed == 1
