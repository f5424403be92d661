"""Schema migrations of the IDENT database (Alembic): bring it to head safely, tell where it is,
and write the SQL for a DBA.

``upgrade`` runs before any run writes and from ``ident db upgrade``. Two DAGs starting at once
must not both migrate: the upgrade holds a database lock (MySQL ``GET_LOCK``, SQL Server
``sp_getapplock``, a file lock next to a SQLite file) and re-reads the revision once it has it.
"""

from __future__ import annotations

import fcntl
import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Our own name, so the table never collides with IDENT's tables or Airflow's alembic_version.
VERSION_TABLE = "ident_alembic_version"
LOCK_NAME = "ident_schema_upgrade"
LOCK_TIMEOUT_SECONDS = 300
DIALECTS = ("mysql", "mssql", "sqlite")

_up_to_date: set[str] = set()  # databases this process has seen at head: one check per process


class SchemaLockTimeout(RuntimeError):
    """Another process held the schema lock for longer than LOCK_TIMEOUT_SECONDS."""


def alembic_config(**attributes) -> Config:
    config = Config(output_buffer=io.StringIO())
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes.update(attributes)
    return config


def head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(connection: Connection) -> str | None:
    """The revision the database is at; None for an empty or a foundation-era database."""
    return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


@contextmanager
def schema_lock(connection: Connection) -> Iterator[None]:
    """Hold the database-wide schema lock on ``connection`` (session-level, survives commits)."""
    dialect = connection.dialect.name
    if dialect in ("mysql", "mariadb"):
        # GET_LOCK names are server-wide: name the database, so two IDENT databases never wait on each other.
        name = f"{LOCK_NAME}.{connection.engine.url.database}"[:64]
        got = connection.execute(
            text("SELECT GET_LOCK(:name, :timeout)"), {"name": name, "timeout": LOCK_TIMEOUT_SECONDS}
        )
        if got.scalar() != 1:
            raise SchemaLockTimeout(f"another process held {name!r} for over {LOCK_TIMEOUT_SECONDS} s")
        try:
            yield
        finally:
            connection.execute(text("SELECT RELEASE_LOCK(:name)"), {"name": name})
    elif dialect == "mssql":
        status = connection.execute(
            text(
                "DECLARE @status INT; EXEC @status = sp_getapplock @Resource = :name, @LockMode = 'Exclusive',"
                " @LockOwner = 'Session', @LockTimeout = :timeout_ms; SELECT @status"
            ),
            {"name": LOCK_NAME, "timeout_ms": LOCK_TIMEOUT_SECONDS * 1000},
        ).scalar()
        if status is None or status < 0:
            raise SchemaLockTimeout(f"sp_getapplock {LOCK_NAME!r} answered {status}")
        try:
            yield
        finally:
            connection.execute(
                text("EXEC sp_releaseapplock @Resource = :name, @LockOwner = 'Session'"), {"name": LOCK_NAME}
            )
    elif dialect == "sqlite" and connection.engine.url.database not in (None, "", ":memory:"):
        with open(f"{connection.engine.url.database}.schema-lock", "a") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)
    else:  # an in-memory SQLite database has one process by definition
        yield


def upgrade(engine: Engine) -> str | None:
    """Bring the database to the newest revision. Returns the revision it moved from ("" for an
    empty or foundation-era database), or None when it was already at head."""
    key = engine.url.render_as_string(hide_password=True)
    if key in _up_to_date:
        return None
    target = head()
    moved_from = None
    with engine.connect() as connection:
        if current(connection) != target:
            connection.commit()  # end the read's transaction before waiting for the lock
            log.info("The IDENT database schema is behind %s: taking the schema lock", target)
            with schema_lock(connection):
                before = current(connection)  # another process may have finished while we waited
                if before != target:
                    log.info("Upgrading the IDENT database schema from %s to %s", before or "nothing", target)
                    command.upgrade(alembic_config(connection=connection), "head")
                    connection.commit()
                    moved_from = before or ""
    _up_to_date.add(key)
    return moved_from


def upgrade_sql(dialect: str) -> str:
    """The whole migration history as one SQL script for ``dialect`` (what a DBA applies by hand)."""
    if dialect not in DIALECTS:
        raise ValueError(f"unknown dialect {dialect!r}: use one of {', '.join(DIALECTS)}")
    config = alembic_config(dialect=dialect)
    command.upgrade(config, "head", sql=True)
    return config.output_buffer.getvalue()
