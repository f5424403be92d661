"""docker-compose.yaml describes the stack `make stack` runs, for users who have Docker. There is no
Docker engine here, so the file is never run: it is validated against the Compose specification's
JSON schema (tests/fixtures/compose-spec.json, see tests/fixtures/README.md for its origin) and its
structure is checked — Airflow's CeleryExecutor layout, two workers on the two queues, one JWT
secret and one Fernet key for every component, every Airflow service built from this project."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yaml"
AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker-default",
    "airflow-worker-clinic",
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())  # anchors and `<<:` merges resolved, as Compose does


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((ROOT / "tests" / "fixtures" / "compose-spec.json").read_text())
    assert schema["title"] == "Compose Specification"
    assert schema["$schema"].rstrip("#") == "https://json-schema.org/draft-07/schema"
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def airflow_services(compose: dict) -> dict[str, dict]:
    return {name: service for name, service in compose["services"].items() if name.startswith("airflow-")}


def test_the_file_is_valid_against_the_compose_specification(compose, validator):
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


@pytest.mark.parametrize(
    "break_it",
    [
        lambda c: c["services"]["airflow-apiserver"]["depends_on"]["postgres"].update(condition="ready"),
        lambda c: c["services"]["airflow-scheduler"].update(restart_policy="always"),  # no such key
        lambda c: c.update(service={}),  # a typo at the top level
    ],
)
def test_the_schema_rejects_a_broken_file(compose, validator, break_it):
    broken = copy.deepcopy(compose)
    break_it(broken)
    assert list(validator.iter_errors(broken))


def test_the_official_celery_layout_with_two_workers_an_ident_database_choice_and_the_sandbox(compose):
    services = compose["services"]
    assert AIRFLOW_SERVICES <= set(services)
    assert {"postgres", "redis", "mariadb", "mssql", "sandbox"} <= set(services)
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    assert services["mssql"]["image"] == "mcr.microsoft.com/mssql/server:2022-latest"
    assert services["mssql"]["profiles"] == ["mssql"]  # an option: MariaDB is the default IDENT database
    commands = {name: services[name].get("command") for name in AIRFLOW_SERVICES - {"airflow-init"}}
    assert commands["airflow-apiserver"] == "api-server"
    assert commands["airflow-scheduler"] == "scheduler"
    assert commands["airflow-dag-processor"] == "dag-processor"
    assert commands["airflow-triggerer"] == "triggerer"
    assert "airflow db migrate" in "\n".join(services["airflow-init"]["command"])
    for name in AIRFLOW_SERVICES - {"airflow-init"}:
        after = services[name]["depends_on"]
        assert after["airflow-init"] == {"condition": "service_completed_successfully"}, name
        assert after["postgres"]["condition"] == after["redis"]["condition"] == "service_healthy", name


def test_every_airflow_component_runs_celery_with_one_jwt_secret_and_one_fernet_key(compose):
    text = COMPOSE.read_text()
    # defined once, in the x-airflow-common anchor; every service gets it through the anchor
    assert len(re.findall(r"^\s+AIRFLOW__API_AUTH__JWT_SECRET:", text, re.M)) == 1
    assert re.search(r"^x-airflow-common: &airflow-common$", text, re.M)
    assert re.search(r"^  environment: &airflow-common-env$", text, re.M)
    common = compose["x-airflow-common"]["environment"]
    for key in ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__CORE__FERNET_KEY"):
        assert common[key].startswith("${") and ":?" in common[key], key  # from .env, required
    for name, service in airflow_services(compose).items():
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        for key in (
            "AIRFLOW__API_AUTH__JWT_SECRET",
            "AIRFLOW__CORE__FERNET_KEY",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
            "AIRFLOW__CELERY__BROKER_URL",
            "AIRFLOW__CELERY__RESULT_BACKEND",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",
        ):
            assert env[key] == common[key], (name, key)
    assert common["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert (
        common["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
        and "@redis:6379" in common["AIRFLOW__CELERY__BROKER_URL"]
    )
    assert common["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert "@postgres/" in common["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]


def test_two_workers_on_the_default_queue_and_the_clinic_queue_the_integrations_file_routes_to(compose):
    services = compose["services"]
    queues = {}
    for name in ("airflow-worker-default", "airflow-worker-clinic"):
        command = services[name]["command"].split()
        assert command[:2] == ["celery", "worker"], name
        queues[name] = command[command.index("--queues") + 1]
    assert queues == {"airflow-worker-default": "default", "airflow-worker-clinic": "clinic"}
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    routed = {
        i.get("queue") for i in yaml.safe_load((ROOT / "include" / "integrations.yaml").read_text())["integrations"]
    }
    assert "clinic" in routed  # an integration of the shipped file runs on the clinic worker
    # the clinic worker reaches the clinic's own tables (the sandbox's SQLite file)
    assert any(volume.startswith("clinic-db-volume:") for volume in services["airflow-worker-clinic"]["volumes"])


def test_every_airflow_service_and_the_sandbox_build_from_this_project(compose):
    for name, service in {**airflow_services(compose), "sandbox": compose["services"]["sandbox"]}.items():
        assert service["build"] == ".", name
        assert "image" not in service, name
    for name, service in compose["services"].items():
        assert service.get("build", ".") == ".", name  # nothing builds from anywhere else
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:3\.3\.2", dockerfile, re.M)
    assert "requirements.txt" in dockerfile
    assert re.search(r"^apache-airflow-providers-celery==", (ROOT / "requirements.txt").read_text(), re.M)
