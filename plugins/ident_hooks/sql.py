"""One SQLAlchemy engine per SQL database an Airflow connection names, built by the common-sql hook."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Engine
from sqlalchemy.pool import NullPool

_engines: dict[str, Engine] = {}


def sql_engine(conn_id: str, allowed_types: Iterable[str] | None = None, what: str = "it") -> Engine:
    """The engine of connection ``conn_id``; ``allowed_types`` limits the connection types (``what``
    names the database in the error)."""
    from airflow.sdk import BaseHook

    if allowed_types is not None:
        conn_type = BaseHook.get_connection(conn_id).conn_type
        if conn_type not in allowed_types:
            raise ValueError(
                f"Connection {conn_id!r} has type {conn_type!r}; {what} must be one of {sorted(allowed_types)}"
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
