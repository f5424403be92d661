"""Flexbe landing pages: leads from the legacy site API's ``getLeads`` (reference external-apis.md §2).

A Flexbe form is the clinic's own design, so its fields are found the way IDENT's "Тип поля" /
"Имя поля" settings find them: ``leads.field_map`` maps our fields (``name``, ``phone``, ``email``,
``comment``, ``doctor``) to a Flexbe field *type* (``phone``, ``textarea``…) or field *name*
("Удобное время для звонка"); :data:`DEFAULT_FIELD_MAP` covers the common ones. The lead's own
``client`` block wins for name, phone and e-mail when it has them. A form field that maps to
nothing stays in the raw payload and is named once per run in a warning. Flexbe has no referrer:
the landing URL with its query (``utm.url``), else the page, stands in.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.leads import validate_leads
from ident_integrations.services import Service

log = logging.getLogger(__name__)
DEFAULT_FIELD_MAP = {"name": "name", "phone": "phone", "email": "email", "comment": "textarea"}
UTM = {"UtmSource": "utm_source", "UtmMedium": "utm_medium", "UtmCampaign": "utm_campaign", "UtmTerm": "utm_term",
       "UtmContent": "utm_content"}  # fmt: skip


def _dict(value: Any) -> dict:
    return value if isinstance(value, dict) else {}  # PHP sends an empty object as []


def lead_ticket(lead: dict[str, Any], field_map: dict[str, str], unmapped: set[str]) -> dict[str, Any]:
    """A Flexbe lead in IDENT's ticket fields; names of form fields nothing took go to ``unmapped``."""
    from ident_hooks.flexbe import lead_time

    client, utm, page = _dict(lead.get("client")), _dict(lead.get("utm")), _dict(lead.get("page"))
    fields = [field for field in _dict(lead.get("form_data")).values() if isinstance(field, dict)]
    taken: dict[str, list[str]] = {ours: [] for ours in field_map}
    for field in fields:
        owners = [ours for ours, spec in field_map.items() if spec in (field.get("type"), field.get("name"))]
        value = field.get("value")
        for ours in owners:
            if value not in (None, ""):
                taken[ours].append(str(value))
        if not owners and value not in (None, ""):
            unmapped.add(str(field.get("name") or field.get("id")))

    def first(ours: str, own: Any = None) -> Any:
        return own if own not in (None, "") else next(iter(taken.get(ours) or ()), None)

    moment = lead_time(lead)
    if moment is None:
        raise ValueError(f"time {lead.get('time')!r} is not Unix seconds")
    return {
        "Id": lead.get("id"),
        "DateAndTime": moment,
        "ClientPhone": first("phone", client.get("phone")),
        "ClientFullName": first("name", client.get("name")),
        "ClientEmail": first("email", client.get("email")),
        "Comment": "\n".join(taken.get("comment") or ()) or None,
        "DoctorName": first("doctor"),
        "FormName": lead.get("form_name"),
        **{ident: utm.get(theirs) or None for ident, theirs in UTM.items()},
        "HttpReferer": utm.get("url") or (f"https://{page['url']}" if page.get("url") else None),
    }


def fetch(hook: Any, start: datetime, end: datetime, settings: ResolvedCapability) -> list[Any]:
    from ident_hooks.flexbe import lead_time

    leads = [lead for page in hook.iter_leads(start, settings.block.page_size) for lead in page]
    return [lead for lead in leads if (lead_time(lead) or start) <= end]  # a lead after "now" waits


def to_leads(hook: Any, records: list[Any], settings: ResolvedCapability) -> tuple:
    field_map = {**DEFAULT_FIELD_MAP, **settings.block.field_map}
    unmapped: set[str] = set()
    result = validate_leads(records, settings.tz, lambda lead: lead_ticket(lead, field_map, unmapped), "id")
    if unmapped:
        names = ", ".join(sorted(unmapped))
        log.warning(
            "Flexbe %s: form field(s) %s map to no lead field and stay in the raw payload only "
            "(leads.field_map names a field by its type or its name)", settings.integration, names,
        )  # fmt: skip
    return result


FLEXBE = Service(
    name="flexbe",
    conn_type="ident_flexbe",
    hook_path="ident_hooks.flexbe:FlexbeHook",
    sources={"leads": LeadSource(fetch=fetch, to_leads=to_leads)},
)
