"""The per-integration ``queue`` (IDENT's "Роль для автозапуска": which computer runs a task): it
lands on every task of the integration's DAGs, an integration inherits it from ``defaults``, and
unset leaves Airflow's default queue (``[operators] default_queue``)."""

from __future__ import annotations

import pytest

from ident_integrations.config import BUILT_IN, DEFAULTS, INTEGRATION, ConfigError, parse_config
from ident_integrations.dag_factory import build_dags


def config(defaults: dict | None = None, **queues: str | None):
    integrations = [
        {"name": "site", "service": "clinic_http", "conn_id": "clinic_site", "leads": {}, "schedule": {}},
        {"name": "telephony", "service": "uis", "conn_id": "uis_main", "calls": {}, "leads": {}},
    ]
    for integration in integrations:
        if integration["name"] in queues:
            integration["queue"] = queues[integration["name"]]
    return parse_config({"defaults": defaults or {}, "integrations": integrations}, "test.yaml")


def task_queues(dag) -> set[str]:
    return {task.queue for task in dag.tasks}


def test_the_queue_lands_on_every_task_of_the_integrations_dags_only():
    from airflow.configuration import conf

    default_queue = conf.get("operators", "default_queue")
    dags = build_dags(config(site="clinic"))
    assert task_queues(dags["ident_leads__site"]) == {"clinic"}
    assert task_queues(dags["ident_schedule__site"]) == {"clinic"}  # its leads import too
    assert dags["ident_leads__site"].default_args["queue"] == "clinic"
    for dag_id in ("ident_leads__telephony", "ident_calls__telephony"):
        assert task_queues(dags[dag_id]) == {default_queue}, dag_id
        assert "queue" not in dags[dag_id].default_args


def test_unset_everywhere_is_airflows_default_queue():
    from airflow.configuration import conf

    resolved = config().resolve("site", "leads")
    assert (resolved.task.queue, resolved.sources["queue"]) == (None, BUILT_IN)
    for dag in build_dags(config()).values():
        assert task_queues(dag) == {conf.get("operators", "default_queue")}, dag.dag_id


def test_defaults_route_every_integration_and_one_can_go_elsewhere():
    settings = config({"queue": "clinic"}, telephony="office")
    assert (settings.resolve("site", "leads").task.queue, settings.resolve("site", "leads").sources["queue"]) == (
        "clinic",
        DEFAULTS,
    )
    telephony = settings.resolve("telephony", "calls")
    assert (telephony.task.queue, telephony.sources["queue"]) == ("office", INTEGRATION)
    dags = build_dags(settings)
    assert task_queues(dags["ident_leads__site"]) == {"clinic"}
    assert task_queues(dags["ident_calls__telephony"]) == {"office"}


@pytest.mark.parametrize("bad", ["clinic worker", "", "a" * 65])
def test_a_queue_name_celery_cannot_take_is_a_config_error_naming_the_field(bad):
    with pytest.raises(ConfigError, match=r"integration 'site', field 'queue'"):
        config(site=bad)
