"""UIS / CoMagic (one platform, two hosts): call history from the Data API's ``get.calls_report``
and site leads from ``get.offline_messages_report``.

Dates come in the account's own timezone (``get.account``) without an offset; recordings come as
ids, turned into playback links by the hook (reference §1.3). A lead's group is the employee group
the visitor chose; ``leads.exclude_groups`` (IDENT's "Список исключений") names the groups whose
leads this IDENT database leaves to another branch's (reference §1.4–1.5).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ident_integrations.capabilities.calls import CallMapper, CallSource
from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.calls import validate_calls
from ident_integrations.records.leads import validate_leads
from ident_integrations.services import Service

log = logging.getLogger(__name__)
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
TICKET_UTM = {"utm_source": "UtmSource", "utm_medium": "UtmMedium", "utm_campaign": "UtmCampaign",
              "utm_term": "UtmTerm", "utm_content": "UtmContent"}  # fmt: skip


def call_mapper(hook: Any, settings: ResolvedCapability) -> CallMapper:
    account_tz = hook.timezone()

    def to_call(record: dict[str, Any]) -> dict[str, Any]:
        communication_id = record.get("communication_id")
        return {
            "external_id": record.get("id"),
            "started_at": record.get("start_time"),
            "finished_at": record.get("finish_time"),
            "direction": record.get("direction"),
            "is_lost": bool(record.get("is_lost")),
            "contact_phone_raw": record.get("contact_phone_number"),
            "virtual_phone": record.get("virtual_phone_number"),
            "wait_seconds": record.get("wait_duration"),
            "talk_seconds": record.get("talk_duration"),
            "total_seconds": record.get("total_duration"),
            "finish_reason": record.get("finish_reason"),
            "employee_name": record.get("last_answered_employee_full_name"),
            "scenario_name": record.get("scenario_name"),
            "record_urls": tuple(hook.record_url(communication_id, rid) for rid in record.get("call_records") or ()),
            **{name: record.get(name) for name in UTM_FIELDS},
            "referrer": record.get("referrer"),
        }

    def to_calls(page: list[Any], ongoing: bool) -> tuple:
        return validate_calls(page, to_call, account_tz, "id")

    return to_calls


def lead_ticket(record: dict[str, Any], account_tz: Any) -> dict[str, Any]:
    """An offline message in IDENT's ticket fields. The visitor's name is one field (IDENT's full
    name); the form's name, else its type ("standard"), is the form; the date is account time."""
    moment = record.get("date_time")
    if isinstance(moment, str):
        try:
            moment = datetime.fromisoformat(moment).replace(tzinfo=account_tz)
        except ValueError:
            raise ValueError(f"date_time {moment!r} is not 'YYYY-MM-DD hh:mm:ss'") from None
    return {
        "Id": record.get("id"),
        "DateAndTime": moment,
        "ClientPhone": record.get("visitor_phone_number"),
        "ClientFullName": record.get("visitor_name"),
        "ClientEmail": record.get("visitor_email"),
        "Comment": record.get("text"),
        "FormName": record.get("form_name") or record.get("form_type"),
        **{theirs: record.get(ours) for ours, theirs in TICKET_UTM.items()},
        "HttpReferer": record.get("referrer"),
    }


def fetch_leads(hook: Any, start: datetime, end: datetime, settings: ResolvedCapability) -> list[Any]:
    return [row for page in hook.iter_offline_messages(start, end, limit=settings.block.page_size) for row in page]


def exclude_groups(hook: Any, records: list[Any], settings: ResolvedCapability) -> tuple[list[Any], int]:
    """Drop the leads of the integration's excluded groups. The names are checked against the
    account's groups (``get.group_employees``): an unknown one is a warning, never a silent no-op."""
    names = set(settings.block.exclude_groups)
    if not names:
        return records, 0
    known = {group.get("name") for group in hook.group_employees()}
    for name in sorted(names - known):
        log.warning(
            "leads.exclude_groups of %s names %r, which is not a group of this UIS account (its groups: %s); "
            "it excludes nothing", settings.integration, name, ", ".join(sorted(filter(None, known))),
        )  # fmt: skip
    kept = [record for record in records if not (isinstance(record, dict) and record.get("group_name") in names)]
    if len(kept) < len(records):
        log.info("%d lead(s) of the excluded groups %s left out", len(records) - len(kept), sorted(names & known))
    return kept, len(records) - len(kept)


UIS = Service(
    name="uis",
    conn_type="ident_uis",
    hook_path="ident_hooks.uis:UisHook",
    sources={
        "leads": LeadSource(
            fetch=fetch_leads,
            to_leads=lambda hook, records, settings: validate_leads(
                records, settings.tz, lambda record: lead_ticket(record, hook.timezone()), "id"
            ),
            exclude=exclude_groups,
        ),
        "calls": CallSource(
            pages=lambda hook, start, end, settings: hook.iter_calls(start, end, limit=settings.block.page_limit),
            ongoing=lambda hook, start, end, settings: (
                [record for record in page if record.get("finish_time") is None]
                for page in hook.iter_calls(start, end, limit=settings.block.page_limit, include_ongoing=True)
            ),
            mapper=call_mapper,
        ),
    },
)
