"""The clinic's own service over HTTP ("Вариант с HTTP"): IDENT's protocol, so a ticket from
``GetTickets`` already carries IDENT's field names and maps to a Lead as it is."""

from __future__ import annotations

from ident_integrations.capabilities.leads import LeadSource
from ident_integrations.records.leads import validate_leads
from ident_integrations.services import Service

CLINIC_HTTP = Service(
    name="clinic_http",
    conn_type="ident_clinic_http",
    hook_path="ident_hooks.clinic_http:ClinicHttpHook",
    sources={
        "leads": LeadSource(
            fetch=lambda hook, start, end, settings: hook.get_tickets(start, end, settings.block.page_size),
            to_leads=validate_leads,
        ),
    },
)
