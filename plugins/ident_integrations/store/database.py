"""The IDENT database as one SQLAlchemy engine, built from the Airflow connection the DAGs use."""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from ident_hooks.sql import sql_engine
from ident_integrations.store import migrate

# Airflow connection type -> the SQL dialect the tables are rendered in.
CONNECTION_TYPES = {"mysql": "mysql", "mssql": "mssql", "sqlite": "sqlite"}


class IdentDatabase:
    """Reads and writes the IDENT database through one Airflow connection (``ident_db``)."""

    def __init__(self, conn_id: str = "ident_db", engine: Engine | None = None):
        self.conn_id = conn_id
        self.engine = engine or self._engine(conn_id)

    @staticmethod
    def _engine(conn_id: str) -> Engine:
        return sql_engine(conn_id, CONNECTION_TYPES, what="the IDENT database")

    @property
    def dialect(self) -> str:
        return "mysql" if self.engine.dialect.name == "mariadb" else self.engine.dialect.name

    def begin(self) -> Connection:
        """One transaction: ``with db.begin() as conn:`` commits on success, rolls back on error."""
        return self.engine.begin()

    def ensure_schema(self) -> str | None:
        """Migrate to the newest revision if needed (cheap when already there); see store.migrate."""
        return migrate.upgrade(self.engine)
