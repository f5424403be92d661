"""UIS / CoMagic (one platform, two hosts): call history from the Data API's ``get.calls_report``.

Dates come in the account's own timezone (``get.account``) without an offset; recordings come as
ids, turned into playback links by the hook (reference §1.3).
"""

from __future__ import annotations

from typing import Any

from ident_integrations.capabilities.calls import CallMapper, CallSource
from ident_integrations.config import ResolvedCapability
from ident_integrations.records.calls import validate_calls
from ident_integrations.services import Service

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


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


UIS = Service(
    name="uis",
    conn_type="ident_uis",
    hook_path="ident_hooks.uis:UisHook",
    sources={
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
