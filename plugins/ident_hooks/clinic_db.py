"""The clinic's own tables ("Вариант с базой данных"): rows of a table in the clinic's MySQL or
MSSQL database, read through the common-sql hooks.

IDENT's help does not publish this variant's schema (reference ``ident-protocol.md`` §3), so the
tables are named in the integration's settings and their columns carry the names of IDENT's own
fields (for calls: ``DateAndTime``, ``Direction``, ``PhoneFrom``, …, the call object of §2.5); the
service mapping reads them exactly like the HTTP variant's JSON.

Connection: any Airflow SQL connection whose common-sql hook gives a SQLAlchemy engine — type
*MySQL* or *Microsoft SQL Server* in a clinic, *SQLite* in tests. A time column without a zone
holds clinic time (the caller says which zone). The query sorts by the time column, then the
primary key (or every column when there is none), and pages with LIMIT/OFFSET: stable pages.
A read waits for a table the clinic's own software has locked as long as the server lets it; a MySQL
connection's ``init_command`` extra bounds that (``SET SESSION lock_wait_timeout = 30``), and the
end of the wait (``Lock wait timeout exceeded``) is retried like a dropped connection.

Written the other way (the schedule, IDENT's ``PostTimeTable`` as rows): :meth:`ClinicDbHook.replace_rows`
replaces the rows of a time window in one transaction — those in the window deleted, the new ones
inserted in chunks, all committed together or not at all; rows outside the window are untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, MetaData, Table, delete, func, insert, select
from sqlalchemy.exc import DBAPIError, NoSuchTableError, SQLAlchemyError

from ident_hooks.base import ServiceHook
from ident_hooks.exchange import (
    Exchange,
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
)
from ident_hooks.sql import sql_engine

# Words a refused login carries in MySQL/MariaDB (1045, 1044), SQL Server (18456) and PostgreSQL.
_AUTH_WORDS = ("access denied", "login failed", "password authentication failed")
# Faults that pass (the drivers file them under one exception class with permanent ones, so the
# text decides): the server unreachable or gone, a timeout, a deadlock, too many connections.
_TRANSIENT_WORDS = (
    "can't connect", "unable to connect", "gone away", "lost connection", "timeout", "timed out",
    "deadlock", "too many connections", "connection refused", "connection reset",
)  # fmt: skip


class ClinicDbHook(ServiceHook):
    """Reads rows of one table of the clinic's own database, window by window, page by page.

    Connection faults (the server gone, a timeout, a deadlock) are retried with backoff; a refused
    login fails at once; a missing table or column is a clear error naming it. Each query is
    handed to ``on_exchange`` as an :class:`~ident_hooks.exchange.Exchange` (no credentials).
    """

    conn_name_attr = "clinic_db_conn_id"
    default_conn_name = "clinic_db_default"
    conn_type = "mysql"  # or mssql: the stock connection types of the clinic's database
    hook_name = "IDENT: clinic's own tables"

    INSERT_CHUNK = 1000  # rows per INSERT of replace_rows (a class attribute, so a test can lower it)

    def __init__(self, clinic_db_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(clinic_db_conn_id, **settings)
        self._engine: Engine | None = None
        self._tables: dict[str, Table] = {}

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = sql_engine(self.clinic_db_conn_id)
        return self._engine

    def table(self, name: str) -> Table:
        """The table as the database describes it (``schema.name`` is allowed), read once."""
        if name not in self._tables:
            schema, _, table_name = name.rpartition(".")
            try:
                self._tables[name] = self._run(
                    f"describe {name}",
                    lambda: Table(table_name, MetaData(), schema=schema or None, autoload_with=self.engine),
                )
            except NoSuchTableError:
                raise ServiceResponseError(
                    f"connection {self.clinic_db_conn_id!r}: the database has no table {name!r}"
                ) from None
        return self._tables[name]

    def iter_rows(
        self,
        table_name: str,
        time_column: str,
        start: datetime,
        end: datetime,
        *,
        tz: ZoneInfo,
        required: tuple[str, ...] = (),
        page_size: int = 1000,
    ) -> Iterator[list[dict[str, Any]]]:
        """The rows whose ``time_column`` is in [start, end), oldest first, one list of dicts (column
        name -> value) per page. Naive times in the table are ``tz`` wall time; ``required`` names
        the columns that must exist."""
        table = self.table(table_name)
        missing = [name for name in (time_column, *required) if name not in table.c]
        if missing:
            raise ServiceResponseError(
                f"table {table_name!r} has no column(s) {', '.join(missing)} (it has {', '.join(table.c.keys())})"
            )
        moment = table.c[time_column]
        local = [value.astimezone(tz).replace(tzinfo=None) for value in (start, end)]
        order = [moment, *(table.primary_key.columns or [c for c in table.c if c is not moment])]
        query = select(table).where(moment >= local[0], moment < local[1]).order_by(*order)
        offset = 0
        while True:
            page_query = query.limit(page_size).offset(offset)
            describe = f"SELECT {table_name} {time_column} {local[0]:%Y-%m-%d %H:%M:%S}..{local[1]:%Y-%m-%d %H:%M:%S}"
            rows = self._run(f"{describe} offset {offset}", lambda q=page_query: self._fetch(q))
            if rows:
                yield rows
            if len(rows) < page_size:
                return
            offset += page_size

    def replace_rows(
        self,
        table_name: str,
        time_column: str,
        start: datetime,
        end: datetime,
        rows: list[dict[str, Any]],
        *,
        required: tuple[str, ...] = (),
        optional: tuple[str, ...] = (),
    ) -> int:
        """Replace the rows whose ``time_column`` is in [start, end) (naive wall times, as the table
        keeps them) by ``rows``, atomically: one transaction deletes the window's rows and inserts
        the new ones in chunks of :attr:`INSERT_CHUNK`; a failure anywhere rolls all of it back, so
        the table is as it was. ``required`` columns must exist; ``optional`` ones are written only
        where the table has them. A transient fault re-runs the whole transaction. Returns the
        number of rows inserted."""
        table = self.table(table_name)
        missing = [name for name in (time_column, *required) if name not in table.c]
        if missing:
            raise ServiceResponseError(
                f"table {table_name!r} has no column(s) {', '.join(missing)} (it has {', '.join(table.c.keys())})"
            )
        written = [name for name in (*required, *optional) if name in table.c]
        if time_column not in written:
            written.insert(0, time_column)
        values = [{name: row.get(name) for name in written} for row in rows]
        moment, low, high = table.c[time_column], start, end
        if self.engine.dialect.name == "sqlite":
            # SQLite keeps date-times as text: SQLAlchemy writes "… 00:00:00.000000", another program
            # "… 00:00:00"; compare both normalised, or a row exactly on a bound lands on the wrong side.
            moment, low, high = func.datetime(moment), f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}"
        window = f"{start:%Y-%m-%d %H:%M:%S}..{end:%Y-%m-%d %H:%M:%S}"
        describe = f"REPLACE {table_name} {time_column} {window}: {len(values)} row(s)"

        def transaction() -> int:
            with self.engine.begin() as conn:  # commits at the end, rolls back on any error
                conn.execute(delete(table).where(moment >= low, moment < high))
                for first in range(0, len(values), self.INSERT_CHUNK):
                    conn.execute(insert(table), values[first : first + self.INSERT_CHUNK])
            return len(values)

        return self._run(describe, transaction)

    def _fetch(self, query) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def _run(self, describe: str, work):
        """``work`` with retries for connection faults, each attempt in the exchange log."""

        def attempt():
            started = time.monotonic()
            error: str | None = None
            try:
                return work()
            except DBAPIError as exc:
                error = _first_line(exc.orig or exc)
                if any(word in error.lower() for word in _AUTH_WORDS):  # retrying cannot help
                    raise ServiceAuthError(
                        f"{self.clinic_db_conn_id}: the database refused the login: {error}"
                    ) from None
                if exc.connection_invalidated or any(word in error.lower() for word in _TRANSIENT_WORDS):
                    raise TransientServiceError(f"{self.clinic_db_conn_id} {describe}: {error}") from None
                raise ServiceResponseError(f"{self.clinic_db_conn_id} {describe}: {error}") from None
            except SQLAlchemyError as exc:
                error = _first_line(exc)
                raise
            finally:
                if self.on_exchange is not None:
                    duration_ms = int((time.monotonic() - started) * 1000)
                    self.on_exchange(Exchange("SQL", describe, None, duration_ms, error))

        return call_with_retries(
            attempt, describe=f"{self.clinic_db_conn_id} {describe}",
            attempts=self.request_attempts, backoff_seconds=self.request_backoff_seconds,
        )  # fmt: skip

    def test_connection(self, tables: Sequence[str] = ()) -> tuple[bool, str]:
        """Connect and ask the server for ``SELECT 1``, then check that each of ``tables`` (the
        integration's, ``schema.name`` allowed) exists; a failure quotes the server's own text."""
        try:
            self._run("SELECT 1", lambda: self._fetch(select(1)))
            for name in tables:
                self.table(name)
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        found = f"; table(s) {', '.join(tables)} found" if tables else ""
        return True, f"connected to {self.engine.dialect.name} database {self.engine.url.database!r}{found}"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
