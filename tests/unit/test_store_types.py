"""UtcDateTime's own bind step on SQLite must write exactly the text SQLAlchemy's DATETIME writes:
rows are compared and ordered as text there, and the foundation's rows use that format."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import types
from sqlalchemy.dialects import sqlite

from ident_integrations.store.types import UtcDateTime

MOSCOW = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    "value",
    [
        datetime(2026, 1, 2, 3, 4, 5),
        datetime(2026, 1, 2, 3, 4, 5, 7),
        datetime(999, 1, 1),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=MOSCOW),
        None,
    ],
)
def test_sqlite_text_matches_sqlalchemys(value):
    dialect = sqlite.dialect()
    sqlalchemy_text = types.DateTime().dialect_impl(dialect).bind_processor(dialect)
    expected_utc = value.astimezone(UTC).replace(tzinfo=None) if value is not None and value.tzinfo else value
    assert UtcDateTime().bind_processor(dialect)(value) == sqlalchemy_text(expected_utc)


def test_aware_values_are_stored_in_utc():
    dialect = sqlite.dialect()
    assert (
        UtcDateTime().bind_processor(dialect)(datetime(2026, 1, 2, 3, 0, tzinfo=MOSCOW)) == "2026-01-02 00:00:00.000000"
    )
