"""Call history (telephony): every ``calls.interval_minutes`` load the integration's calls from its
service into ``ident_calls``, in chunks of at most ``max_report_days`` days, page by page.

Which calls a run loads (IDENT's caching rule, improved): a call is final at 00:00 of the next day,
so a regular run loads from 00:00 of the day before its last successful window ended up to now:
the open day(s) until they close, plus one closed day to pick up late corrections. The first run
ever loads from ``start_date`` 00:00 (default: the day the integration was enabled), in chunks, in
one run. A backfill run reloads exactly its data interval; a manual run with ``from_date`` /
``to_date`` reloads those clinic days. Every load is an upsert by (integration, call id), so
reloading never duplicates and a call corrected at the source is updated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import DAG, DeltaDataIntervalTimetable, task
from airflow.sdk.exceptions import AirflowFailException
from pydantic import Field

from ident_integrations.cache_check import Comparison, reconcile
from ident_integrations.capabilities import Capability, date_param, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, PageSize, ResolvedCapability, TableName
from ident_integrations.records import RejectedRecord
from ident_integrations.records.calls import Call

if TYPE_CHECKING:
    from ident_integrations.store.base import LoadResult

log = logging.getLogger(__name__)
NAME = "calls"
ONGOING_LOOKBACK = timedelta(days=1)  # a call in progress started at most this long ago


class CallSettings(CapabilitySettings):
    """An integration's ``calls:`` block."""

    interval_minutes: IntervalMinutes = 180
    # IDENT's "Максимальный период отчета в днях": the longest window one chunk of requests asks for.
    max_report_days: Annotated[int, Field(ge=1, le=90)] = 7
    # IDENT's "Лимит на запрос": rows per page (UIS allows up to 10 000).
    page_limit: PageSize = 1000
    # The clinic's own tables (service clinic_db): the finished calls' table and, if the clinic keeps
    # one, the table of calls in progress; ``schema.table`` allowed.
    table: TableName = "FinishedCalls"
    ongoing_table: TableName | None = None


CallMapper = Callable[[list[Any], bool], tuple[list[Call], list[RejectedRecord]]]  # (page, in progress?)


@dataclass(frozen=True)
class CallSource:
    """How one service gives calls. ``pages``: the finished calls that started in [start, end),
    page by page; ``ongoing``: the calls in progress that started in [start, end); ``mapper``:
    built once per run (it may ask the service for its timezone), turns a page into Calls."""

    pages: Callable[[Any, datetime, datetime, ResolvedCapability], Iterable[list[Any]]]
    ongoing: Callable[[Any, datetime, datetime, ResolvedCapability], Iterable[list[Any]]]
    mapper: Callable[[Any, ResolvedCapability], CallMapper]


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return pendulum.datetime(day.year, day.month, day.day, tz=pendulum.timezone(tz.key))


def regular_window(
    *, last_window_end: datetime | None, start_date: date | None, enabled_on: date, now: datetime, tz: ZoneInfo
) -> tuple[datetime, datetime]:
    """From 00:00 (clinic time) of the day before the last successful window ended, else of the
    start date (default: the day the integration was enabled), up to now."""
    if last_window_end is not None:
        day = last_window_end.astimezone(tz).date() - timedelta(days=1)
    else:
        day = start_date or enabled_on
    return _midnight(day, tz), now.astimezone(tz)


def days_window(from_date: date, to_date: date, *, now: datetime, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Clinic days ``from_date`` .. ``to_date`` inclusive, not past now."""
    if to_date < from_date:
        raise AirflowFailException(f"to_date {to_date} is before from_date {from_date}")
    end = _midnight(to_date + timedelta(days=1), tz)
    return _midnight(from_date, tz), min(end, now.astimezone(tz))


def chunks(start: datetime, end: datetime, max_days: int, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
    """[start, end) cut at clinic midnights into pieces of at most ``max_days`` days."""
    pieces = []
    day = start.astimezone(tz).date()
    while start < end:
        day += timedelta(days=max_days)
        boundary = min(_midnight(day, tz), end)
        if boundary > start:
            pieces.append((start, boundary))
            start = boundary
    return pieces


def _duration(seconds: float) -> str:
    return str(timedelta(seconds=round(seconds)))


def import_calls(
    settings: ResolvedCapability,
    *,
    window: tuple[datetime, datetime] | None = None,
    now: datetime | None = None,
) -> LoadResult:
    """Load the calls of one run: the regular rule when ``window`` is None, else exactly ``window``
    (a backfill interval or a manual range; it moves no state but the watermark)."""
    from ident_integrations.store.base import LoadResult, OverlappedSaves
    from ident_integrations.store.calls import CallStore

    tz = settings.tz
    now = now or datetime.now(UTC)
    store = CallStore.open(settings)
    state = store.sync_state(enabled_today=now.astimezone(tz).date())
    regular = window is None
    if regular:
        start, end = regular_window(
            last_window_end=state.last_window_end,
            start_date=settings.block.start_date,
            enabled_on=state.enabled_on,
            now=now,
            tz=tz,
        )
        basis = (
            f"the last window ended {state.last_window_end.astimezone(tz):%Y-%m-%d %H:%M}"
            if state.last_window_end
            else f"first run, from the start date {settings.block.start_date or state.enabled_on}"
        )
    else:
        start, end = window
        basis = "a reload of exactly this range"
    pieces = chunks(start, end, settings.block.max_report_days, tz)
    log.info(
        "Calls window for %s: %s .. %s (%s; %s), %d chunk(s) of at most %d day(s)",
        settings.integration, start, end, basis, settings.timezone, len(pieces), settings.block.max_report_days,
    )  # fmt: skip

    total = LoadResult.empty()
    started = time.monotonic()
    # Two saves at a time on a server; SQLite takes one writer at a time anyway.
    in_flight = 1 if store.db.dialect == "sqlite" else 2
    with service_hook(settings, store) as (source, hook, exchanges), OverlappedSaves(in_flight) as saves:
        to_calls = source.mapper(hook, settings)
        for number, (chunk_start, chunk_end) in enumerate(pieces, 1):
            newest = None
            for page in source.pages(hook, chunk_start, chunk_end, settings):
                calls, rejects = to_calls(page, False)
                saves.submit(store.save, len(page), calls, rejects)
                for call in calls:
                    if newest is None or call.started_utc > newest:
                        newest = call.started_utc
            total = saves.wait()  # the chunk is written: now its progress may be recorded
            store.log_exchanges(exchanges)
            exchanges.clear()
            store.record_progress(newest, (start, chunk_end) if regular else None)
            elapsed = time.monotonic() - started
            rate = total.fetched / elapsed if elapsed else 0.0
            eta = elapsed / number * (len(pieces) - number)
            log.info(
                "Chunk %d of %d (%s .. %s): %d rows so far, %.0f rows/s, ETA %s",
                number, len(pieces), f"{chunk_start:%Y-%m-%d %H:%M}", f"{chunk_end:%Y-%m-%d %H:%M}",
                total.fetched, rate, _duration(eta),
            )  # fmt: skip
        if regular and start < end:
            ongoing = []
            for page in source.ongoing(hook, max(start, end - ONGOING_LOOKBACK), end, settings):
                ongoing.extend(to_calls(page, True)[0])
            log.info("Calls in progress now: %d", store.replace_ongoing(ongoing))
    if total.rejected:
        log.warning("%d call(s) rejected and kept in ident_rejects (see the reasons there)", total.rejected)
    log.info("Calls %s: %s", settings.integration, total.summary())
    return total


def check_calls(settings: ResolvedCapability, start: datetime, end: datetime) -> Comparison:
    """The cache check for calls: re-pull [start, end), compare with ``ident_calls``, repair."""
    from ident_integrations.store.calls import CallStore

    store = CallStore.open(settings)
    fetched: dict[str, Call] = {}
    rejects: list[RejectedRecord] = []
    fetched_count = 0
    with service_hook(settings, store) as (source, hook, _):
        to_calls = source.mapper(hook, settings)
        for chunk_start, chunk_end in chunks(start, end, settings.block.max_report_days, settings.tz):
            for page in source.pages(hook, chunk_start, chunk_end, settings):
                calls, page_rejects = to_calls(page, False)
                fetched_count += len(page)
                rejects.extend(page_rejects)
                fetched.update((call.external_id, call) for call in calls if not call.is_ongoing)
    comparison, repair = reconcile(fetched, lambda call: call.started_utc, store.stored(start, end), settings.tz)
    store.save(fetched_count, repair, rejects)
    store.delete(comparison.keys("extra"))
    return comparison


def _doc(settings: ResolvedCapability) -> str:
    block = settings.block
    start = block.start_date or "the day the integration was first run"
    dag_id = settings.dag_id
    return f"""
## Call history from `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** Every {block.interval_minutes} min it asks the service (connection
`{settings.conn_id}`) for calls and writes them to `ident_calls` in the IDENT database
(connection `{settings.ident_conn_id}`); calls still in progress go to `ident_ongoing_calls`.

**Which calls a run loads.** A call is final at 00:00 of the next day ({settings.timezone}). A
regular run loads from 00:00 of the day before its last successful window ended up to now: the
open day until it closes plus one closed day, for late corrections. The first run loads from
{start} 00:00 — a start date a year back loads that year in this one run, in chunks of at most
{block.max_report_days} day(s), pages of {block.page_limit}; the log shows each chunk with its
dates, rows so far, rows/s and ETA. A failed run resumes from the last chunk it finished.

**Reload a range (idempotent: rows are upserted by call id, corrections update them).**
- Backfill, from the UI (Trigger → Backfill) or the CLI — one run per {block.interval_minutes} min,
  each reloading exactly its data interval (for hours or days):
  `airflow backfill create --dag-id {dag_id} --from-date 2026-01-01 --to-date 2026-01-31`
- A manual run with params, clinic days inclusive, in one run (for weeks or months):
  `airflow dags trigger {dag_id} --conf '{{"from_date": "2026-01-01", "to_date": "2026-01-31"}}'`

**Where results go.** `ident_calls` (finished calls), `ident_ongoing_calls` (in progress at the
last run), `ident_rejects` (bad records with the reason), `ident_exchange_log` (every request,
secrets removed), `ident_sync_state` (the last window and the newest call).

**When it fails.** A rejected token or key fails at once with the service's message: fix
connection `{settings.conn_id}`. Timeouts, 5xx and rate limits are retried or waited out.
"""


def _range_from_params(params: dict, tz: ZoneInfo) -> tuple[datetime, datetime] | None:
    from_date, to_date = params.get("from_date"), params.get("to_date")
    if not from_date and not to_date:
        return None
    if not from_date:
        raise AirflowFailException("to_date was given without from_date")
    first = date.fromisoformat(from_date)
    last = date.fromisoformat(to_date) if to_date else datetime.now(tz).date()
    return days_window(first, last, now=datetime.now(UTC), tz=tz)


def build_dag(settings: ResolvedCapability) -> DAG:
    interval = settings.block.interval_minutes
    with ident_dag(
        settings,
        description=f"Call history from {settings.integration} ({settings.service}) every {interval} min",
        doc_md=_doc(settings),
        # Real data intervals (Airflow 3's plain schedules have none): a backfill run reloads its own.
        schedule=DeltaDataIntervalTimetable(timedelta(minutes=interval)),
        params={
            "from_date": date_param("Manual runs: reload from this clinic day."),
            "to_date": date_param("Manual runs: ... up to this clinic day, inclusive (default: today)."),
        },
    ) as dag:

        @task(task_id="import_calls", doc_md="Load the run's calls in chunks and pages; see the DAG's doc.")
        def import_calls_task(params: dict | None = None, dag_run: Any = None) -> dict:
            window = None
            run_type = getattr(dag_run.run_type, "value", dag_run.run_type) if dag_run else None
            if run_type == "backfill":
                window = (dag_run.data_interval_start, dag_run.data_interval_end)
            else:
                window = _range_from_params(params or {}, settings.tz)
            return import_calls(settings, window=window).__dict__

        import_calls_task()
    return dag


CALLS = Capability(
    name=NAME,
    settings=CallSettings,
    action="load call history",
    build_dag=build_dag,
    run=import_calls,
    check=check_calls,
)
