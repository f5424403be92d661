"""What every capability's store shares: its integration's sync state and watermark, the
quarantine of rejected records, the exchange log, and the load summary.

A capability's store module subclasses :class:`CapabilityStore` and owns its own tables' reads
and writes; nothing here knows a capability's table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlalchemy import Connection, Insert, Update, select, update
from sqlalchemy.exc import IntegrityError

from ident_hooks.exchange import Exchange
from ident_integrations.records import RejectedRecord, canonical_json, payload_hash
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.tables import exchange_log, rejects, sync_state

if TYPE_CHECKING:
    from ident_integrations.config import ResolvedCapability

IN_LIST_CHUNK = 500  # values per IN (...) list: well under every dialect's parameter limit


@dataclass(frozen=True)
class SyncState:
    enabled_on: date
    watermark: datetime | None  # newest stored record's time, aware UTC
    last_window_end: datetime | None = None  # where the last successful regular run's window ended


@dataclass(frozen=True)
class LoadResult:
    fetched: int
    new: int
    updated: int
    unchanged: int
    duplicates: int
    rejected: int
    rejected_new: int
    excluded: int = 0  # records this IDENT database does not take (UIS branch exclusions): not rejects

    def __add__(self, other: LoadResult) -> LoadResult:
        """Totals over several loads (the pages and chunks of one run)."""
        return LoadResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @classmethod
    def empty(cls) -> LoadResult:
        return cls(0, 0, 0, 0, 0, 0, 0)

    def summary(self) -> str:
        return (
            f"fetched {self.fetched} / new {self.new} / updated {self.updated} / rejected {self.rejected}"
            f" (unchanged {self.unchanged}, duplicate keys in the answer {self.duplicates},"
            f" rejects not seen before {self.rejected_new})"
            + (f"; excluded by the integration's rules {self.excluded}" if self.excluded else "")
        )


def bulk_write(conn: Connection, statement: Insert | Update, rows: Iterable[dict[str, Any]]) -> None:
    """Execute ``statement`` for every row (all rows with the same keys) in one driver executemany.

    The SQL is the dialect's own compilation and each value goes through its column type's own bind
    processor, as ``conn.execute(statement, rows)`` would do; only SQLAlchemy's per-row parameter
    bookkeeping is skipped, which is about a third of a bulk load's time (bench/README.md). ``rows``
    may be a generator: each row is needed only until its parameters are built.
    """
    rows = iter(rows)
    first = next(rows, None)
    if first is None:
        return
    rows = itertools.chain([first], rows)
    columns = list(first) if isinstance(statement, Insert) else None  # an UPDATE names its own
    compiled = statement.compile(dialect=conn.dialect, column_keys=columns, for_executemany=True)
    # The type processors SQLAlchemy itself applies (a private but long-stable compiler attribute;
    # the integration tests on MariaDB and SQLite and the SQL Server recording would catch a change).
    processors = compiled._bind_processors
    names = compiled.positiontup if compiled.positional else list(compiled.binds)
    fields = [(compiled.binds[name].key, processors.get(name)) for name in names]
    values = ([row[key] if process is None else process(row[key]) for key, process in fields] for row in rows)
    if isinstance(statement, Insert) and conn.dialect.driver == "mysqldb":
        _mysqldb_insert(conn, str(compiled), values)
        return
    if compiled.positional:
        params: list[Any] = [tuple(row) for row in values]
    else:  # e.g. pymssql's pyformat: one dict per row
        params = [dict(zip(names, row, strict=True)) for row in values]
    conn.exec_driver_sql(str(compiled), params)


MYSQL_STATEMENT_BYTES = 1 << 20  # well under max_allowed_packet (16 MB by default, 4 MB at the least)


def _mysqldb_insert(conn: Connection, sql: str, rows: Iterable[list[Any]]) -> None:
    """A multi-row INSERT for mysqlclient, as its own ``executemany`` builds one, with the values
    quoted by the driver's C escaping directly: its generic per-value ``literal`` was half of a
    MariaDB load's time on our side (bench/README.md). Text goes through ``string_literal`` (the
    connection's charset and escaping rules); whatever else is not NULL, a number or a boolean
    goes through the driver's own ``literal``."""
    prefix, _, values = sql.partition(" VALUES ")
    if not values.startswith("(") or not values.endswith(")"):
        raise ValueError(f"not a single-row INSERT ... VALUES (...): {sql[:200]}")
    dbapi = conn.connection.dbapi_connection  # the transaction's own connection
    cursor = dbapi.cursor()
    quote, literal, encoding = dbapi.string_literal, dbapi.literal, dbapi.encoding
    head = prefix.encode(encoding) + b" VALUES "
    statement = bytearray(head)
    try:
        for row in rows:
            parts = []
            for value in row:
                kind = type(value)
                if kind is str:
                    parts.append(quote(value.encode(encoding)))
                elif value is None:
                    parts.append(b"NULL")
                elif kind is int:
                    parts.append(b"%d" % value)
                elif kind is bool:
                    parts.append(b"1" if value else b"0")
                else:
                    parts.append(literal(value))
            tuple_text = b"(" + b",".join(parts) + b")"
            if len(statement) > len(head) and len(statement) + len(tuple_text) >= MYSQL_STATEMENT_BYTES:
                cursor.execute(bytes(statement))
                statement = bytearray(head)
            elif len(statement) > len(head):
                statement += b","
            statement += tuple_text
        if len(statement) > len(head):
            cursor.execute(bytes(statement))
    finally:
        cursor.close()


class OverlappedSaves:
    """A store's saves in background threads, ``in_flight`` at a time at most: the database's work
    on a page (parsing and writing its rows, the driver waiting without the GIL) overlaps fetching
    and validating the next page, and on a server one save's writing overlaps another's quoting
    (bench/README.md). The bound keeps memory flat; :meth:`wait` returns the totals so far and
    raises whatever a save raised. Saves must not depend on each other's order (they upsert by
    key); what must follow them (the watermark) follows :meth:`wait`."""

    def __init__(self, in_flight: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="ident-save")
        self._in_flight = in_flight
        self._pending: list[Future] = []
        self.total = LoadResult.empty()

    def submit(self, save: Callable[..., LoadResult], *args: Any) -> None:
        while len(self._pending) >= self._in_flight:
            self.total += self._pending.pop(0).result()
        self._pending.append(self._pool.submit(save, *args))

    def wait(self) -> LoadResult:
        while self._pending:
            self.total += self._pending.pop(0).result()
        return self.total

    def __enter__(self) -> OverlappedSaves:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.wait()
        finally:
            self._pool.shutdown(wait=True)  # a save still running after a failure ends before we go on


class CapabilityStore:
    """One integration's data for one capability in the IDENT database."""

    capability: ClassVar[str]

    def __init__(self, db: IdentDatabase, integration: str):
        self.db = db
        self.integration = integration

    @classmethod
    def open(cls, settings: ResolvedCapability) -> Self:
        """The store for one run of ``settings``, with the schema brought up to date first."""
        db = IdentDatabase(settings.ident_conn_id)
        db.ensure_schema()
        return cls(db, settings.integration)

    def _state_key(self):
        return (sync_state.c.integration == self.integration) & (sync_state.c.capability == self.capability)

    def _read_or_create_state(self, conn: Connection, enabled_on: date) -> SyncState:
        state = sync_state.c
        row = conn.execute(
            select(state.enabled_on, state.watermark, state.last_window_end).where(self._state_key())
        ).first()
        if row is not None:
            return SyncState(*row)
        conn.execute(
            sync_state.insert().values(integration=self.integration, capability=self.capability, enabled_on=enabled_on)
        )
        return SyncState(enabled_on, None)

    def sync_state(self, *, enabled_today: date) -> SyncState:
        """The integration's state, created on first contact: that day is when it was enabled."""
        try:
            with self.db.begin() as conn:
                return self._read_or_create_state(conn, enabled_today)
        except IntegrityError:
            # Another run of the integration created it between our read and insert (two DAGs of a
            # new integration starting together): read theirs, in a new transaction that sees it.
            with self.db.begin() as conn:
                return self._read_or_create_state(conn, enabled_today)

    def _advance_state(
        self, conn: Connection, newest: datetime | None, window: tuple[datetime, datetime] | None
    ) -> None:
        """Record a successful window (None: a reload of the past, which moves no window); the
        watermark only moves forward."""
        # Callers normally create the state first (sync_state); created here too so no watermark is lost.
        today = datetime.now(UTC).date()
        watermark = self._read_or_create_state(conn, window[0].date() if window else today).watermark
        if newest is not None and (watermark is None or newest > watermark):
            watermark = newest
        values: dict[str, Any] = {"watermark": watermark, "last_success_at": datetime.now(UTC)}
        if window is not None:
            values.update(last_window_start=window[0], last_window_end=window[1])
        conn.execute(update(sync_state).where(self._state_key()).values(values))

    def _quarantine(self, conn: Connection, records: Sequence[RejectedRecord], now: datetime) -> int:
        """Store each rejected record once (by payload hash) with its reason; returns how many were new."""
        by_hash = {payload_hash(record.raw): record for record in records}
        known = self._known_rejects(conn, list(by_hash))
        rows = [
            {
                "integration": self.integration,
                "capability": self.capability,
                "record_hash": record_hash,
                "external_id": record.external_id,
                "raw_payload": canonical_json(record.raw),
                "reason": record.reason,
                "seen_at": now,
            }
            for record_hash, record in by_hash.items()
            if record_hash not in known
        ]
        if rows:
            bulk_write(conn, rejects.insert(), rows)
        return len(rows)

    def known_rejects(self, hashes: Sequence[str]) -> set[str]:
        """Which of these payload hashes are in ``ident_rejects`` already."""
        with self.db.begin() as conn:
            return self._known_rejects(conn, hashes)

    def _known_rejects(self, conn: Connection, hashes: Sequence[str]) -> set[str]:
        known: set[str] = set()
        for start in range(0, len(hashes), IN_LIST_CHUNK):
            known.update(
                conn.scalars(
                    select(rejects.c.record_hash).where(
                        rejects.c.integration == self.integration,
                        rejects.c.capability == self.capability,
                        rejects.c.record_hash.in_(hashes[start : start + IN_LIST_CHUNK]),
                    )
                )
            )
        return known

    def log_exchanges(self, exchanges: Sequence[Exchange]) -> None:
        """Write the exchange log in its own transaction, so it survives a failed load."""
        if not exchanges:
            return
        rows = [
            {
                "integration": self.integration,
                "capability": self.capability,
                "method": e.method,
                "url": e.url,
                "http_status": e.status,
                "duration_ms": e.duration_ms,
                "error_text": e.error,
                "logged_at": e.at,
            }
            for e in exchanges
        ]
        with self.db.begin() as conn:
            bulk_write(conn, exchange_log.insert(), rows)
