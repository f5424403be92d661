"""The clinic's own database (IDENT's "Вариант с базой данных", service ``clinic_db``) as the sandbox
keeps it: a SQLite file (``--clinic-db PATH``; off when not given) with a ``Tickets`` table whose
columns carry IDENT's ticket field names (reference §2.4), what a clinic's site writes its forms to,
and an empty ``TimeTable`` the schedule export (``schedule.table``) replaces its horizon in (both
created afresh at each start).

The leads are those of ``demo_data.LeadGenerator`` for the tenant ``TENANT``, the very data (and the
same ~10 % defects) the clinic_http emulator would serve for that name: the back catalogue is written
at start-up (the table is created afresh, as the generator lays it out anew on each start), then a
background thread writes each live lead at its arrival. Times are clinic wall time without a zone
(the sandbox timezone), in the text form SQLAlchemy's SQLite ``DATETIME`` writes and compares.
There are no fault switches: a database is not behind the HTTP middleware.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import closing
from datetime import datetime

from .context import SandboxContext
from .demo_data import Lead, LeadGenerator

TENANT = "clinic_tables"
TABLE = "Tickets"
# IDENT's ticket fields with the type a clinic's table would give them (a phone sent as a JSON number
# becomes text in its VARCHAR column).
TEXT_COLUMNS = {
    "ClientPhone": "VARCHAR(64)", "ClientEmail": "VARCHAR(255)", "ClientFullName": "VARCHAR(255)",
    "ClientSurname": "VARCHAR(100)", "ClientName": "VARCHAR(100)", "ClientPatronymic": "VARCHAR(100)",
    "FormName": "VARCHAR(255)", "DoctorId": "INTEGER", "DoctorName": "VARCHAR(255)",
    "PlanStart": "DATETIME", "PlanEnd": "DATETIME", "Comment": "TEXT",
    "UtmSource": "VARCHAR(255)", "UtmMedium": "VARCHAR(255)", "UtmCampaign": "VARCHAR(255)",
    "UtmTerm": "VARCHAR(255)", "UtmContent": "VARCHAR(255)", "HttpReferer": "VARCHAR(2000)",
}  # fmt: skip
COLUMNS = ("Id", "DateAndTime", *TEXT_COLUMNS)
TIME_COLUMNS = ("DateAndTime", "PlanStart", "PlanEnd")
_DDL = (
    f"CREATE TABLE {TABLE} (Id VARCHAR(40) NOT NULL PRIMARY KEY, DateAndTime DATETIME NOT NULL, "
    + ", ".join(f"{name} {kind} NULL" for name, kind in TEXT_COLUMNS.items())
    + ")"
)
# The schedule export's table (services/clinic_db.py): kept by the export, created empty at each
# start like the sandbox's other receivers (an earlier session's rows would pass for this one's).
TIMETABLE_DDL = (
    "CREATE TABLE TimeTable (DoctorId INTEGER NOT NULL, BranchId INTEGER NOT NULL, "
    "StartDateTime DATETIME NOT NULL, LengthInMinutes INTEGER NOT NULL, IsBusy BOOLEAN NOT NULL, "
    "DoctorName VARCHAR(255) NULL, BranchName VARCHAR(255) NULL)"
)
_INSERT = f"INSERT INTO {TABLE} ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"


class ClinicTables:
    """Writes the generator's leads into ``path``: ``start()`` the back catalogue and the live writer."""

    def __init__(self, ctx: SandboxContext, path: str) -> None:
        s = ctx.settings
        self.ctx, self.path = ctx, path
        self.generator = LeadGenerator(s.seed, TENANT, ctx.clock.start_time, ctx.tz, s.days, s.live_interval)
        self.written = 0  # leads in the table: indexes 0 .. written-1
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def row(self, lead: Lead) -> tuple:
        values = []
        for name in COLUMNS:
            value = lead.ticket.get(name)
            if name in TIME_COLUMNS and value is not None:
                moment = datetime.fromisoformat(value).astimezone(self.ctx.tz)
                value = f"{moment:%Y-%m-%d %H:%M:%S}.000000"  # naive clinic time, as SQLAlchemy writes it
            values.append(value)
        return tuple(values)

    def _write(self, upto: int, *, create: bool = False) -> None:
        """Insert the leads ``written .. upto-1`` (after a fresh table when ``create``), one transaction."""
        with closing(sqlite3.connect(self.path, timeout=30)) as conn, conn:
            if create:
                conn.execute(f"DROP TABLE IF EXISTS {TABLE}")
                conn.execute("DROP TABLE IF EXISTS TimeTable")
                conn.execute(_DDL)
                conn.execute(TIMETABLE_DDL)
            conn.executemany(_INSERT, [self.row(self.generator.lead(i)) for i in range(self.written, upto)])
        self.written = max(self.written, upto)

    def start(self) -> None:
        self._write(self.generator.visible_count(self.ctx.clock.now()), create=True)
        if self.generator.live_interval > 0:
            self._thread = threading.Thread(target=self._run, name="sandbox-clinic-tables", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            wait = (self.generator.arrival(self.written) - self.ctx.clock.now()).total_seconds()
            if wait > 0:
                self._stop.wait(wait)
                continue
            try:
                self._write(self.generator.visible_count(self.ctx.clock.now()))
            except sqlite3.Error as exc:  # e.g. locked by a long reader: try again shortly
                print(f"clinic tables: {exc}; retrying", flush=True)
                self._stop.wait(1)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
