"""IDENT's "Настройка интеграций" window as a validated file.

One ``defaults`` block (IDENT's italic defaults) and, per integration, only what differs. Every
setting resolves the same way, for every capability: the integration's value, else the one in
``defaults``, else the built-in default — :func:`resolve_fields`, with where each value came from.
The capability blocks (``leads:``, ``calls:``…) and the service names come from the registries in
``ident_integrations.registry``; nothing here changes when a capability or a service is added.

The file is ``include/integrations.yaml`` unless ``IDENT_INTEGRATIONS_FILE`` points elsewhere.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "include" / "integrations.yaml"
CONFIG_FILE_ENV = "IDENT_INTEGRATIONS_FILE"
# libyaml's safe loader when PyYAML has it: every DAG file reads the file, ten times faster so
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# Where a resolved value came from, as `ident config check` shows it.
INTEGRATION, DEFAULTS, BUILT_IN = "integration", "defaults", "built-in"

# Each bound is declared once and used for the built-in default, `defaults` and an override.
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
    """How one integration talks to its service."""

    timeout_seconds: TimeoutSeconds = 45
    request_attempts: RequestAttempts = 4
    request_backoff_seconds: BackoffSeconds = 2


class TaskSettings(_Strict):
    """How Airflow runs and retries the integration's tasks, and who hears when they fail."""

    owner: str = "ident"
    task_retries: TaskRetries = 3
    task_retry_delay_seconds: RetryDelaySeconds = 60
    # IDENT's "Роль для автозапуска": the Celery queue whose workers run the tasks (None = Airflow's
    # default queue, [operators] default_queue); ignored by the LocalExecutor of the demo
    queue: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)] | None = None


class AlertSettings(_Strict):
    """Who hears when an integration's DAG fails, lags or recovers, and how (``alerts:``).

    One alert per failed DAG run (not per retry), one when a DAG has not succeeded for longer than
    ``max_lag_minutes``, and one when it succeeds again (ident_integrations.alerts)."""

    email_to: tuple[str, ...] = ()  # through the smtp provider's SmtpNotifier
    email_from: str | None = None  # None: the SMTP connection's from_email
    smtp_conn_id: str = "smtp_default"
    sms_to: tuple[str, ...] = ()  # on-call numbers, through SMSC
    smsc_conn_id: str | None = None  # an ident_smsc connection; needed when sms_to is set
    recovery: bool = True  # a message when the DAG succeeds again
    # None: 10 minutes for leads, twice the capability's interval for the others
    max_lag_minutes: Annotated[int | None, Field(ge=1, le=10080)] = None

    @model_validator(mode="after")
    def _sms_needs_a_connection(self) -> AlertSettings:
        if self.sms_to and not self.smsc_conn_id:
            raise ValueError("alerts.sms_to needs alerts.smsc_conn_id (an ident_smsc connection)")
        return self


_DAYS_AGO = re.compile(r"^\s*(\d{1,5}) days? ago\s*$")


def _relative_date(value: Any) -> Any:
    """``30 days ago`` counts back from the day the file is read: a start date that never goes
    stale (the demo's). It matters only for the first run; later runs go on from where they ended."""
    if not isinstance(value, str):
        return value
    if match := _DAYS_AGO.match(value):
        return date.today() - timedelta(days=int(match.group(1)))
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"{value!r} is not a date: write YYYY-MM-DD or 'N days ago'") from None


# A table of the clinic's own database (service clinic_db): a plain name or ``schema.name``.
TableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", max_length=128)]
StartDate = Annotated[date | None, BeforeValidator(_relative_date)]


class CapabilitySettings(_Strict):
    """What every capability block has; a capability subclasses it with its own fields and defaults."""

    enabled: bool = True
    start_date: StartDate = None  # first day to load; None = the day the integration was first run
    interval_minutes: IntervalMinutes = 60


# --- generic resolution ---------------------------------------------------------------------------


def partial_model(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional and unset by default, keeping each field's bounds: what
    ``defaults`` and an integration may write (a value left out falls back to the next layer)."""
    fields: dict[str, Any] = {}
    for field_name, field in model.model_fields.items():
        annotation = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
        fields[field_name] = (Optional[annotation], None)  # noqa: UP045 - built at run time
    return create_model(name, __base__=_Strict, **fields)


def resolve_fields(
    model: type[BaseModel], layers: Iterable[tuple[str, BaseModel | None]]
) -> tuple[BaseModel, dict[str, str]]:
    """Fill ``model`` field by field from the first layer that sets it, else its built-in default.

    Returns the model and, per field, where its value came from (a layer's name or ``built-in``).
    A layer "sets" a field when the file wrote a value for it (``null`` counts as not written).
    """
    layers = [(source, layer) for source, layer in layers if layer is not None]
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for name in model.model_fields:
        sources[name] = BUILT_IN
        for source, layer in layers:
            value = getattr(layer, name, None)
            if name in layer.model_fields_set and value is not None:
                values[name], sources[name] = value, source
                break
    return model.model_validate(values), sources


@dataclass(frozen=True)
class ResolvedCapability:
    """One integration's settings for one capability after resolution: what its DAG runs with."""

    capability: str
    integration: str
    service: str
    conn_id: str
    description: str
    clinic: Clinic
    block: CapabilitySettings  # the capability's own block model, every field filled
    request: RequestSettings
    task: TaskSettings
    sources: Mapping[str, str]  # "leads.page_size" / "timeout_seconds" -> integration/defaults/built-in
    # Every capability the integration has enabled (e.g. the schedule export imports leads first)
    capabilities: tuple[str, ...] = ()
    alerts: AlertSettings = AlertSettings()

    @property
    def dag_id(self) -> str:
        return f"ident_{self.capability}__{self.integration}"

    @property
    def timezone(self) -> str:
        return self.clinic.timezone

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.clinic.timezone)

    @property
    def ident_conn_id(self) -> str:
        return self.clinic.ident_conn_id


def _enabled(block: Any) -> bool:
    """An integration's capability block is on: written, and not switched off."""
    return block is not None and block.enabled is not False


class IntegrationBase(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$", max_length=64)
    conn_id: str = Field(min_length=1)
    description: str = ""

    @model_validator(mode="after")
    def _service_runs_its_capabilities(self) -> IntegrationBase:
        from ident_integrations.registry import CAPABILITIES, SERVICES

        service = SERVICES.get(self.service)
        for name, capability in CAPABILITIES.items():
            block = getattr(self, name)
            if _enabled(block) and (service is None or not service.supports(name)):
                raise ValueError(f"service {self.service!r} cannot {capability.action} yet")
            if _enabled(block) and name in service.needs:
                needed, why = service.needs[name]
                if not _enabled(getattr(self, needed)):
                    raise ValueError(f"service {self.service!r}: a {name} block needs a {needed} block too ({why})")
        return self


class CacheCheck(_Strict):
    """IDENT's "Проверка кэша интеграций" as a daily DAG: re-pull the last closed days and repair."""

    enabled: bool = True
    days: Annotated[int, Field(ge=1, le=90)] = 7  # closed days re-pulled, yesterday backwards
    at: str = Field("05:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # clinic time, HH:MM


class Retention(_Strict):
    """How long the IDENT database keeps its logs (``ident_exchange_log``, ``ident_rejects``): a daily
    DAG deletes older rows in batches of ``batch_size``, one short transaction each."""

    enabled: bool = True
    days: Annotated[int, Field(ge=1, le=3650)] = 30  # rows older than this many days are deleted
    at: str = Field("04:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")  # clinic time, HH:MM
    batch_size: Annotated[int, Field(ge=1, le=100_000)] = 5000  # rows per DELETE (per transaction)


class ConfigBase(_Strict):
    clinic: Clinic = Clinic()
    cache_check: CacheCheck = CacheCheck()
    retention: Retention = Retention()

    @model_validator(mode="after")
    def _unique_names(self) -> ConfigBase:
        seen: set[str] = set()
        for integration in self.integrations:
            if integration.name in seen:
                raise ValueError(f"integration name {integration.name!r} is used twice")
            seen.add(integration.name)
        return self

    def _resolve(self, integration: Any, capability: Any) -> ResolvedCapability:
        from ident_integrations.registry import CAPABILITIES

        block, block_sources = resolve_fields(
            capability.settings,
            [(INTEGRATION, getattr(integration, capability.name)), (DEFAULTS, getattr(self.defaults, capability.name))],
        )
        layers = [(INTEGRATION, integration), (DEFAULTS, self.defaults)]
        request, request_sources = resolve_fields(RequestSettings, layers)
        task, task_sources = resolve_fields(TaskSettings, layers)
        alerts, alert_sources = resolve_fields(
            AlertSettings, [(INTEGRATION, integration.alerts), (DEFAULTS, self.defaults.alerts)]
        )
        return ResolvedCapability(
            capability=capability.name,
            integration=integration.name,
            service=integration.service,
            conn_id=integration.conn_id,
            description=integration.description,
            clinic=self.clinic,
            block=block,
            request=request,
            task=task,
            sources={
                **{f"{capability.name}.{k}": v for k, v in block_sources.items()},
                **request_sources,
                **task_sources,
                **{f"alerts.{k}": v for k, v in alert_sources.items()},
            },
            capabilities=tuple(name for name in CAPABILITIES if _enabled(getattr(integration, name))),
            alerts=alerts,
        )

    def blocks(self, capability: str | None = None) -> list[ResolvedCapability]:
        """Every capability block written in the file (enabled or not), resolved, in file order."""
        from ident_integrations.registry import CAPABILITIES

        wanted = [CAPABILITIES[capability]] if capability else list(CAPABILITIES.values())
        return [
            self._resolve(integration, cap)
            for integration in self.integrations
            for cap in wanted
            if getattr(integration, cap.name) is not None
        ]

    def enabled(self, capability: str | None = None) -> list[ResolvedCapability]:
        """What gets a DAG: every enabled block of ``capability`` (or of every capability)."""
        return [resolved for resolved in self.blocks(capability) if resolved.block.enabled]

    def resolve(self, integration: str, capability: str) -> ResolvedCapability:
        for resolved in self.enabled(capability):
            if resolved.integration == integration:
                return resolved
        raise ConfigError(f"no enabled {capability} block for integration {integration!r} in the integrations file")


@functools.cache
def config_model(capabilities: tuple[Any, ...], services: tuple[str, ...]) -> type[ConfigBase]:
    """The file's model for these registries: a block per capability in ``defaults`` and in each
    integration, and the known service names. Built on demand so that the registries stay the
    only place that lists capabilities and services (a test can register a toy one)."""
    blocks = {cap.name: partial_model(cap.settings, f"{cap.name.title()}Block") for cap in capabilities}
    shared = {
        **partial_model(RequestSettings, "RequestOverrides").model_fields,
        **partial_model(TaskSettings, "TaskOverrides").model_fields,
    }
    field_defs = {name: (field.annotation, None) for name, field in shared.items()}
    alerts = partial_model(AlertSettings, "AlertsBlock")
    defaults = create_model(
        "Defaults",
        __base__=_Strict,
        **field_defs,
        alerts=(alerts, alerts()),
        **{name: (block, block()) for name, block in blocks.items()},
    )
    integration = create_model(
        "Integration",
        __base__=IntegrationBase,
        service=(Literal[services], ...),
        **field_defs,
        alerts=(Optional[alerts], None),  # noqa: UP045
        **{name: (Optional[block], None) for name, block in blocks.items()},  # noqa: UP045
    )
    return create_model(
        "IntegrationsConfig",
        __base__=ConfigBase,
        defaults=(defaults, defaults()),
        integrations=(tuple[integration, ...], ()),
    )


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


def _problems(exc: ValidationError, raw: Any, prefix: tuple[Any, ...] = ()) -> list[str]:
    problems = []
    for error in exc.errors():
        loc = prefix + tuple(part for part in error["loc"] if not str(part).startswith("function-after"))
        message = error["msg"].removeprefix("Value error, ")
        problems.append(f"{_describe_location(raw, loc)}: {message}")
    return problems


def parse_config(raw: Any, source: str) -> ConfigBase:
    """Validate the file's content and resolve every block once, so that a mistake anywhere —
    including one only the merged values reveal — is reported now, naming file, integration, field."""
    from ident_integrations.registry import CAPABILITIES, known_services

    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"Invalid integrations file {source}: the top level must be a mapping")
    model = config_model(tuple(CAPABILITIES.values()), known_services())
    try:
        config = model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"Invalid integrations file {source}: " + "; ".join(_problems(exc, raw))) from None
    for index, integration in enumerate(config.integrations):
        for cap in CAPABILITIES.values():
            if getattr(integration, cap.name) is None:
                continue
            try:
                config._resolve(integration, cap)
            except ValidationError as exc:
                problems = _problems(exc, raw, ("integrations", index, cap.name))
                raise ConfigError(f"Invalid integrations file {source}: " + "; ".join(problems)) from None
    return config


def load_config(path: Path | str | None = None) -> ConfigBase:
    """Read and validate the integrations file; raise ConfigError with one clear message."""
    path = Path(path) if path else config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"Cannot read integrations file {path}: {exc.strerror}") from None
    try:
        raw = yaml.load(text, Loader=SAFE_LOADER)
    except yaml.YAMLError as exc:
        raise ConfigError(f"Invalid integrations file {path}: not valid YAML: {exc}") from None
    return parse_config(raw, str(path))
