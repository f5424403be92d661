"""Small helpers shared by the tests."""

from __future__ import annotations

from datetime import UTC, datetime


def connection_json(**fields) -> str:
    from airflow.sdk import Connection

    return Connection(conn_id="x", **fields).as_json()


def as_utc(value) -> datetime | None:
    """A date-time column read through plain DB-API (a datetime, or SQLite's text) as aware UTC."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC)


def query(conn, sql: str, params: tuple = ()) -> list[tuple]:
    """Read back through a plain DB-API connection (MySQLdb or sqlite3), outside the code under test."""
    conn.commit()  # see rows committed by other connections (MariaDB's repeatable read)
    cur = conn.cursor()
    cur.execute(sql, params)
    rows = list(cur.fetchall())
    cur.close()
    return rows
