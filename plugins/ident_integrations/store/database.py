"""The IDENT database as one SQLAlchemy engine, built from the Airflow connection the DAGs use."""

from __future__ import annotations

from sqlalchemy import Connection, Engine
from sqlalchemy.pool import NullPool

from ident_integrations.store import migrate

# Airflow connection type -> the SQL dialect the tables are rendered in.
CONNECTION_TYPES = {"mysql": "mysql", "mssql": "mssql", "sqlite": "sqlite"}
_engines: dict[str, Engine] = {}


class IdentDatabase:
    """Reads and writes the IDENT database through one Airflow connection (``ident_db``)."""

    def __init__(self, conn_id: str = "ident_db", engine: Engine | None = None):
        self.conn_id = conn_id
        self.engine = engine or self._engine(conn_id)

    @staticmethod
    def _engine(conn_id: str) -> Engine:
        from airflow.sdk import BaseHook

        conn_type = BaseHook.get_connection(conn_id).conn_type
        if conn_type not in CONNECTION_TYPES:
            raise ValueError(
                f"Connection {conn_id!r} has type {conn_type!r}; the IDENT database must be one of"
                f" {sorted(CONNECTION_TYPES)}"
            )
        # The common-sql hook builds the URL (driver, charset and other extras) as for any SQL task.
        hook = BaseHook.get_hook(conn_id)
        try:
            url = hook.sqlalchemy_url
        except NotImplementedError:
            url = hook.get_uri()
        key = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        if key not in _engines:  # one engine per database and process, as SQLAlchemy advises
            # No pool: each transaction opens its own connection and leaves none behind.
            _engines[key] = hook.get_sqlalchemy_engine(engine_kwargs={"poolclass": NullPool})
        return _engines[key]

    @property
    def dialect(self) -> str:
        return "mysql" if self.engine.dialect.name == "mariadb" else self.engine.dialect.name

    def begin(self) -> Connection:
        """One transaction: ``with db.begin() as conn:`` commits on success, rolls back on error."""
        return self.engine.begin()

    def ensure_schema(self) -> str | None:
        """Migrate to the newest revision if needed (cheap when already there); see store.migrate."""
        return migrate.upgrade(self.engine)
