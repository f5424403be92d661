"""The IDENT database: the one place that reads and writes it.

Reached through the Airflow connection ``ident_db`` (MySQL/MariaDB, MSSQL or SQLite) with the
common-sql hooks. DML is portable SQL built here; the schema, which differs, lives in
``include/sql/<dialect>/schema.sql``. Every date-time column holds UTC.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from airflow.providers.common.sql.hooks.sql import DbApiHook
from airflow.sdk import BaseHook

from ident_hooks.exchange import Exchange
from ident_integrations.config import PROJECT_ROOT
from ident_integrations.leads import Lead, RejectedRecord, canonical_json, payload_hash

log = logging.getLogger(__name__)

SQL_DIR = PROJECT_ROOT / "include" / "sql"
DIALECTS = {"mysql": "mysql", "mssql": "mssql", "sqlite": "sqlite"}
LEAD_COLUMNS = (
    "phone_raw", "phone", "full_name", "surname", "name", "patronymic", "email", "form_name",
    "doctor_id", "doctor_name", "plan_start", "plan_end", "comment", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "http_referer",
)  # fmt: skip
IN_LIST_CHUNK = 500


def utc_naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def schema_statements(dialect: str) -> list[str]:
    """The dialect's schema file split into statements (``;`` at a line end ends one)."""
    text = (SQL_DIR / dialect / "schema.sql").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    statements = (stmt.strip().rstrip(";").rstrip() for stmt in "\n".join(lines).split(";\n"))
    return [stmt for stmt in statements if stmt]


@dataclass(frozen=True)
class SyncState:
    enabled_on: date
    watermark: datetime | None  # newest stored record's time, aware UTC


@dataclass(frozen=True)
class LoadResult:
    fetched: int
    new: int
    updated: int
    unchanged: int
    duplicates: int
    rejected: int
    rejected_new: int

    def summary(self) -> str:
        return (
            f"fetched {self.fetched} / new {self.new} / updated {self.updated} / rejected {self.rejected}"
            f" (unchanged {self.unchanged}, duplicate keys in the answer {self.duplicates},"
            f" rejects not seen before {self.rejected_new})"
        )


class IdentStore:
    """Reads and writes the IDENT database through one Airflow connection."""

    def __init__(self, conn_id: str = "ident_db", hook: DbApiHook | None = None):
        self.conn_id = conn_id
        self.hook: DbApiHook = hook or BaseHook.get_hook(conn_id)
        conn_type = self.hook.get_connection(conn_id).conn_type
        if conn_type not in DIALECTS:
            raise ValueError(
                f"Connection {conn_id!r} has type {conn_type!r}; the IDENT database must be one of {sorted(DIALECTS)}"
            )
        self.dialect = DIALECTS[conn_type]
        self.p = "?" if self.dialect == "sqlite" else "%s"

    # --- dialect details -------------------------------------------------------------------

    def to_db(self, value: Any) -> Any:
        """Python value to what this dialect's driver stores; date-times become naive UTC."""
        if isinstance(value, datetime):
            value = utc_naive(value) if value.tzinfo else value
            return value.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite" else value
        if isinstance(value, date) and self.dialect == "sqlite":
            return value.isoformat()
        return value

    @staticmethod
    def datetime_from_db(value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)

    @staticmethod
    def date_from_db(value: Any) -> date:
        return date.fromisoformat(value) if isinstance(value, str) else value

    @contextmanager
    def transaction(self) -> Iterator[Any]:
        """One DB-API transaction: commit on success, roll back on any error."""
        with closing(self.hook.get_conn()) as conn:
            if self.dialect == "mysql":
                conn.autocommit(False)
            cursor = conn.cursor()
            try:
                yield cursor
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            finally:
                cursor.close()

    # --- schema ----------------------------------------------------------------------------

    def ensure_schema(self) -> None:
        with self.transaction() as cur:
            for statement in schema_statements(self.dialect):
                cur.execute(statement)

    # --- sync state ------------------------------------------------------------------------

    def _read_state(self, cur: Any, integration: str, capability: str) -> SyncState | None:
        cur.execute(
            "SELECT enabled_on, watermark FROM ident_sync_state"
            f" WHERE integration = {self.p} AND capability = {self.p}",
            (integration, capability),
        )
        row = cur.fetchone()
        return SyncState(self.date_from_db(row[0]), self.datetime_from_db(row[1])) if row else None

    def _read_or_create_state(self, cur: Any, integration: str, capability: str, enabled_on: date) -> SyncState:
        state = self._read_state(cur, integration, capability)
        if state is None:
            cur.execute(
                "INSERT INTO ident_sync_state (integration, capability, enabled_on)"
                f" VALUES ({self.p}, {self.p}, {self.p})",
                (integration, capability, self.to_db(enabled_on)),
            )
            state = SyncState(enabled_on, None)
        return state

    def sync_state(self, integration: str, capability: str, *, enabled_today: date) -> SyncState:
        """The integration's state, created on first contact: that day is when it was enabled."""
        with self.transaction() as cur:
            return self._read_or_create_state(cur, integration, capability, enabled_today)

    def _advance_state(
        self, cur: Any, integration: str, capability: str, newest: datetime | None, window: tuple[datetime, datetime]
    ) -> None:
        # Callers normally create the state first (sync_state); created here too so no watermark is lost.
        watermark = self._read_or_create_state(cur, integration, capability, window[0].date()).watermark
        if newest is not None and (watermark is None or newest > watermark):
            watermark = newest
        p = self.p
        cur.execute(
            f"UPDATE ident_sync_state SET watermark = {p}, last_window_start = {p}, last_window_end = {p},"
            f" last_success_at = {p} WHERE integration = {p} AND capability = {p}",
            (
                self.to_db(watermark),
                self.to_db(window[0]),
                self.to_db(window[1]),
                self.to_db(datetime.now(UTC)),
                integration,
                capability,
            ),
        )

    # --- leads -----------------------------------------------------------------------------

    def _existing_lead_hashes(self, cur: Any, integration: str, leads: Sequence[Lead]) -> dict[tuple, str]:
        times = [lead.key[1] for lead in leads]
        p = self.p
        cur.execute(
            f"SELECT external_id, created_at, content_hash FROM ident_leads"
            f" WHERE integration = {p} AND created_at >= {p} AND created_at <= {p}",
            (integration, self.to_db(min(times)), self.to_db(max(times))),
        )
        return {(row[0], self.datetime_from_db(row[1])): row[2] for row in cur.fetchall()}

    def _lead_values(self, lead: Lead) -> list[Any]:
        return [self.to_db(getattr(lead, column)) for column in LEAD_COLUMNS]

    def save_leads(
        self,
        integration: str,
        fetched: int,
        leads: Sequence[Lead],
        rejects: Sequence[RejectedRecord],
        window: tuple[datetime, datetime],
    ) -> LoadResult:
        """Upsert leads by (integration, Id, DateAndTime), quarantine rejects and advance the
        watermark — all in one transaction, so a failure leaves the database as it was."""
        unique: dict[tuple, Lead] = {}
        for lead in leads:
            unique[lead.key] = lead  # the service must not repeat a key; if it does, the last one wins
        now = self.to_db(datetime.now(UTC))
        p = self.p
        new_rows, changed_rows = [], []
        with self.transaction() as cur:
            existing = self._existing_lead_hashes(cur, integration, list(unique.values())) if unique else {}
            for key, lead in unique.items():
                content = [*self._lead_values(lead), canonical_json(lead.raw), lead.content_hash]
                if key not in existing:
                    new_rows.append([integration, lead.external_id, self.to_db(key[1]), *content, now, now])
                elif existing[key] != lead.content_hash:
                    changed_rows.append([*content, now, integration, lead.external_id, self.to_db(key[1])])
            columns = (*LEAD_COLUMNS, "raw_payload", "content_hash")
            if new_rows:
                names = ", ".join(
                    ("integration", "external_id", "created_at", *columns, "first_loaded_at", "last_loaded_at")
                )
                cur.executemany(
                    f"INSERT INTO ident_leads ({names}) VALUES ({', '.join([p] * (len(columns) + 5))})", new_rows
                )
            if changed_rows:
                assignments = ", ".join(f"{column} = {p}" for column in (*columns, "last_loaded_at"))
                cur.executemany(
                    f"UPDATE ident_leads SET {assignments}"
                    f" WHERE integration = {p} AND external_id = {p} AND created_at = {p}",
                    changed_rows,
                )
            rejected_new = self._quarantine(cur, integration, "leads", rejects, now)
            newest = max((key[1] for key in unique), default=None)
            if newest is not None:
                # A lead dated ahead of the window (a service's clock or typo) must not push the
                # next window's start past today: that would stop the import for good.
                newest = min(newest, window[1])
            self._advance_state(cur, integration, "leads", newest, window)
        return LoadResult(
            fetched=fetched,
            new=len(new_rows),
            updated=len(changed_rows),
            unchanged=len(unique) - len(new_rows) - len(changed_rows),
            duplicates=len(leads) - len(unique),
            rejected=len(rejects),
            rejected_new=rejected_new,
        )

    # --- rejects and the exchange log --------------------------------------------------------

    def _quarantine(
        self, cur: Any, integration: str, capability: str, rejects: Sequence[RejectedRecord], now: Any
    ) -> int:
        """Store each rejected record once (by payload hash) with its reason; returns how many were new."""
        by_hash = {payload_hash(reject.raw): reject for reject in rejects}
        hashes = list(by_hash)
        known: set[str] = set()
        p = self.p
        for start in range(0, len(hashes), IN_LIST_CHUNK):
            chunk = hashes[start : start + IN_LIST_CHUNK]
            cur.execute(
                f"SELECT record_hash FROM ident_rejects WHERE integration = {p} AND capability = {p}"
                f" AND record_hash IN ({', '.join([p] * len(chunk))})",
                (integration, capability, *chunk),
            )
            known.update(row[0] for row in cur.fetchall())
        rows = [
            (integration, capability, h, r.external_id, canonical_json(r.raw), r.reason, now)
            for h, r in by_hash.items()
            if h not in known
        ]
        if rows:
            cur.executemany(
                "INSERT INTO ident_rejects (integration, capability, record_hash, external_id, raw_payload, reason,"
                f" seen_at) VALUES ({', '.join([p] * 7)})",
                rows,
            )
        return len(rows)

    def log_exchanges(self, integration: str, capability: str, exchanges: Sequence[Exchange]) -> None:
        """Write the exchange log in its own transaction, so it survives a failed load."""
        if not exchanges:
            return
        rows = [
            (integration, capability, e.method, e.url, e.status, e.duration_ms, e.error, self.to_db(e.at))
            for e in exchanges
        ]
        with self.transaction() as cur:
            cur.executemany(
                "INSERT INTO ident_exchange_log (integration, capability, method, url, http_status, duration_ms,"
                f" error_text, logged_at) VALUES ({', '.join([self.p] * 8)})",
                rows,
            )
