"""The clinic's own tables (IDENT's "Вариант с базой данных"): tables of the clinic's MySQL or MSSQL
database whose columns carry the names of IDENT's own fields, so a row maps exactly like the HTTP
variant's JSON. Leads: ``leads.table`` (default ``Tickets``) with the ticket's fields (``Id``,
``DateAndTime``, ``ClientPhone``, ``ClientFullName`` or ``ClientSurname``/``ClientName``/
``ClientPatronymic``, ``ClientEmail``, ``FormName``, ``DoctorId``, ``DoctorName``, ``PlanStart``,
``PlanEnd``, ``Comment``, ``UtmSource`` … ``UtmContent``, ``HttpReferer``). Call history: the
call fields — ``DateAndTime``, ``Direction``, ``PhoneFrom``, ``PhoneTo``, ``WaitInSeconds``,
``TalkInSeconds``, ``LineDescription``, ``RecordUrl``, ``UtmSource`` … ``UtmContent``,
``HttpReferer`` and, optionally, ``Id`` — in ``calls.table`` and, if the clinic keeps one,
``calls.ongoing_table``.
"""

from __future__ import annotations

from typing import Any

from ident_integrations.capabilities.calls import CallSource
from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.clinic_http import call_mapper, tickets_to_leads

TIME_COLUMN = "DateAndTime"
REQUIRED_CALL_COLUMNS = ("Direction", "PhoneFrom", "PhoneTo", "WaitInSeconds", "TalkInSeconds")
REQUIRED_LEAD_COLUMNS = ("Id", "ClientPhone")


def _rows(hook: Any, table: str, start, end, settings: ResolvedCapability):
    return hook.iter_rows(
        table, TIME_COLUMN, start, end, tz=settings.tz, required=REQUIRED_CALL_COLUMNS,
        page_size=settings.block.page_limit,
    )  # fmt: skip


def _leads(hook: Any, start, end, settings: ResolvedCapability) -> list[Any]:
    pages = hook.iter_rows(
        settings.block.table, TIME_COLUMN, start, end, tz=settings.tz, required=REQUIRED_LEAD_COLUMNS,
        page_size=settings.block.page_size,
    )  # fmt: skip
    return [row for page in pages for row in page]


def _ongoing(hook: Any, start, end, settings: ResolvedCapability):
    table = settings.block.ongoing_table
    return _rows(hook, table, start, end, settings) if table else ()


CLINIC_DB = Service(
    name="clinic_db",
    conn_type="mysql",  # or mssql: the clinic database's own connection type
    hook_path="ident_hooks.clinic_db:ClinicDbHook",
    sources={
        "leads": LeadSource(fetch=_leads, to_leads=tickets_to_leads),
        "calls": CallSource(
            pages=lambda hook, start, end, settings: _rows(hook, settings.block.table, start, end, settings),
            ongoing=_ongoing,
            mapper=call_mapper,
        ),
    },
)
