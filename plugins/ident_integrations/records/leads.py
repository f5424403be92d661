"""Leads ("заявки"): the record every lead source maps to, with IDENT's validation rules.

The field names accepted on input are IDENT's own (``GetTickets``, reference §2.4), so a service
whose payload differs maps its fields to these names and gets the same checks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, computed_field, model_validator

from ident_integrations.phones import PhoneError, check_phone, normalize_phone
from ident_integrations.records import (
    MAX_EXTERNAL_ID,
    AwareDateTime,
    RejectedRecord,
    Text,
    aware,
    blank_to_none,
    canonical_json,
    json_hash,
    text_or_none,
    validation_reason,
)

MAX_PLANNED_VISIT = timedelta(hours=12)


def _optional(max_length: int, alias: str) -> Any:
    return Field(None, max_length=max_length, validation_alias=alias)


class Lead(BaseModel):
    """One validated lead, service-neutral; ``raw`` keeps exactly what the service sent."""

    model_config = ConfigDict(frozen=True, str_strip_whitespace=True, extra="ignore")

    external_id: Annotated[str, BeforeValidator(text_or_none)] = Field(
        min_length=1, max_length=MAX_EXTERNAL_ID, validation_alias="Id"
    )
    created_at: Annotated[datetime, BeforeValidator(aware)] = Field(validation_alias="DateAndTime")
    phone_raw: Text = _optional(64, "ClientPhone")
    email: Text = _optional(255, "ClientEmail")
    full_name: Text = _optional(255, "ClientFullName")
    surname: Text = _optional(100, "ClientSurname")
    name: Text = _optional(100, "ClientName")
    patronymic: Text = _optional(100, "ClientPatronymic")
    form_name: Text = _optional(255, "FormName")
    doctor_id: Annotated[int | None, BeforeValidator(blank_to_none)] = Field(None, validation_alias="DoctorId")
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

    # Cached: a load reads each of these several times for every lead.
    @cached_property
    def key(self) -> tuple[str, datetime]:
        """IDENT's uniqueness key: (Id, DateAndTime)."""
        return self.external_id, self.created_at.astimezone(UTC)

    @cached_property
    def raw_json(self) -> str:
        """The payload exactly as received, as stored in ``raw_payload``."""
        return canonical_json(self.raw)

    @cached_property
    def content_hash(self) -> str:
        return json_hash(self.raw_json)


def validate_leads(
    records: Iterable[Any], tz: ZoneInfo, mapping: Callable[[dict], dict] | None = None, id_field: str = "Id"
) -> tuple[list[Lead], list[RejectedRecord]]:
    """Split what a service sent into valid leads and rejects with a reason; never raise per record.

    ``mapping`` turns a service's own record into IDENT's ticket fields (none: it already is one);
    the lead keeps the record as sent. ``id_field`` names the raw field the quarantine shows."""
    leads: list[Lead] = []
    rejects: list[RejectedRecord] = []
    for record in records:
        if not isinstance(record, dict):
            rejects.append(RejectedRecord(record, f"expected a JSON object, got {type(record).__name__}"))
            continue
        try:
            lead = Lead.model_validate(mapping(record) if mapping else record, context={"tz": tz})
        except ValidationError as exc:
            rejects.append(RejectedRecord.of(record, validation_reason(exc), id_field))
            continue
        except (ValueError, TypeError) as exc:  # the mapping met a value it cannot read
            rejects.append(RejectedRecord.of(record, str(exc), id_field))
            continue
        leads.append(lead.model_copy(update={"raw": record}))
    return leads, rejects
