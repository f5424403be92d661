"""Calls (telephony call history): the record every call source maps to, with the checks that keep
wrong data out of the IDENT database (IDENT's examples: missing recordings, negative talk time).

Unlike a lead, a call has no IDENT wire format every service speaks, so the fields are our own
service-neutral names; each service's mapping (``services/<name>.py``) fills them from its payload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SkipValidation,
    ValidationError,
    ValidationInfo,
    computed_field,
    model_validator,
)

from ident_integrations.phones import normalize_phone
from ident_integrations.records import (
    MAX_EXTERNAL_ID,
    RejectedRecord,
    canonical_json,
    json_hash,
    parse_service_datetime,
    text_or_none,
    validation_reason,
)

Seconds = Annotated[int | None, Field(ge=0, le=7 * 24 * 3600)]
# The text fields: a number is taken as its text (ids and phones arrive as JSON numbers), a blank
# means absent — done for all of them in one step per record (see Call._prepare), not per field.
_TEXT_FIELDS = (
    "external_id", "contact_phone_raw", "virtual_phone", "finish_reason", "employee_name", "scenario_name",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer",
)  # fmt: skip
_TIME_FIELDS = ("started_at", "finished_at")


def _text(max_length: int) -> Any:
    return Field(None, max_length=max_length)


class Call(BaseModel):
    """One call, finished (``finished_at`` set) or still in progress; ``raw`` is what the service sent."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="forbid")

    external_id: str = Field(min_length=1, max_length=MAX_EXTERNAL_ID)
    started_at: datetime
    finished_at: datetime | None = None  # None: the call is still in progress
    direction: Literal["in", "out"]
    is_lost: bool = False
    contact_phone_raw: str | None = _text(64)
    virtual_phone: str | None = _text(64)
    wait_seconds: Seconds = None
    talk_seconds: Seconds = None
    total_seconds: Seconds = None
    finish_reason: str | None = _text(100)
    employee_name: str | None = _text(255)
    scenario_name: str | None = _text(255)
    record_urls: tuple[str, ...] = ()
    utm_source: str | None = _text(255)
    utm_medium: str | None = _text(255)
    utm_campaign: str | None = _text(255)
    utm_term: str | None = _text(255)
    utm_content: str | None = _text(255)
    referrer: str | None = _text(2000)
    raw: SkipValidation[dict[str, Any]] = Field(default_factory=dict, exclude=True)  # kept as sent

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        """Texts and date-times as the fields want them, in one pass (a year of calls is ~100 000
        records): numbers as text, blanks as absent, a date-time without a zone in the context's."""
        if not isinstance(data, dict):
            return data
        for name in _TEXT_FIELDS:
            value = data.get(name)
            if value is not None and (type(value) is not str or not value.strip()):
                data[name] = text_or_none(value)
        tz = (info.context or {}).get("tz", UTC)
        for name in _TIME_FIELDS:
            value = data.get(name)
            if value == "":
                data[name] = None
            elif value is not None and not (isinstance(value, datetime) and value.tzinfo is not None):
                try:
                    data[name] = parse_service_datetime(value, tz)
                except ValueError as exc:
                    raise ValueError(f"{name}: {exc}") from None  # the reason names the field
        return data

    @computed_field
    @property
    def contact_phone(self) -> str | None:
        """``+7XXXXXXXXXX`` where the number allows it; an anonymous or foreign caller stays raw only."""
        return normalize_phone(self.contact_phone_raw) if self.contact_phone_raw else None

    @model_validator(mode="after")
    def _consistent(self) -> Call:
        if self.finished_at is not None and self.finished_at < self.started_at:
            raise ValueError("the call finishes before it starts")
        return self

    @property
    def is_ongoing(self) -> bool:
        return self.finished_at is None

    @cached_property
    def started_utc(self) -> datetime:
        return self.started_at.astimezone(UTC)

    @cached_property
    def raw_json(self) -> str:
        return canonical_json(self.raw)

    @cached_property
    def content_hash(self) -> str:
        return json_hash(self.raw_json)


CallMapping = Callable[[dict[str, Any]], dict[str, Any]]


def validate_calls(
    records: Iterable[Any], mapping: CallMapping, tz: ZoneInfo, id_field: str
) -> tuple[list[Call], list[RejectedRecord]]:
    """Map and validate each raw record; a record that fails becomes a reject with the reason
    (``id_field`` names the raw field the quarantine shows as its id). Never raises per record."""
    calls: list[Call] = []
    rejects: list[RejectedRecord] = []
    for record in records:
        if not isinstance(record, dict):
            rejects.append(RejectedRecord(record, f"expected a JSON object, got {type(record).__name__}"))
            continue
        try:
            call = Call.model_validate({**mapping(record), "raw": record}, context={"tz": tz})
        except ValidationError as exc:
            rejects.append(RejectedRecord.of(record, validation_reason(exc), id_field))
            continue
        except (ValueError, TypeError) as exc:  # the mapping met a value it cannot read
            rejects.append(RejectedRecord.of(record, str(exc), id_field))
            continue
        calls.append(call)
    return calls, rejects
