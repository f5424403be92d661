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

The schedule goes into ``schedule.table`` (default ``TimeTable``), one row per interval of IDENT's
``PostTimeTable`` (reference §2.6): ``DoctorId``, ``BranchId``, ``StartDateTime`` (the branch's wall
time, without a zone), ``LengthInMinutes``, ``IsBusy`` (free slots and busy time alike), and, if the
table has them, ``DoctorName`` and ``BranchName``. Each push replaces the horizon atomically: one
transaction deletes the rows whose ``StartDateTime`` falls in the horizon's local dates (first date
00:00 up to the day after the last) and inserts the new ones; rows outside the horizon (the past,
days beyond it) are untouched, and a failure leaves the table as it was. The table is the export's:
every row in the horizon is replaced, whoever wrote it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from ident_integrations.capabilities.calls import CallSource
from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.capabilities.schedule import PushResult, ScheduleExport, SchedulePusher
from ident_integrations.config import ResolvedCapability
from ident_integrations.services import Service
from ident_integrations.services.clinic_http import call_mapper, tickets_to_leads, timetable_intervals
from ident_integrations.services.schedule_payloads import exported_doctors, horizon_dates, local_slots

TIME_COLUMN = "DateAndTime"
REQUIRED_CALL_COLUMNS = ("Direction", "PhoneFrom", "PhoneTo", "WaitInSeconds", "TalkInSeconds")
REQUIRED_LEAD_COLUMNS = ("Id", "ClientPhone")
TIMETABLE_TIME_COLUMN = "StartDateTime"
REQUIRED_TIMETABLE_COLUMNS = ("DoctorId", "BranchId", "StartDateTime", "LengthInMinutes", "IsBusy")
OPTIONAL_TIMETABLE_COLUMNS = ("DoctorName", "BranchName")


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


def timetable_rows(export: ScheduleExport, settings: ResolvedCapability) -> dict[str, Any]:
    """The rows of the horizon (JSON-ready: ``StartDateTime`` the branch's wall time as ISO text
    without an offset) and the window they replace."""
    first, last = horizon_dates(export, local_slots(export, (*export.free, *export.busy)))
    start, end = datetime.combine(first, time()), datetime.combine(last + timedelta(days=1), time())
    doctors = {doctor.id: doctor.name for doctor in exported_doctors(export, settings).values()}
    branches = {branch.id: branch.name for branch in export.snapshot.branches}
    rows = [
        {
            **interval,
            "StartDateTime": datetime.fromisoformat(interval["StartDateTime"]).replace(tzinfo=None).isoformat(),
            "DoctorName": doctors.get(interval["DoctorId"]),
            "BranchName": branches.get(interval["BranchId"]),
        }
        for interval in timetable_intervals(export, settings)
    ]
    return {"from": start.isoformat(), "to": end.isoformat(), "rows": rows}


def push_timetable(hook: Any, payload: dict[str, Any], settings: ResolvedCapability) -> PushResult:
    rows = [{**row, "StartDateTime": datetime.fromisoformat(row["StartDateTime"])} for row in payload["rows"]]
    start, end = datetime.fromisoformat(payload["from"]), datetime.fromisoformat(payload["to"])
    table = settings.block.table
    written = hook.replace_rows(
        table, TIMETABLE_TIME_COLUMN, start, end, rows,
        required=REQUIRED_TIMETABLE_COLUMNS, optional=OPTIONAL_TIMETABLE_COLUMNS,
    )  # fmt: skip
    busy = sum(1 for row in rows if row["IsBusy"])
    detail = f"table {table}: {payload['from']}..{payload['to']} replaced, free {written - busy}, busy {busy}"
    return PushResult(requests=1, sent=written, detail=detail)


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
        "schedule": SchedulePusher(payload=timetable_rows, push=push_timetable, busy=True),
    },
)
