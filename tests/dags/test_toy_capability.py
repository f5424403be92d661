"""The issue's proof that the platform grows by registration alone: a toy capability and a toy
service, defined here in the test suite and added with one line each to the registries, get a DAG
from the real DAG files (dags/ident_shared.py builds a capability that has no file of its own) with
the shared scaffolding — config.py and dag_factory.py untouched — and that DAG runs the toy's run
function with the resolved settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from airflow.sdk import DAG, task

from ident_integrations import registry
from ident_integrations.alerts import log_failure
from ident_integrations.capabilities import Capability, ident_dag
from ident_integrations.config import BUILT_IN, DEFAULTS, INTEGRATION, CapabilitySettings, ResolvedCapability
from ident_integrations.services import Service
from tests.dags.test_dag_integrity import dag_bag


class ToySettings(CapabilitySettings):
    interval_minutes: int = 30
    greeting: str = "hello"
    out_file: str = ""


def run_toy(settings: ResolvedCapability) -> str:
    text = f"{settings.block.greeting} from {settings.integration} via {settings.service}"
    Path(settings.block.out_file).write_text(text)
    return text


def build_toy_dag(settings: ResolvedCapability) -> DAG:
    with ident_dag(settings, description="A toy", doc_md="## Toy\nGreets.") as dag:

        @task(task_id="greet")
        def greet() -> str:
            return run_toy(settings)

        greet()
    return dag


TOY = Capability(name="toy", settings=ToySettings, action="greet", build_dag=build_toy_dag, run=run_toy)
TOY_SERVICE = Service("toy_service", "ident_clinic_http", "ident_hooks.clinic_http:ClinicHttpHook", {"toy": object()})


@pytest.fixture
def toy_file(tmp_path, monkeypatch):
    monkeypatch.setitem(registry.CAPABILITIES, "toy", TOY)  # the capability registry's one line
    monkeypatch.setitem(registry.SERVICES, "toy_service", TOY_SERVICE)  # the service registry's one line
    out = tmp_path / "greeting.txt"
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"owner": "toys", "toy": {"greeting": "privet"}},
                "integrations": [
                    {"name": "box", "service": "toy_service", "conn_id": "c", "toy": {"out_file": str(out)}},
                    {"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {}},
                ],
            }
        )
    )
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    return out


def test_a_registered_toy_capability_gets_its_dag_from_the_real_dag_file(toy_file):
    bag = dag_bag()
    assert bag.import_errors == {}
    # leads can be checked, new leads have an example consumer, the logs are pruned daily, and
    # both DAGs are watched for lag
    assert set(bag.dag_ids) == {
        "ident_toy__box",
        "ident_leads__site",
        "ident_alerts",
        "ident_cache_check",
        "ident_maintenance",
        "ident_new_leads_example",
    }
    dag = bag.dags["ident_toy__box"]
    assert dag.tags == {"ident", "toy", "toy_service"}
    assert dag.timetable.delta == timedelta(minutes=30) and dag.max_active_runs == 1 and dag.catchup is False
    (greet,) = dag.tasks
    assert greet.owner == "toys" and greet.retries == 3 and log_failure in greet.on_failure_callback


def test_the_toy_block_resolves_like_any_other(toy_file):
    from ident_integrations.config import load_config

    settings = load_config().resolve("box", "toy")
    assert (settings.block.greeting, settings.sources["toy.greeting"]) == ("privet", DEFAULTS)
    assert (settings.block.out_file, settings.sources["toy.out_file"]) == (str(toy_file), INTEGRATION)
    assert (settings.block.interval_minutes, settings.sources["toy.interval_minutes"]) == (30, BUILT_IN)


def test_a_service_without_the_toy_capability_is_refused(toy_file, tmp_path):
    from ident_integrations.config import ConfigError, parse_config

    with pytest.raises(ConfigError, match="service 'clinic_http' cannot greet yet"):
        parse_config({"integrations": [{"name": "x", "service": "clinic_http", "conn_id": "c", "toy": {}}]}, "t")


@pytest.mark.e2e
def test_the_toy_dag_runs_its_run_function(toy_file, airflow_metadata_db):
    from ident_integrations.config import load_config
    from ident_integrations.dag_factory import build_dags

    run = build_dags(load_config())["ident_toy__box"].test()
    assert run.state == "success"
    assert toy_file.read_text() == "privet from box via toy_service"
