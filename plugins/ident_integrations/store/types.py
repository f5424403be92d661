"""Column types shared by every IDENT table, one per kind of value, each mapped per dialect.

Migrations import these too, so a revision renders the same DDL as the table definitions.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import CHAR, BigInteger, Date, Integer, Unicode, UnicodeText, types
from sqlalchemy.dialects import mssql, mysql

MYSQL = ("mysql", "mariadb")


class UtcDateTime(types.TypeDecorator):
    """Aware date-times in, aware UTC out; stored as naive UTC with microseconds.

    A naive value is taken as UTC already. SQLite keeps 'YYYY-MM-DD HH:MM:SS.ffffff' text, the
    format the foundation's schema used, so older rows read back unchanged.
    """

    impl = types.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name in MYSQL:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        if dialect.name == "mssql":
            return dialect.type_descriptor(mssql.DATETIME2(precision=6))
        return dialect.type_descriptor(types.DateTime())

    def bind_processor(self, dialect: Any) -> Any:
        # One function per value (not TypeDecorator's wrapper + hook + the dialect's own step):
        # bulk loads convert several date-times per row.
        if dialect.name == "sqlite" or dialect.name in MYSQL:
            # The text SQLAlchemy's SQLite DATETIME writes ('YYYY-MM-DD HH:MM:SS.ffffff'), made by
            # datetime's C method instead of a %-format of every field: a third of a SQLite load.
            # MySQL/MariaDB read the same literal into DATETIME(6), and mysqlclient quotes text in C
            # where a datetime takes its Python formatter: a fifth of a MariaDB load.
            def to_driver(value: datetime | None) -> str | None:
                return None if value is None else value.isoformat(" ", "microseconds")
        else:
            to_driver = self.load_dialect_impl(dialect).bind_processor(dialect)

        def process(value: datetime | None) -> Any:
            if value is not None and value.tzinfo is not None:
                if value.tzinfo is not UTC:  # most values are UTC already: skip the conversion then
                    value = value.astimezone(UTC)
                value = value.replace(tzinfo=None)
            return to_driver(value) if to_driver else value

        return process

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)

    def __repr__(self) -> str:  # how Alembic renders it in a revision
        return "UtcDateTime()"


def Day() -> types.TypeEngine:  # noqa: N802
    """A calendar date. SQL Server gets DATE explicitly: without a server to ask, SQLAlchemy's MSSQL
    dialect would render DATETIME (its pre-2008 fallback) in generated SQL."""
    return Date().with_variant(mssql.DATE(), "mssql")


def Id() -> types.TypeEngine:  # noqa: N802 - reads like a type
    """Surrogate key: BIGINT identity; SQLite needs INTEGER for its rowid alias."""
    return BigInteger().with_variant(Integer(), "sqlite")


def Varchar(length: int) -> types.TypeEngine:  # noqa: N802
    """Unicode text up to ``length``: VARCHAR on MySQL (utf8mb4 tables), NVARCHAR on SQL Server."""
    return Unicode(length)


def CaseSensitiveText(length: int) -> types.TypeEngine:  # noqa: N802
    """Ids compared case-sensitively, as the services issue them."""
    return (
        Unicode(length)
        .with_variant(mysql.VARCHAR(length, collation="utf8mb4_bin"), *MYSQL)
        .with_variant(mssql.NVARCHAR(length, collation="Latin1_General_100_BIN2"), "mssql")
    )


def LongText() -> types.TypeEngine:  # noqa: N802
    """Payloads and free text of any size (LONGTEXT, NVARCHAR(max) — never the deprecated NTEXT —, TEXT)."""
    return UnicodeText().with_variant(mysql.LONGTEXT(), *MYSQL).with_variant(mssql.NVARCHAR(), "mssql")


def MediumText() -> types.TypeEngine:  # noqa: N802
    """Free text a person typed (up to 16 MB on MySQL)."""
    return UnicodeText().with_variant(mysql.MEDIUMTEXT(), *MYSQL).with_variant(mssql.NVARCHAR(), "mssql")


def Hash() -> types.TypeEngine:  # noqa: N802
    """A SHA-256 hex digest."""
    return CHAR(64)
