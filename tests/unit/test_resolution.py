"""Generic settings resolution: every field kind comes from the integration, else from `defaults`,
else from the built-in default — for capability blocks and for request and task settings alike —
and the resolved settings say where each value came from."""

from datetime import date

import pytest
from pydantic import BaseModel, Field

from ident_integrations.config import (
    BUILT_IN,
    DEFAULTS,
    INTEGRATION,
    ConfigError,
    parse_config,
    partial_model,
    resolve_fields,
)


def resolved(defaults: dict, own: dict, leads: dict | None = None):
    config = parse_config(
        {
            "defaults": defaults,
            "integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", **own, "leads": leads or {}}],
        },
        "test.yaml",
    )
    return config.resolve("site", "leads")


# (setting, where it is written, a value, what resolves) — one per field kind.
FIELD_KINDS = [
    ("leads.page_size", "block", 250, 250),  # int with bounds
    ("leads.start_date", "block", "2026-11-01", date(2026, 11, 1)),  # date
    ("leads.enabled", "block", True, True),  # bool
    ("timeout_seconds", "top", 12.5, 12.5),  # float
    ("owner", "top", "marketing", "marketing"),  # str
    ("alerts.email_to", "alerts", ["a@clinic.example"], ("a@clinic.example",)),  # tuple, in a shared block
]


def value_of(settings, name: str):
    if name.startswith("leads."):
        return getattr(settings.block, name.removeprefix("leads."))
    if name.startswith("alerts."):
        return getattr(settings.alerts, name.removeprefix("alerts."))
    return getattr(settings.request if hasattr(settings.request, name) else settings.task, name)


def written(name: str, where: str, value) -> dict:
    if where in ("block", "alerts"):
        block, _, field = name.partition(".")
        return {block: {field: value}}
    return {name: value}


@pytest.mark.parametrize(("name", "where", "value", "expected"), FIELD_KINDS)
def test_a_value_set_on_the_integration_wins(name, where, value, expected):
    own = written(name, where, value)
    settings = resolved({}, {k: v for k, v in own.items() if k != "leads"}, own.get("leads"))
    assert value_of(settings, name) == expected
    assert settings.sources[name] == INTEGRATION


@pytest.mark.parametrize(("name", "where", "value", "expected"), FIELD_KINDS)
def test_a_value_only_in_defaults_is_taken_from_defaults(name, where, value, expected):
    settings = resolved(written(name, where, value), {})
    assert value_of(settings, name) == expected
    assert settings.sources[name] == DEFAULTS


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("leads.page_size", 500),
        ("leads.interval_minutes", 2),
        ("leads.start_date", None),
        ("leads.enabled", True),
        ("timeout_seconds", 45),
        ("request_attempts", 4),
        ("owner", "ident"),
        ("task_retries", 3),
        ("alerts.email_to", ()),
        ("alerts.smtp_conn_id", "smtp_default"),
        ("alerts.max_lag_minutes", None),
    ],
)
def test_a_value_written_nowhere_is_the_built_in_default(name, expected):
    settings = resolved({}, {})
    assert value_of(settings, name) == expected
    assert settings.sources[name] == BUILT_IN


def test_the_integration_beats_defaults_and_null_falls_back():
    settings = resolved(
        {"timeout_seconds": 30, "task_retries": 5, "leads": {"page_size": 100, "interval_minutes": 5}},
        {"timeout_seconds": None, "task_retries": 1},
        {"page_size": 300, "interval_minutes": None},
    )
    assert (settings.request.timeout_seconds, settings.sources["timeout_seconds"]) == (30, DEFAULTS)
    assert (settings.task.task_retries, settings.sources["task_retries"]) == (1, INTEGRATION)
    assert (settings.block.page_size, settings.sources["leads.page_size"]) == (300, INTEGRATION)
    assert (settings.block.interval_minutes, settings.sources["leads.interval_minutes"]) == (5, DEFAULTS)


def test_an_empty_block_is_enabled_with_every_default_and_a_disabled_one_gets_no_dag():
    config = parse_config(
        {
            "integrations": [
                {"name": "a", "service": "clinic_http", "conn_id": "c", "leads": {}},
                {"name": "b", "service": "clinic_http", "conn_id": "c", "leads": {"enabled": False}},
                {"name": "c", "service": "clinic_http", "conn_id": "c"},
            ]
        },
        "t",
    )
    assert [r.integration for r in config.blocks()] == ["a", "b"]  # c wrote no block at all
    assert [r.dag_id for r in config.enabled()] == ["ident_leads__a"]
    assert config.resolve("a", "leads").block.page_size == 500
    with pytest.raises(ConfigError, match="no enabled leads block for integration 'b'"):
        config.resolve("b", "leads")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"defaults": {"leads": {"page_size": 0}}}, "field 'defaults.leads.page_size': Input should be greater"),
        ({"defaults": {"request_attempts": 99}}, "field 'defaults.request_attempts': Input should be less"),
        ({"defaults": {"leads": {"colour": "red"}}}, "field 'defaults.leads.colour': Extra inputs are not permitted"),
    ],
)
def test_bounds_hold_in_defaults_too(data, expected):
    with pytest.raises(ConfigError) as info:
        parse_config(data, "test.yaml")
    assert expected in str(info.value)


class Window(BaseModel):
    days: int = Field(7, ge=1, le=31)
    label: str = "week"


def test_resolve_fields_takes_each_field_from_the_first_layer_that_sets_it():
    layer = partial_model(Window, "WindowLayer")
    model, sources = resolve_fields(
        Window, [("integration", layer(label="month")), ("defaults", layer(days=30, label="ignored")), ("x", None)]
    )
    assert (model.days, model.label) == (30, "month")
    assert sources == {"days": "defaults", "label": "integration"}
    model, sources = resolve_fields(Window, [("integration", layer())])
    assert (model.days, sources["days"]) == (7, BUILT_IN)


def test_partial_model_keeps_the_bounds_and_allows_leaving_a_field_out():
    layer = partial_model(Window, "WindowLayer")
    assert layer().days is None
    with pytest.raises(ValueError, match="less than or equal to 31"):
        layer(days=40)
