"""The clinic's own tables (IDENT's "Вариант с базой данных"): call history read from a table of the
clinic's MySQL or MSSQL database whose columns carry the names of IDENT's call fields —
``DateAndTime``, ``Direction``, ``PhoneFrom``, ``PhoneTo``, ``WaitInSeconds``, ``TalkInSeconds``,
``LineDescription``, ``RecordUrl``, ``UtmSource`` … ``UtmContent``, ``HttpReferer`` and, optionally,
``Id`` — so a row maps exactly like a call of the HTTP variant. The table names are the
integration's ``calls.table`` and ``calls.ongoing_table``.
"""

from __future__ import annotations

from typing import Any

from ident_integrations.capabilities.calls import CallSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.clinic_http import call_mapper

TIME_COLUMN = "DateAndTime"
REQUIRED_CALL_COLUMNS = ("Direction", "PhoneFrom", "PhoneTo", "WaitInSeconds", "TalkInSeconds")


def _rows(hook: Any, table: str, start, end, settings: ResolvedCapability):
    return hook.iter_rows(
        table, TIME_COLUMN, start, end, tz=settings.tz, required=REQUIRED_CALL_COLUMNS,
        page_size=settings.block.page_limit,
    )  # fmt: skip


def _ongoing(hook: Any, start, end, settings: ResolvedCapability):
    table = settings.block.ongoing_table
    return _rows(hook, table, start, end, settings) if table else ()


CLINIC_DB = Service(
    name="clinic_db",
    conn_type="mysql",  # or mssql: the clinic database's own connection type
    hook_path="ident_hooks.clinic_db:ClinicDbHook",
    sources={
        "calls": CallSource(
            pages=lambda hook, start, end, settings: _rows(hook, settings.block.table, start, end, settings),
            ongoing=_ongoing,
            mapper=call_mapper,
        ),
    },
)
