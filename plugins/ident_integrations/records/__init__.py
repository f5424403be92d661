"""Typed, validated, service-neutral records (Lead; later Call, Slot, Message…) and what they share:
field parsers, the quarantine record with its reason, and the payload hash that makes loads idempotent.

A service's mapping turns its raw records into these; the store writes only these.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import msgspec
from pydantic import BeforeValidator, ValidationError, ValidationInfo

MAX_EXTERNAL_ID = 191


def parse_service_datetime(value: Any, tz: ZoneInfo) -> datetime:
    """ISO 8601 as lead services write it: ``+03:00``, ``+0300``, ``Z`` or no offset (= clinic time)."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO 8601 date and time") from None
    else:
        raise ValueError(f"{value!r} is not an ISO 8601 date and time")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def aware(value: Any, info: ValidationInfo) -> Any:
    if value is None or value == "":
        return None
    return parse_service_datetime(value, (info.context or {}).get("tz", ZoneInfo("UTC")))


def text_or_none(value: Any) -> Any:
    """Numbers sent where text is expected (ids, phones) are taken as text; blanks mean absent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


AwareDateTime = Annotated[datetime | None, BeforeValidator(aware)]
Text = Annotated[str | None, BeforeValidator(text_or_none)]


def payload_hash(payload: Any) -> str:
    return json_hash(canonical_json(payload))


def json_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Keys sorted, no spaces, UTF-8 as is: the text json.dumps(sort_keys=True, ensure_ascii=False,
# separators=(",", ":")) writes for what services send (tests/unit/test_records.py holds them
# equal), made about eight times faster: a year of calls hashes and stores ~100 000 payloads. From a
# clinic's table, a datetime is written in ISO 8601 and a Decimal as its text.
_CANONICAL = msgspec.json.Encoder(order="sorted", enc_hook=str)


def canonical_json(payload: Any) -> str:
    return _CANONICAL.encode(payload).decode("utf-8")


@dataclass(frozen=True)
class RejectedRecord:
    """A record that failed validation: kept whole in ident_rejects with the reason."""

    raw: Any
    reason: str
    external_id: str | None = None

    @classmethod
    def of(cls, raw: Any, reason: str, id_field: str) -> RejectedRecord:
        """Reject raw, taking its id (if any) from id_field for the quarantine's search column."""
        value = raw.get(id_field) if isinstance(raw, dict) else None
        return cls(raw, reason, None if value is None else str(value)[:MAX_EXTERNAL_ID])


def validation_reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)
