"""The cache check's report in the IDENT database: ``ident_cache_check_report``, one row per
integration, capability and closed day checked."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from ident_integrations.store.base import bulk_write
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.tables import cache_check_report

if TYPE_CHECKING:
    from ident_integrations.config import ResolvedCapability

REPORT_COUNTS = ("fetched", "stored", "missing", "extra", "changed", "repaired")


def write_report(settings: ResolvedCapability, checked_at: datetime, days: dict[date, dict[str, int]]) -> None:
    db = IdentDatabase(settings.ident_conn_id)
    db.ensure_schema()
    rows = [
        {
            "checked_at": checked_at,
            "integration": settings.integration,
            "capability": settings.capability,
            "day": day,
            **{name: int(counts[name]) for name in REPORT_COUNTS},
        }
        for day, counts in days.items()
    ]
    with db.begin() as conn:
        bulk_write(conn, cache_check_report.insert(), rows)
