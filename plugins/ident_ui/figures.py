"""The page's figures, read from the IDENT database (never Airflow's metadata database: what Airflow
knows about runs the page asks Airflow's REST API for, with the viewer's own login).

Every function takes a viewer and returns only rows of the DAGs that viewer may read, with
patients' phones and names masked unless they may see connections. Days are the clinic's days.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Connection, Table, and_, desc, func, not_, or_, select

from ident_hooks.exchange import redact_url
from ident_integrations.store.tables import (
    calendar_events,
    calls,
    exchange_log,
    geocodes,
    leads,
    messages,
    rejects,
    schedule_pushes,
)
from ident_ui.access import Viewer
from ident_ui.catalog import Catalog
from ident_ui.masking import hide_credentials, mask_name, mask_phone, mask_text

CHART_DAYS = 30
TOP_UTM = 12
RECENT_ROWS = 20


@dataclass(frozen=True)
class Measure:
    """What "loaded today" counts for a capability: rows of ``table`` whose ``at`` is today (or the
    sum of ``amount``), optionally only those matching ``where``; ``unit`` names what is counted."""

    table: Table
    at: str
    unit: str
    where: ColumnElement[bool] | None = None
    amount: str | None = None


LOADED_TODAY = {
    "leads": Measure(leads, "first_loaded_at", "new leads"),
    "calls": Measure(calls, "first_loaded_at", "new calls"),
    "sms": Measure(messages, "created_at", "SMS", messages.c.channel == "sms"),
    "email": Measure(messages, "created_at", "e-mails", messages.c.channel == "email"),
    "sms_status": Measure(messages, "status_checked_at", "statuses checked"),
    "geocoding": Measure(geocodes, "checked_at", "addresses"),
    "calendar": Measure(calendar_events, "synced_at", "events written"),
    "schedule": Measure(schedule_pushes, "pushed_at", "items pushed", amount="items"),
}

# An exchange failed when the service's answer was an error, or there was none (timeout, refused).
_FAILED = or_(
    exchange_log.c.error_text.is_not(None), exchange_log.c.http_status.is_(None), exchange_log.c.http_status >= 400
)


def clinic_day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """[00:00, next 00:00) of a clinic day, in UTC."""
    start = datetime.combine(day, time(), tzinfo=tz)
    return start.astimezone(UTC), datetime.combine(day + timedelta(days=1), time(), tzinfo=tz).astimezone(UTC)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


# --- the overview: one row per integration and capability -------------------------------------------


def overview(conn: Connection, catalog: Catalog, viewer: Viewer, now: datetime) -> list[dict[str, Any]]:
    rows = [row for row in catalog.rows if viewer.may_read(row.dag_id)]
    start, end = clinic_day_bounds(now.astimezone(catalog.timezone).date(), catalog.timezone)
    loaded = _loaded_today(conn, {row.capability for row in rows}, start, end)
    rejected = _rejects_today(conn, start, end)
    errors = _last_errors(conn, viewer)
    result = []
    for row in rows:
        key = (row.integration, row.capability)
        measure = LOADED_TODAY.get(row.capability)
        last_error = errors.get(key)
        result.append(
            {
                **row.as_json(),
                "loaded_today": loaded.get(key, 0) if measure else None,
                "loaded_unit": measure.unit if measure else None,
                "rejects_today": rejected.get(key, 0),
                "last_service_error": last_error,
            }
        )
    return result


def _loaded_today(
    conn: Connection, capabilities: set[str], start: datetime, end: datetime
) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for capability in capabilities & LOADED_TODAY.keys():
        measure = LOADED_TODAY[capability]
        table, at = measure.table, measure.table.c[measure.at]
        value = func.coalesce(func.sum(table.c[measure.amount]), 0) if measure.amount else func.count()
        query = select(table.c.integration, value).where(at >= start, at < end).group_by(table.c.integration)
        if measure.where is not None:
            query = query.where(measure.where)
        counts.update({(integration, capability): int(n) for integration, n in conn.execute(query)})
    return counts


def _rejects_today(conn: Connection, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    query = (
        select(rejects.c.integration, rejects.c.capability, func.count())
        .where(rejects.c.seen_at >= start, rejects.c.seen_at < end)
        .group_by(rejects.c.integration, rejects.c.capability)
    )
    return {(integration, capability): n for integration, capability, n in conn.execute(query)}


def _last_errors(conn: Connection, viewer: Viewer) -> dict[tuple[str, str], dict[str, Any]]:
    """The newest failed exchange of each integration and capability."""
    log = exchange_log.c
    newest = (
        select(log.integration, log.capability, func.max(log.logged_at).label("at"))
        .where(_FAILED)
        .group_by(log.integration, log.capability)
        .subquery()
    )
    query = (
        select(exchange_log)
        .join(
            newest,
            and_(
                log.integration == newest.c.integration,
                log.capability == newest.c.capability,
                log.logged_at == newest.c.at,
            ),
        )
        .where(_FAILED)
        .order_by(log.id)  # of two at the same moment, the later written wins
    )
    return {(row.integration, row.capability): _exchange_json(row, viewer) for row in conn.execute(query)}


# --- charts ------------------------------------------------------------------------------------------


def charts(conn: Connection, catalog: Catalog, viewer: Viewer, now: datetime) -> dict[str, Any]:
    """Leads per day per source, leads by UTM source and campaign, calls per day with the lost share;
    over the last 30 clinic days, today included."""
    tz = catalog.timezone
    today = now.astimezone(tz).date()
    days = [today - timedelta(days=n) for n in range(CHART_DAYS - 1, -1, -1)]
    start = clinic_day_bounds(days[0], tz)[0]
    lead_sources = _readable(catalog, viewer, "leads")
    call_sources = _readable(catalog, viewer, "calls")

    per_source: dict[str, Counter] = {name: Counter() for name in lead_sources}
    if lead_sources:
        lead_times = select(leads.c.integration, leads.c.created_at).where(
            leads.c.integration.in_(lead_sources), leads.c.created_at >= start
        )
        for integration, created_at in conn.execute(lead_times):
            per_source[integration][created_at.astimezone(tz).date()] += 1

    calls_per_day: Counter = Counter()
    lost_per_day: Counter = Counter()
    if call_sources:
        call_rows = select(calls.c.started_at, calls.c.is_lost).where(
            calls.c.integration.in_(call_sources), calls.c.started_at >= start
        )
        for started_at, is_lost in conn.execute(call_rows):
            day = started_at.astimezone(tz).date()
            calls_per_day[day] += 1
            lost_per_day[day] += bool(is_lost)

    return {
        "days": [day.isoformat() for day in days],
        "leads_per_day": {name: [counts[day] for day in days] for name, counts in per_source.items()},
        "leads_by_utm": _leads_by_utm(conn, lead_sources, start),
        "calls_per_day": [calls_per_day[day] for day in days],
        "lost_calls_per_day": [lost_per_day[day] for day in days],
    }


def _readable(catalog: Catalog, viewer: Viewer, capability: str) -> list[str]:
    return [row.integration for row in catalog.rows if row.capability == capability and viewer.may_read(row.dag_id)]


def _leads_by_utm(conn: Connection, sources: list[str], start: datetime) -> list[dict[str, Any]]:
    if not sources:
        return []
    count = func.count().label("n")
    query = (
        select(leads.c.utm_source, leads.c.utm_campaign, count)
        .where(leads.c.integration.in_(sources), leads.c.created_at >= start)
        .group_by(leads.c.utm_source, leads.c.utm_campaign)
        .order_by(desc(count), leads.c.utm_source, leads.c.utm_campaign)
        .limit(TOP_UTM)
    )
    return [{"source": source, "campaign": campaign, "leads": n} for source, campaign, n in conn.execute(query)]


# --- one integration ---------------------------------------------------------------------------------


def readable_capabilities(catalog: Catalog, viewer: Viewer, integration: str) -> list[str]:
    return [row.capability for row in catalog.rows if row.integration == integration and viewer.may_read(row.dag_id)]


def exchange_log_rows(
    conn: Connection, integration: str, capabilities: list[str], viewer: Viewer, status: str, limit: int
) -> list[dict[str, Any]]:
    """The integration's exchange log, newest first; ``status`` is all, ok, error or an HTTP code."""
    log = exchange_log.c
    query = select(exchange_log).where(log.integration == integration, log.capability.in_(capabilities))
    if status == "ok":
        query = query.where(not_(_FAILED))
    elif status == "error":
        query = query.where(_FAILED)
    elif status.isdigit():
        query = query.where(log.http_status == int(status))
    query = query.order_by(log.logged_at.desc(), log.id.desc()).limit(limit)
    return [_exchange_json(row, viewer) for row in conn.execute(query)]


def _exchange_json(row: Any, viewer: Viewer) -> dict[str, Any]:
    # The log is redacted when written; redacted again here so that no older or hand-written row
    # shows a key, and shown decoded so a masked phone in a query string reads as one.
    url = unquote(redact_url(row.url))
    error = hide_credentials(row.error_text)
    if not viewer.sees_personal_data:
        url, error = mask_text(url), mask_text(error)
    return {
        "at": iso(row.logged_at),
        "capability": row.capability,
        "method": row.method,
        "url": url,
        "http_status": row.http_status,
        "duration_ms": row.duration_ms,
        "error": error,
    }


def reject_rows(
    conn: Connection, integration: str, capabilities: list[str], viewer: Viewer, limit: int
) -> list[dict[str, Any]]:
    """The integration's quarantined records with their reasons, newest first (no raw payloads:
    they carry the patient's data whole)."""
    query = (
        select(rejects.c.capability, rejects.c.external_id, rejects.c.reason, rejects.c.seen_at)
        .where(rejects.c.integration == integration, rejects.c.capability.in_(capabilities))
        .order_by(rejects.c.seen_at.desc(), rejects.c.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": iso(seen_at),
            "capability": capability,
            "external_id": external_id,
            "reason": reason if viewer.sees_personal_data else mask_text(reason),
        }
        for capability, external_id, reason, seen_at in conn.execute(query)
    ]


def recent_leads(conn: Connection, integration: str, viewer: Viewer) -> list[dict[str, Any]]:
    query = (
        select(leads)
        .where(leads.c.integration == integration)
        .order_by(leads.c.created_at.desc(), leads.c.id.desc())
        .limit(RECENT_ROWS)
    )
    result = []
    for row in conn.execute(query):
        name = row.full_name or " ".join(part for part in (row.surname, row.name, row.patronymic) if part)
        phone = row.phone or row.phone_raw
        if not viewer.sees_personal_data:
            name, phone = mask_name(name), mask_phone(phone)
        result.append(
            {
                "at": iso(row.created_at),
                "external_id": row.external_id,
                "name": name or None,
                "phone": phone,
                "form": row.form_name,
                "utm_source": row.utm_source,
                "utm_campaign": row.utm_campaign,
            }
        )
    return result


def recent_calls(conn: Connection, integration: str, viewer: Viewer) -> list[dict[str, Any]]:
    query = (
        select(calls)
        .where(calls.c.integration == integration)
        .order_by(calls.c.started_at.desc(), calls.c.id.desc())
        .limit(RECENT_ROWS)
    )
    result = []
    for row in conn.execute(query):
        phone = row.contact_phone or row.contact_phone_raw
        result.append(
            {
                "at": iso(row.started_at),
                "direction": row.direction,
                "phone": phone if viewer.sees_personal_data else mask_phone(phone),
                "lost": bool(row.is_lost),
                "talk_seconds": row.talk_seconds,
                "employee": row.employee_name,
            }
        )
    return result
