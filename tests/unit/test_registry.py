"""The capability and service registries: what each entry declares is real, and a service that
cannot run a capability is a clear configuration error, whether it is planned, unknown or lacks it."""

import importlib

import pytest

import ident_hooks
from ident_integrations import registry
from ident_integrations.config import CapabilitySettings, ConfigError, parse_config
from ident_integrations.services import Service


@pytest.mark.parametrize("service", registry.SERVICES.values(), ids=lambda s: s.name)
def test_every_service_names_a_hook_and_a_registered_connection_type(service):
    hook = service.hook_class()
    assert hook.conn_type == service.conn_type
    provider_types = {item["connection-type"]: item for item in ident_hooks.get_provider_info()["connection-types"]}
    module, _, name = service.hook_path.partition(":")
    if service.conn_type in provider_types:
        assert provider_types[service.conn_type]["hook-class-name"] == f"{module}.{name}"
    else:  # a stock type of another provider (the clinic's own database: mysql / mssql)
        from airflow.sdk.providers_manager_runtime import ProvidersManagerTaskRuntime

        assert service.conn_type in ProvidersManagerTaskRuntime().hooks
    for capability in service.sources:
        assert capability in registry.CAPABILITIES


@pytest.mark.parametrize("capability", registry.CAPABILITIES.values(), ids=lambda c: c.name)
def test_every_capability_declares_a_block_model_a_dag_builder_and_a_run_function(capability):
    assert capability.name.isidentifier() and capability.name.islower()
    assert issubclass(capability.settings, CapabilitySettings)
    assert callable(capability.build_dag) and callable(capability.run)
    importlib.import_module(capability.run.__module__)


def config_error(integration: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_config({"integrations": [{"name": "x", "conn_id": "c", **integration}]}, "test.yaml")
    return str(info.value)


def test_a_planned_service_cannot_run_a_capability_yet():
    message = config_error({"service": "smsc", "leads": {}})
    assert "integration 'x', field '(the whole entry)': service 'smsc' cannot import leads yet" in message


def test_a_planned_service_with_its_block_disabled_is_accepted():
    config = parse_config(
        {"integrations": [{"name": "x", "service": "smsc", "conn_id": "c", "leads": {"enabled": False}}]}, "t"
    )
    assert config.enabled() == []


def test_a_capability_a_service_runs_only_with_another_needs_that_one_enabled():
    # NaPopravku's slots go out after its appointments are in: its schedule export needs its leads.
    for leads in ({}, {"leads": {"enabled": False}}):
        message = config_error({"service": "napopravku", "schedule": {}, **leads})
        assert "service 'napopravku': a schedule block needs a leads block too" in message
    both = {"name": "x", "service": "napopravku", "conn_id": "c", "schedule": {}, "leads": {}}
    assert len(parse_config({"integrations": [both]}, "t").enabled()) == 2


def test_an_unknown_service_names_the_field_and_the_known_ones():
    message = config_error({"service": "telegram", "leads": {}})
    assert "integration 'x', field 'service': Input should be 'clinic_http'" in message
    assert "'uis'" in message


def test_a_registered_service_without_the_capability_is_refused(monkeypatch):
    monkeypatch.setitem(
        registry.SERVICES, "mute", Service("mute", "ident_clinic_http", "ident_hooks.clinic_http:ClinicHttpHook")
    )
    assert "service 'mute' cannot import leads yet" in config_error({"service": "mute", "leads": {}})


def test_service_for_refuses_a_service_that_cannot_run_the_capability(monkeypatch):
    config = parse_config({"integrations": [{"name": "x", "service": "clinic_http", "conn_id": "c", "leads": {}}]}, "t")
    settings = config.resolve("x", "leads")
    assert registry.service_for(settings) is registry.SERVICES["clinic_http"]
    monkeypatch.setitem(registry.SERVICES, "clinic_http", Service("clinic_http", "ident_clinic_http", "x:Y"))
    with pytest.raises(ValueError, match="service 'clinic_http' cannot import leads yet"):
        registry.service_for(settings)


def test_a_source_asked_of_a_service_that_lacks_it_is_a_clear_error(monkeypatch):
    calls_only = Service(
        "tel", "ident_uis", "ident_hooks.uis:UisHook", {"calls": registry.SERVICES["uis"].source("calls")}
    )
    monkeypatch.setitem(registry.SERVICES, "tel", calls_only)
    assert "service 'tel' cannot import leads yet" in config_error({"service": "tel", "leads": {}})
    with pytest.raises(ValueError, match="service 'tel' has no source for 'leads'"):
        calls_only.source("leads")


def test_a_service_is_either_registered_or_planned_never_both():
    assert not set(registry.SERVICES) & set(registry.PLANNED_SERVICES)
    assert registry.SERVICES["top32"].supports("leads") and "top32" in registry.known_services()
