"""Leads in the IDENT database: ``ident_leads``, upserted by IDENT's key (integration, Id, DateAndTime).

Two imports of one integration may save at the same time: NaPopravku's lead DAG and its schedule
DAG (which imports the leads first) run in a pool of two slots and read the same unreceived
appointments. A save therefore first locks the integration's ``ident_sync_state`` row (see
:meth:`LeadStore._one_save_at_a_time`): the saves of one integration run one after the other, and
the second finds the first one's rows instead of inserting them again (a duplicate key)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, select, update

from ident_integrations.records import RejectedRecord
from ident_integrations.records.leads import Lead
from ident_integrations.store.base import CapabilityStore, LoadResult, bulk_write
from ident_integrations.store.tables import leads as leads_table
from ident_integrations.store.tables import sync_state

LEAD_COLUMNS = (
    "phone_raw", "phone", "full_name", "surname", "name", "patronymic", "email", "form_name",
    "doctor_id", "doctor_name", "plan_start", "plan_end", "comment", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "http_referer",
)  # fmt: skip
_KEY = ("b_integration", "b_external_id", "b_created_at")
_UPDATE_CHANGED = (
    update(leads_table)
    .where(
        leads_table.c.integration == bindparam(_KEY[0]),
        leads_table.c.external_id == bindparam(_KEY[1]),
        leads_table.c.created_at == bindparam(_KEY[2]),
    )
    .values({column: bindparam(column) for column in (*LEAD_COLUMNS, "raw_payload", "content_hash", "last_loaded_at")})
)


class LeadStore(CapabilityStore):
    capability = "leads"

    def _one_save_at_a_time(self, conn) -> None:
        """Lock the integration's sync state row until this transaction ends, as its first statement.

        A save reads which leads are stored, then inserts the others: two saves of the same leads
        at once would both insert them, and the second would fail on ``uq_ident_leads_key`` (and
        on ``uq_ident_rejects_record`` for a reject). With the row locked first, the second save
        waits for the first to commit and only then reads (so it sees the first one's rows, on
        MariaDB's repeatable read too: its snapshot starts at its first plain read). An UPDATE
        that changes nothing locks on every dialect — a row lock on MariaDB and SQL Server, the
        write lock on SQLite — where SQLAlchemy's ``with_for_update()`` renders nothing on SQLite
        and SQL Server.
        The row exists once ``sync_state`` has been read (every import does that first); before,
        there is nothing to lock and the save runs as it would without."""
        conn.execute(update(sync_state).where(self._state_key()).values(watermark=sync_state.c.watermark))

    def _existing_hashes(self, conn, leads: Sequence[Lead]) -> dict[tuple, str]:
        times = [lead.key[1] for lead in leads]
        t = leads_table.c
        rows = conn.execute(
            select(t.external_id, t.created_at, t.content_hash).where(
                t.integration == self.integration, t.created_at >= min(times), t.created_at <= max(times)
            )
        )
        return {(external_id, created_at): content_hash for external_id, created_at, content_hash in rows}

    def _content(self, lead: Lead, now: datetime) -> dict:
        """The columns a load (re)writes: the lead's fields, its payload and hash, when loaded."""
        row = {column: getattr(lead, column) for column in LEAD_COLUMNS}
        row.update(raw_payload=lead.raw_json, content_hash=lead.content_hash, last_loaded_at=now)
        return row

    def _new_row(self, lead: Lead, now: datetime) -> dict:
        external_id, created_at = lead.key
        row = self._content(lead, now)
        row.update(integration=self.integration, external_id=external_id, created_at=created_at, first_loaded_at=now)
        return row

    def _changed_row(self, lead: Lead, now: datetime) -> dict:
        row = self._content(lead, now)
        row.update(zip(_KEY, (self.integration, *lead.key), strict=True))
        return row

    def save(
        self,
        fetched: int,
        leads: Sequence[Lead],
        rejects: Sequence[RejectedRecord],
        window: tuple[datetime, datetime] | None,
    ) -> LoadResult:
        """Upsert leads by (integration, Id, DateAndTime), quarantine rejects and advance the
        watermark — all in one transaction, so a failure leaves the database as it was. ``window``
        is the run's (None for a repair of the past, which moves only the watermark)."""
        unique: dict[tuple, Lead] = {}
        for lead in leads:
            unique[lead.key] = lead  # the service must not repeat a key; if it does, the last one wins
        now = datetime.now(UTC)
        new, changed = [], []
        with self.db.begin() as conn:
            self._one_save_at_a_time(conn)
            existing = self._existing_hashes(conn, list(unique.values())) if unique else {}
            for key, lead in unique.items():
                known_hash = existing.get(key)
                if known_hash is None:
                    new.append(lead)
                elif known_hash != lead.content_hash:
                    changed.append(lead)
                # else unchanged: the common case of every re-read window, so nothing is built
            # Rows are generated as they are written: each dict lives only until bulk_write has
            # turned it into the driver's parameters (less for the garbage collector to scan).
            bulk_write(conn, leads_table.insert(), (self._new_row(lead, now) for lead in new))
            bulk_write(conn, _UPDATE_CHANGED, (self._changed_row(lead, now) for lead in changed))
            rejected_new = self._quarantine(conn, rejects, now)
            newest = max((key[1] for key in unique), default=None)
            if newest is not None:
                # A lead dated ahead of the window (a service's clock or typo) must not push the
                # next window's start past today: that would stop the import for good.
                newest = min(newest, window[1] if window else now)
            self._advance_state(conn, newest, window)
        return LoadResult(
            fetched=fetched,
            new=len(new),
            updated=len(changed),
            unchanged=len(unique) - len(new) - len(changed),
            duplicates=len(leads) - len(unique),
            rejected=len(rejects),
            rejected_new=rejected_new,
        )

    def stored(self, start: datetime, end: datetime) -> list[tuple[str, datetime, str]]:
        """(key, time, content hash) of the leads created in [start, end): what the cache check compares."""
        t = leads_table.c
        with self.db.begin() as conn:
            rows = conn.execute(
                select(t.external_id, t.created_at, t.content_hash).where(
                    t.integration == self.integration, t.created_at >= start, t.created_at < end
                )
            )
            return [
                (lead_key(external_id, created_at), created_at, content_hash)
                for external_id, created_at, content_hash in rows
            ]

    def delete(self, keys: list[str]) -> None:
        """Remove leads the service no longer has (the cache check's repair of an extra row)."""
        t = leads_table.c
        with self.db.begin() as conn:
            for key in keys:
                external_id, created_at = key.rsplit("|", 1)
                conn.execute(
                    leads_table.delete().where(
                        t.integration == self.integration,
                        t.external_id == external_id,
                        t.created_at == datetime.fromisoformat(created_at),
                    )
                )


def lead_key(external_id: str, created_at: datetime) -> str:
    """A lead's key as one string (the cache check compares keys of every capability alike)."""
    return f"{external_id}|{created_at.astimezone(UTC).isoformat()}"
