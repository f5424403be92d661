"""One lead-import run: window → fetch from the service → validate → store in one transaction."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, date, datetime

from ident_hooks.clinic_http import ClinicHttpHook
from ident_hooks.exchange import Exchange
from ident_integrations.config import ResolvedLeads
from ident_integrations.leads import lead_window, validate_leads
from ident_integrations.store import IdentStore, LoadResult

log = logging.getLogger(__name__)
CAPABILITY = "leads"


def _lead_source(settings: ResolvedLeads, record) -> ClinicHttpHook:
    """The hook that fetches this integration's leads; new lead services plug in here."""
    if settings.service == "clinic_http":
        return ClinicHttpHook(
            settings.conn_id,
            timeout_seconds=settings.request.timeout_seconds,
            request_attempts=settings.request.request_attempts,
            request_backoff_seconds=settings.request.request_backoff_seconds,
            on_exchange=record,
        )
    raise ValueError(f"service {settings.service!r} cannot import leads yet")


def import_leads(
    settings: ResolvedLeads,
    *,
    from_date: date | None = None,
    now: datetime | None = None,
    store: IdentStore | None = None,
) -> LoadResult:
    """Load one window of leads; ``from_date`` (manual re-pull) replaces the usual window start."""
    tz = settings.tz
    now = now or datetime.now(UTC)
    store = store or IdentStore(settings.ident_conn_id)
    store.ensure_schema()
    state = store.sync_state(settings.integration, CAPABILITY, enabled_today=now.astimezone(tz).date())
    start, end = lead_window(
        newest_lead_at=None if from_date else state.watermark,
        start_date=from_date or settings.start_date,
        enabled_on=state.enabled_on,
        now=now,
        tz=tz,
    )
    if from_date:
        basis = f"from_date {from_date} given for this run"
    elif state.watermark:
        basis = f"newest stored lead at {state.watermark.astimezone(tz):%Y-%m-%d %H:%M}"
    else:
        basis = f"start date {settings.start_date or state.enabled_on} (no lead stored yet)"
    log.info("Lead window for %s: %s .. %s (%s, %s)", settings.integration, start, end, basis, settings.timezone)
    if start > end:
        log.info("The start date is in the future; nothing to fetch yet")
        records: list = []
    else:
        exchanges: list[Exchange] = []
        try:
            records = _lead_source(settings, exchanges.append).get_tickets(start, end, settings.page_size)
        finally:
            store.log_exchanges(settings.integration, CAPABILITY, exchanges)
    leads, rejects = validate_leads(records, tz)
    if rejects:
        reasons = Counter(reject.reason for reject in rejects)
        log.warning("%d lead(s) rejected and kept in ident_rejects:", len(rejects))
        for reason, count in reasons.most_common(10):
            log.warning("  %4d × %s", count, reason)
    result = store.save_leads(settings.integration, len(records), leads, rejects, (start, end))
    log.info("Leads %s: %s", settings.integration, result.summary())
    return result
