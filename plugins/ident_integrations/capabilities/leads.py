"""Lead import ("заявки"): every ``leads.interval_minutes`` fetch one window of leads from the
integration's service, validate them, and store them in one transaction.

Window (IDENT's rule): from 00:00 clinic time of the date of the newest lead already stored, up to
now; before the first lead, from ``start_date`` (default: the day the integration was enabled).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import DAG, Asset, task
from airflow.sdk.exceptions import AirflowSkipException
from pydantic import Field

from ident_integrations.cache_check import Comparison, reconcile
from ident_integrations.capabilities import Capability, date_param, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, PageSize, ResolvedCapability, TableName
from ident_integrations.records import RejectedRecord
from ident_integrations.records.leads import Lead

if TYPE_CHECKING:
    from ident_integrations.store.base import LoadResult

log = logging.getLogger(__name__)
NAME = "leads"
# Updated by every lead DAG run that stored new leads, with {"integration", "new"} in the event's
# extra: schedule a DAG on it to act on new leads (ident_integrations.new_leads_example shows how).
NEW_LEADS = Asset("ident_leads")


class LeadSettings(CapabilitySettings):
    """An integration's ``leads:`` block."""

    interval_minutes: IntervalMinutes = 2
    page_size: PageSize = 500
    # IDENT's "Список исключений" (UIS): employee groups whose leads this IDENT database does not take.
    exclude_groups: tuple[str, ...] = ()
    # The clinic's own tables (service clinic_db): the leads' table, columns named after IDENT's fields.
    table: TableName = "Tickets"
    # Flexbe (IDENT's "Тип поля" / "Имя поля"): our field -> a form field's type or name, over the defaults.
    field_map: dict[Literal["name", "phone", "email", "comment", "doctor"], str] = {}
    # poll: a run every interval_minutes (IDENT's way); watch: a trigger looks every watch_seconds
    # and starts a run as soon as a new lead is there (ident_integrations.watch).
    mode: Literal["poll", "watch"] = "poll"
    watch_seconds: Annotated[float, Field(ge=1, le=600)] = 10


@dataclass(frozen=True)
class LeadSource:
    """How one service gives leads: the raw records of a window, then those mapped to Leads.
    ``exclude`` (optional) drops the records the integration's rules leave to another IDENT
    database and says how many: counted in the summary, never stored as rejects."""

    fetch: Callable[[Any, datetime, datetime, ResolvedCapability], list[Any]]  # (hook, start, end, settings)
    # (hook, records, settings): the hook for what the mapping needs of the service (its timezone)
    to_leads: Callable[[Any, Iterable[Any], ResolvedCapability], tuple[list[Lead], list[RejectedRecord]]]
    exclude: Callable[[Any, list[Any], ResolvedCapability], tuple[list[Any], int]] | None = None
    # (hook, leads, rejects, settings), after the commit: tell the service what was taken (NaPopravku)
    acknowledge: Callable[[Any, list[Lead], list[RejectedRecord], ResolvedCapability], None] | None = None
    # Whether ``fetch`` can re-pull a closed range: the cache check re-pulls and reconciles only then
    # (NaPopravku gives only what is not yet acknowledged).
    repullable: bool = True


def lead_window(
    *,
    newest_lead_at: datetime | None,
    start_date: date | None,
    enabled_on: date,
    now: datetime,
    tz: ZoneInfo,
) -> tuple[datetime, datetime]:
    """IDENT's rule: from 00:00 (clinic time) of the newest stored lead's date, else of the start date
    (default: the day the integration was enabled), up to now."""
    if newest_lead_at is not None:
        day = newest_lead_at.astimezone(tz).date()
    else:
        day = start_date or enabled_on
    start = pendulum.datetime(day.year, day.month, day.day, tz=pendulum.timezone(tz.key))
    return start, now.astimezone(tz)


def import_leads(
    settings: ResolvedCapability,
    *,
    from_date: date | None = None,
    now: datetime | None = None,
) -> LoadResult:
    """Load one window of leads; ``from_date`` (manual re-pull) replaces the usual window start."""
    from ident_integrations.store.leads import LeadStore

    tz = settings.tz
    now = now or datetime.now(UTC)
    store = LeadStore.open(settings)
    state = store.sync_state(enabled_today=now.astimezone(tz).date())
    start_date = settings.block.start_date
    start, end = lead_window(
        newest_lead_at=None if from_date else state.watermark,
        start_date=from_date or start_date,
        enabled_on=state.enabled_on,
        now=now,
        tz=tz,
    )
    if from_date:
        basis = f"from_date {from_date} given for this run"
    elif state.watermark:
        basis = f"newest stored lead at {state.watermark.astimezone(tz):%Y-%m-%d %H:%M}"
    else:
        basis = f"start date {start_date or state.enabled_on} (no lead stored yet)"
    log.info("Lead window for %s: %s .. %s (%s, %s)", settings.integration, start, end, basis, settings.timezone)
    excluded = 0
    with service_hook(settings, store) as (source, hook, _):
        if start > end:
            log.info("The start date is in the future; nothing to fetch yet")
            records: list = []
        else:
            records = source.fetch(hook, start, end, settings)
            if source.exclude is not None:
                records, excluded = source.exclude(hook, records, settings)
        leads, rejects = source.to_leads(hook, records, settings)
        if rejects:
            reasons = Counter(reject.reason for reject in rejects)
            log.warning("%d lead(s) rejected and kept in ident_rejects:", len(rejects))
            for reason, count in reasons.most_common(10):
                log.warning("  %4d × %s", count, reason)
        saved = store.save(len(records) + excluded, leads, rejects, (start, end))
        result = replace(saved, excluded=excluded)
        if source.acknowledge is not None:
            source.acknowledge(hook, leads, rejects, settings)
    log.info("Leads %s: %s", settings.integration, result.summary())
    return result


def check_leads(settings: ResolvedCapability, start: datetime, end: datetime) -> Comparison:
    """The cache check for leads: re-pull [start, end), compare with ``ident_leads``, repair."""
    from ident_integrations.store.leads import LeadStore, lead_key

    store = LeadStore.open(settings)
    with service_hook(settings, store) as (source, hook, _):
        records = source.fetch(hook, start, end, settings)
        if source.exclude is not None:
            records, _ = source.exclude(hook, records, settings)
    leads, rejects = source.to_leads(hook, records, settings)
    fetched = {lead_key(*lead.key): lead for lead in leads if lead.created_at < end}  # the service's end is inclusive
    comparison, repair = reconcile(fetched, lambda lead: lead.key[1], store.stored(start, end), settings.tz)
    store.save(len(records), repair, rejects, None)
    store.delete(comparison.keys("extra"))
    return comparison


def _cadence(block: LeadSettings) -> str:
    if block.mode == "watch":
        return f"within seconds (watched every {block.watch_seconds:g} s)"
    return f"every {block.interval_minutes} min"


def _doc(settings: ResolvedCapability) -> str:
    block = settings.block
    start = block.start_date or "the day the integration was first run"
    if block.mode == "watch":
        when = (
            f"A watcher in the triggerer (`leads.mode: watch`) looks at the service every "
            f"{block.watch_seconds:g} s and starts a run as soon as a lead is there that is not stored "
            f"yet (the Asset `ident_lead_source__{settings.integration}`); a run also starts hourly as "
            "a safety net. If runs stop coming, check the triggerer's log."
        )
    else:
        when = f"Every {block.interval_minutes} min"
    return f"""
## Leads from `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** {when}: it asks the service (connection
`{settings.conn_id}`) for leads and writes them to `ident_leads` in the IDENT database
(connection `{settings.ident_conn_id}`).

**Window (IDENT's rule).** From 00:00 {settings.timezone} of the date of the newest lead already
stored for this integration up to now. Before the first lead: from {start}.
Pages of {block.page_size}; timeout {settings.request.timeout_seconds:g} s,
{settings.request.request_attempts} attempts per request with backoff.

**Where results go.**
- `ident_leads`: one row per (integration, Id, DateAndTime); a lead changed at the source is updated.
- `ident_rejects`: invalid leads with the reason (e.g. no phone, PlanStart after PlanEnd).
- `ident_exchange_log`: every request (URL without the key, status, duration, error).
- `ident_sync_state`: the watermark (newest lead time) and the last window.
The task log ends with `fetched / new / updated / rejected`. A run that stored new leads updates
the Asset `ident_leads` (its event's extra: this integration and the count), which DAGs can be
scheduled on (example: `ident_new_leads_example`).

**When it fails.** 401/403 fail at once with the service's own message: fix the key
(connection `{settings.conn_id}`). Timeouts and 5xx are retried.

**Re-run.** Clearing a run is safe: loads are idempotent. To re-pull from an earlier date,
trigger the DAG with the parameter `from_date` (YYYY-MM-DD).
"""


def build_dag(settings: ResolvedCapability) -> DAG:
    from ident_integrations.watch import watch_schedule

    overrides: dict[str, Any] = {}
    if settings.block.mode == "watch":  # tagged, so the UI can list the watched DAGs
        overrides.update(schedule=watch_schedule(settings), tags=["ident", NAME, settings.service, "watch"])
    with ident_dag(
        settings,
        description=f"Leads from {settings.integration} ({settings.service}) {_cadence(settings.block)}",
        doc_md=_doc(settings),
        **overrides,
        params={
            "from_date": date_param("Manual runs only: load from 00:00 of this date instead of the usual window."),
        },
    ) as dag:

        @task(task_id="import_leads", doc_md="Fetch, validate and store one window of leads.")
        def import_leads_task(params: dict | None = None) -> dict:
            from_date = (params or {}).get("from_date")
            result = import_leads(settings, from_date=date.fromisoformat(from_date) if from_date else None)
            return result.__dict__

        @task(
            task_id="announce_new_leads",
            outlets=[NEW_LEADS],
            doc_md="Updates the Asset `ident_leads` (extra: integration, new) when the run stored new leads; "
            "skipped when it stored none, so DAGs scheduled on the Asset start only for new leads.",
        )
        def announce_new_leads(result: dict, outlet_events: Any = None) -> int:
            if not result["new"]:
                raise AirflowSkipException("no new leads: the Asset ident_leads is not updated")
            outlet_events[NEW_LEADS].extra = {"integration": settings.integration, "new": result["new"]}
            log.info("Asset ident_leads updated: %d new lead(s) from %s", result["new"], settings.integration)
            return result["new"]

        announce_new_leads(import_leads_task())
    return dag


LEADS = Capability(
    name=NAME, settings=LeadSettings, action="import leads", build_dag=build_dag, run=import_leads, check=check_leads
)
