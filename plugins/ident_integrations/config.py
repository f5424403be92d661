"""IDENT's "Настройка интеграций" window as a validated file.

One ``defaults`` block (IDENT's italic defaults) and, per integration, only what differs.
The file is ``include/integrations.yaml`` unless ``IDENT_INTEGRATIONS_FILE`` points elsewhere.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "include" / "integrations.yaml"
CONFIG_FILE_ENV = "IDENT_INTEGRATIONS_FILE"

Service = Literal[
    "clinic_http",
    "clinic_db",
    "uis",
    "flexbe",
    "napopravku",
    "prodoctorov",
    "sberzdorovie",
    "top32",
    "dadata",
    "smsc",
    "google_calendar",
]

# Which capability each service can run today. A service gains a capability when its hook lands.
SERVICE_CAPABILITIES: dict[str, frozenset[str]] = {
    "clinic_http": frozenset({"leads"}),
}


# Each bound is declared once and used both for `defaults` and for an integration's override.
TimeoutSeconds = Annotated[float, Field(gt=0, le=600)]
RequestAttempts = Annotated[int, Field(ge=1, le=20)]
BackoffSeconds = Annotated[float, Field(ge=0, le=300)]
TaskRetries = Annotated[int, Field(ge=0, le=20)]
RetryDelaySeconds = Annotated[int, Field(ge=0, le=3600)]
IntervalMinutes = Annotated[int, Field(ge=1, le=1440)]
PageSize = Annotated[int, Field(ge=1, le=10000)]


class ConfigError(ValueError):
    """The integrations file is missing or invalid; the message names file, integration and field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Clinic(_Strict):
    timezone: str = "Europe/Moscow"
    ident_conn_id: str = "ident_db"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r} (use an IANA name like Europe/Moscow)") from exc
        return value


class RequestSettings(_Strict):
    """How one integration talks to its service; every field can be overridden per integration."""

    timeout_seconds: TimeoutSeconds = 45
    request_attempts: RequestAttempts = 4
    request_backoff_seconds: BackoffSeconds = 2


class TaskSettings(_Strict):
    owner: str = "ident"
    task_retries: TaskRetries = 3
    task_retry_delay_seconds: RetryDelaySeconds = 60
    alert_emails: tuple[str, ...] = ()


class LeadDefaults(_Strict):
    interval_minutes: IntervalMinutes = 2
    page_size: PageSize = 500


class Defaults(RequestSettings, TaskSettings):
    leads: LeadDefaults = LeadDefaults()


class LeadBlock(_Strict):
    """An integration's ``leads:`` block: on/off, the first day to load, and overrides."""

    enabled: bool = True
    start_date: date | None = None
    interval_minutes: IntervalMinutes | None = None
    page_size: PageSize | None = None


class Integration(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    service: Service
    conn_id: str = Field(min_length=1)
    description: str = ""
    timeout_seconds: TimeoutSeconds | None = None
    request_attempts: RequestAttempts | None = None
    request_backoff_seconds: BackoffSeconds | None = None
    owner: str | None = None
    task_retries: TaskRetries | None = None
    task_retry_delay_seconds: RetryDelaySeconds | None = None
    alert_emails: tuple[str, ...] | None = None
    leads: LeadBlock | None = None

    @model_validator(mode="after")
    def _service_supports_capabilities(self) -> Integration:
        supported = SERVICE_CAPABILITIES.get(self.service, frozenset())
        if self.leads is not None and self.leads.enabled and "leads" not in supported:
            raise ValueError(f"service {self.service!r} cannot import leads yet")
        return self


class ResolvedLeads(BaseModel):
    """Lead-import settings of one integration after falling back to ``defaults``."""

    model_config = ConfigDict(frozen=True)

    integration: str
    service: str
    conn_id: str
    description: str
    timezone: str
    ident_conn_id: str
    start_date: date | None
    interval_minutes: int
    page_size: int
    request: RequestSettings
    task: TaskSettings

    @property
    def dag_id(self) -> str:
        return f"ident_leads__{self.integration}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class IntegrationsConfig(_Strict):
    clinic: Clinic = Clinic()
    defaults: Defaults = Defaults()
    integrations: tuple[Integration, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> IntegrationsConfig:
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.name in seen:
                raise ValueError(f"integration name {integration.name!r} is used twice")
            seen.add(integration.name)
        return self

    def _overrides(self, integration: Integration, model: type[BaseModel]) -> dict[str, Any]:
        base = {field: getattr(self.defaults, field) for field in model.model_fields}
        own = {field: getattr(integration, field) for field in model.model_fields}
        return {**base, **{k: v for k, v in own.items() if v is not None}}

    def lead_imports(self) -> list[ResolvedLeads]:
        """Every integration whose ``leads`` block is enabled, with defaults filled in."""
        resolved = []
        for integration in self.integrations:
            block = integration.leads
            if block is None or not block.enabled:
                continue
            resolved.append(
                ResolvedLeads(
                    integration=integration.name,
                    service=integration.service,
                    conn_id=integration.conn_id,
                    description=integration.description,
                    timezone=self.clinic.timezone,
                    ident_conn_id=self.clinic.ident_conn_id,
                    start_date=block.start_date,
                    interval_minutes=block.interval_minutes or self.defaults.leads.interval_minutes,
                    page_size=block.page_size or self.defaults.leads.page_size,
                    request=RequestSettings(**self._overrides(integration, RequestSettings)),
                    task=TaskSettings(**self._overrides(integration, TaskSettings)),
                )
            )
        return resolved

    def lead_import(self, integration: str) -> ResolvedLeads:
        for item in self.lead_imports():
            if item.integration == integration:
                return item
        raise ConfigError(f"no enabled lead import named {integration!r} in the integrations file")


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_FILE_ENV) or DEFAULT_CONFIG_FILE)


def _describe_location(raw: Any, loc: tuple[Any, ...]) -> str:
    """Turn pydantic's ``('integrations', 0, 'leads', 'page_size')`` into words a person can act on."""
    if len(loc) >= 2 and loc[0] == "integrations" and isinstance(loc[1], int):
        name = None
        try:
            name = raw["integrations"][loc[1]].get("name")
        except (KeyError, IndexError, TypeError, AttributeError):
            pass
        who = f"integration {name!r}" if name else f"integration #{loc[1] + 1}"
        field = ".".join(str(part) for part in loc[2:]) or "(the whole entry)"
        return f"{who}, field {field!r}"
    return f"field {'.'.join(str(part) for part in loc)!r}"


def parse_config(raw: Any, source: str) -> IntegrationsConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid integrations file {source}: the top level must be a mapping")
    try:
        return IntegrationsConfig.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(part for part in error["loc"] if not str(part).startswith("function-after"))
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{_describe_location(raw, loc)}: {message}")
        raise ConfigError(f"Invalid integrations file {source}: " + "; ".join(problems)) from None


def load_config(path: Path | str | None = None) -> IntegrationsConfig:
    """Read and validate the integrations file; raise ConfigError with one clear message."""
    path = Path(path) if path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read integrations file {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"Invalid integrations file {path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path))
