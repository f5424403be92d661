"""Leads ("заявки"): the record every lead source maps to, IDENT's validation rules, and the window.

The field names accepted on input are IDENT's own (``GetTickets``, reference §2.4), so a service
whose payload differs maps its fields to these names and gets the same checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import pendulum
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    computed_field,
    model_validator,
)

from ident_integrations.phones import PhoneError, check_phone, normalize_phone

MAX_PLANNED_VISIT = timedelta(hours=12)


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


def _aware(value: Any, info: ValidationInfo) -> Any:
    if value is None or value == "":
        return None
    return parse_service_datetime(value, (info.context or {}).get("tz", ZoneInfo("UTC")))


def _text(value: Any) -> Any:
    """Numbers sent where text is expected (ids, phones) are taken as text; blanks mean absent."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return str(int(value)) if float(value).is_integer() else str(value)
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and not value.strip() else value


AwareDateTime = Annotated[datetime | None, BeforeValidator(_aware)]
Text = Annotated[str | None, BeforeValidator(_text)]


def _optional(max_length: int, alias: str) -> Any:
    return Field(None, max_length=max_length, validation_alias=alias)


class Lead(BaseModel):
    """One validated lead, service-neutral; ``raw`` keeps exactly what the service sent."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="ignore")

    external_id: Annotated[str, BeforeValidator(_text)] = Field(min_length=1, max_length=191, validation_alias="Id")
    created_at: Annotated[datetime, BeforeValidator(_aware)] = Field(validation_alias="DateAndTime")
    phone_raw: Text = _optional(64, "ClientPhone")
    email: Text = _optional(255, "ClientEmail")
    full_name: Text = _optional(255, "ClientFullName")
    surname: Text = _optional(100, "ClientSurname")
    name: Text = _optional(100, "ClientName")
    patronymic: Text = _optional(100, "ClientPatronymic")
    form_name: Text = _optional(255, "FormName")
    doctor_id: Annotated[int | None, BeforeValidator(_blank_to_none)] = Field(None, validation_alias="DoctorId")
    doctor_name: Text = _optional(255, "DoctorName")
    plan_start: AwareDateTime = Field(None, validation_alias="PlanStart")
    plan_end: AwareDateTime = Field(None, validation_alias="PlanEnd")
    comment: Text = _optional(10000, "Comment")
    utm_source: Text = _optional(255, "UtmSource")
    utm_medium: Text = _optional(255, "UtmMedium")
    utm_campaign: Text = _optional(255, "UtmCampaign")
    utm_term: Text = _optional(255, "UtmTerm")
    utm_content: Text = _optional(255, "UtmContent")
    http_referer: Text = _optional(2000, "HttpReferer")
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True)

    @computed_field
    @property
    def phone(self) -> str | None:
        return normalize_phone(self.phone_raw) if self.phone_raw else None

    @model_validator(mode="after")
    def _ident_rules(self) -> Lead:
        if not self.phone_raw:
            raise ValueError("ClientPhone is required")
        try:
            check_phone(self.phone_raw)
        except PhoneError as exc:
            raise ValueError(str(exc)) from None
        if self.full_name and (self.surname or self.name or self.patronymic):
            raise ValueError(
                "ClientFullName and ClientSurname/ClientName/ClientPatronymic are both set; send one or the other"
            )
        if self.plan_start and self.plan_end:
            if self.plan_start > self.plan_end:
                raise ValueError("PlanStart is after PlanEnd")
            if self.plan_end - self.plan_start > MAX_PLANNED_VISIT:
                raise ValueError("PlanStart and PlanEnd are more than 12 hours apart")
        return self

    @property
    def key(self) -> tuple[str, datetime]:
        """IDENT's uniqueness key: (Id, DateAndTime)."""
        return self.external_id, self.created_at.astimezone(ZoneInfo("UTC"))

    @property
    def content_hash(self) -> str:
        return payload_hash(self.raw)


def payload_hash(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def canonical_json(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


@dataclass(frozen=True)
class RejectedRecord:
    raw: Any
    reason: str

    @property
    def external_id(self) -> str | None:
        value = self.raw.get("Id") if isinstance(self.raw, dict) else None
        return None if value is None else str(value)[:191]


def _reason(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        field = ".".join(str(p) for p in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{field}: {message}" if field else message)
    return "; ".join(parts)


def validate_leads(records: Iterable[Any], tz: ZoneInfo) -> tuple[list[Lead], list[RejectedRecord]]:
    """Split what a service sent into valid leads and rejects with a reason; never raise per record."""
    leads: list[Lead] = []
    rejects: list[RejectedRecord] = []
    for record in records:
        if not isinstance(record, dict):
            rejects.append(RejectedRecord(record, f"expected a JSON object, got {type(record).__name__}"))
            continue
        try:
            lead = Lead.model_validate(record, context={"tz": tz})
        except ValidationError as exc:
            rejects.append(RejectedRecord(record, _reason(exc)))
            continue
        leads.append(lead.model_copy(update={"raw": record}))
    return leads, rejects


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
