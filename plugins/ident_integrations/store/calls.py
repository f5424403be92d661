"""Calls in the IDENT database: ``ident_calls`` (finished, upserted by (integration, external_id))
and ``ident_ongoing_calls`` (in progress, replaced by each run that looks at the present)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, select, update

from ident_integrations.records import RejectedRecord, canonical_json
from ident_integrations.records.calls import Call
from ident_integrations.store.base import IN_LIST_CHUNK, CapabilityStore, LoadResult, bulk_write
from ident_integrations.store.tables import calls as calls_table
from ident_integrations.store.tables import ongoing_calls

CALL_COLUMNS = (
    "direction", "is_lost", "contact_phone_raw", "contact_phone", "virtual_phone", "wait_seconds",
    "talk_seconds", "total_seconds", "finish_reason", "employee_name", "scenario_name", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer",
)  # fmt: skip
_KEY = ("b_integration", "b_external_id")
_UPDATE_CHANGED = (
    update(calls_table)
    .where(calls_table.c.integration == bindparam(_KEY[0]), calls_table.c.external_id == bindparam(_KEY[1]))
    .values(
        {
            column: bindparam(column)
            for column in (
                *CALL_COLUMNS,
                "started_at",
                "finished_at",
                "record_urls",
                "raw_payload",
                "content_hash",
                "last_loaded_at",
            )
        }
    )  # fmt: skip
)


def _content(call: Call) -> dict:
    """The columns a load (re)writes from the call itself."""
    fields = call.__dict__  # the validated values (a third faster than getattr per column)
    row = {column: fields[column] for column in CALL_COLUMNS if column != "contact_phone"}
    row.update(
        contact_phone=call.contact_phone,
        started_at=call.started_utc,
        record_urls=canonical_json(call.record_urls) if call.record_urls else None,
        raw_payload=call.raw_json,
        content_hash=call.content_hash,
    )
    return row


class CallStore(CapabilityStore):
    capability = "calls"

    def _existing_hashes(self, conn, external_ids: list[str]) -> dict[str, str]:
        t = calls_table.c
        found: dict[str, str] = {}
        for start in range(0, len(external_ids), IN_LIST_CHUNK):
            rows = conn.execute(
                select(t.external_id, t.content_hash).where(
                    t.integration == self.integration, t.external_id.in_(external_ids[start : start + IN_LIST_CHUNK])
                )
            )
            found.update((external_id, content_hash) for external_id, content_hash in rows)
        return found

    def save(self, fetched: int, calls: Sequence[Call], rejects: Sequence[RejectedRecord]) -> LoadResult:
        """Upsert finished calls by (integration, external_id) and quarantine rejects, in one
        transaction: one page of a window. A call the service still reports in progress is not
        stored here (see :meth:`replace_ongoing`), so it is never counted as finished."""
        unique: dict[str, Call] = {}
        for call in calls:
            if not call.is_ongoing:
                unique[call.external_id] = call  # a repeated id: the last one wins
        now = datetime.now(UTC)
        new, changed = [], []
        with self.db.begin() as conn:
            existing = self._existing_hashes(conn, list(unique)) if unique else {}
            for external_id, call in unique.items():
                known_hash = existing.get(external_id)
                if known_hash is None:
                    new.append(call)
                elif known_hash != call.content_hash:  # corrected at the source
                    changed.append(call)
            bulk_write(
                conn,
                calls_table.insert(),
                (
                    {
                        **_content(call),
                        "integration": self.integration,
                        "external_id": call.external_id,
                        "finished_at": call.finished_at.astimezone(UTC),
                        "first_loaded_at": now,
                        "last_loaded_at": now,
                    }
                    for call in new
                ),
            )
            bulk_write(
                conn,
                _UPDATE_CHANGED,
                (
                    {
                        **_content(call),
                        "finished_at": call.finished_at.astimezone(UTC),
                        "last_loaded_at": now,
                        _KEY[0]: self.integration,
                        _KEY[1]: call.external_id,
                    }
                    for call in changed
                ),
            )
            rejected_new = self._quarantine(conn, rejects, now)
        finished = sum(1 for call in calls if not call.is_ongoing)
        return LoadResult(
            fetched=fetched,
            new=len(new),
            updated=len(changed),
            unchanged=len(unique) - len(new) - len(changed),
            duplicates=finished - len(unique),
            rejected=len(rejects),
            rejected_new=rejected_new,
        )

    def replace_ongoing(self, calls: Sequence[Call]) -> int:
        """The integration's calls in progress now: the previous list is replaced as a whole."""
        now = datetime.now(UTC)
        current = {call.external_id: call for call in calls if call.is_ongoing}
        with self.db.begin() as conn:
            conn.execute(delete(ongoing_calls).where(ongoing_calls.c.integration == self.integration))
            bulk_write(
                conn,
                ongoing_calls.insert(),
                (
                    {**_content(call), "integration": self.integration, "external_id": external_id, "seen_at": now}
                    for external_id, call in current.items()
                ),
            )
        return len(current)

    def record_progress(self, newest: datetime | None, window: tuple[datetime, datetime] | None) -> None:
        """After a chunk: the watermark (newest call stored) and, for a regular run, the window
        loaded so far, so the next run (or this one's retry) starts from there."""
        with self.db.begin() as conn:
            self._advance_state(conn, newest, window)

    def stored(self, start: datetime, end: datetime) -> list[tuple[str, datetime, str]]:
        """(call id, start, content hash) of the finished calls started in [start, end)."""
        t = calls_table.c
        with self.db.begin() as conn:
            rows = conn.execute(
                select(t.external_id, t.started_at, t.content_hash).where(
                    t.integration == self.integration, t.started_at >= start, t.started_at < end
                )
            )
            return [tuple(row) for row in rows]

    def delete(self, external_ids: list[str]) -> None:
        """Remove calls the service no longer has (the cache check's repair of an extra row)."""
        t = calls_table.c
        with self.db.begin() as conn:
            for start in range(0, len(external_ids), IN_LIST_CHUNK):
                conn.execute(
                    calls_table.delete().where(
                        t.integration == self.integration,
                        t.external_id.in_(external_ids[start : start + IN_LIST_CHUNK]),
                    )
                )
