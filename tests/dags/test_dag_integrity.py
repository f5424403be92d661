"""Every DAG file parses, and every DAG carries what a data engineer relies on.

Adapted from Astronomer's Airflow 3 template for 3.3: DagBag lives in airflow.dag_processing.dagbag
and has no include_examples (examples are off through AIRFLOW__CORE__LOAD_EXAMPLES in conftest).
BundleDagBag is used because it parses like the dag-processor: a DAG file named like a package in
plugins/ shadowed that package there while a plain DagBag parsed fine.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def dag_bag():
    """Parse the dags folder the way the dag-processor does (as a bundle, the folder on sys.path)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    return BundleDagBag(dag_folder=str(ROOT / "dags"), bundle_path=ROOT / "dags", bundle_name="dags-folder")


@pytest.fixture(scope="module")
def bag():
    return dag_bag()


def test_no_import_errors(bag):
    assert bag.import_errors == {}


def test_one_dag_per_enabled_integration_and_capability(bag):
    from ident_integrations.config import load_config

    expected = {settings.dag_id for settings in load_config().enabled()}
    assert {"ident_leads__site", "ident_calls__telephony"} <= expected
    assert set(bag.dag_ids) == expected | {
        "ident_alerts",
        "ident_cache_check",
        "ident_maintenance",
        "ident_new_leads_example",
    }


# What each capability's DAG must tell in its doc: its heading and the table it writes.
DOCS = {
    "leads": ("## Leads from", "ident_leads"),
    "calls": ("## Call history from", "ident_calls"),
    "schedule": ("## Free slots to", "ident_work_intervals"),
    "sms": ("## SMS reminders through", "ident_messages"),
    "email": ("## E-mail reminders through", "ident_messages"),
    "sms_status": ("## Delivery statuses from", "ident_messages"),
    "geocoding": ("## Geocoding of patients' addresses through", "ident_geocodes"),
    "calendar": ("## Doctors' schedules in Google Calendar through", "ident_calendar_events"),
}


def test_every_dag_has_owner_tags_retries_docs_and_an_alert(bag):
    from ident_integrations.alerts import log_failure
    from ident_integrations.config import load_config

    config = load_config()
    for settings in config.enabled():
        dag = bag.dags[settings.dag_id]
        assert dag.tags >= {"ident", settings.capability, settings.service}, dag.dag_id
        heading, table = DOCS[settings.capability]
        assert dag.doc_md and heading in dag.doc_md and table in dag.doc_md, dag.dag_id
        assert dag.max_active_runs == 1 and dag.catchup is False
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", dag.dag_id
            assert task.retries >= 1 and task.retry_exponential_backoff
            callbacks = task.on_failure_callback
            callbacks = callbacks if isinstance(callbacks, list) else [callbacks]
            assert log_failure in callbacks


def test_the_cache_check_has_a_task_per_checkable_integration_and_runs_daily_in_clinic_time(bag):
    from ident_integrations.alerts import log_failure

    dag = bag.dags["ident_cache_check"]
    # every checkable integration; not NaPopravku, which cannot re-pull a closed day
    checked = {"leads__site", "leads__landing", "leads__telephony", "leads__promo", "leads__top32", "leads__booking_db"}
    checked |= {"calls__telephony"}
    assert {task.task_id for task in dag.tasks} == checked
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("30 5 * * *", "Europe/Moscow")
    assert "ident_cache_check_report" in dag.doc_md and dag.tags >= {"ident", "cache_check"}
    for task in dag.tasks:
        assert task.retries >= 1 and log_failure in task.on_failure_callback


def test_lead_dags_announce_new_leads_on_the_asset_the_example_is_scheduled_on(bag):
    from airflow.sdk import Asset

    announce = bag.dags["ident_leads__site"].get_task("announce_new_leads")
    assert announce.outlets == [Asset("ident_leads")] and announce.upstream_task_ids == {"import_leads"}
    example = bag.dags["ident_new_leads_example"]
    assert list(example.timetable.asset_condition.objects) == [Asset("ident_leads")]
    assert example.doc_md and example.tags >= {"ident", "leads"} and all(t.retries >= 1 for t in example.tasks)


def test_lead_dags_poll_every_interval_minutes_or_are_watched(bag):
    from datetime import timedelta

    from ident_integrations.watch import SAFETY_NET, NewLeadsTrigger

    assert bag.dags["ident_leads__landing"].timetable.delta == timedelta(minutes=2)  # mode: poll
    # mode: watch (the demo's site): the Asset its watcher's trigger updates, or the hourly safety net
    watched = bag.dags["ident_leads__site"].timetable
    (source,) = watched.asset_condition.objects
    (watcher,) = source.watchers
    assert source.name == "ident_lead_source__site" and isinstance(watcher.trigger, NewLeadsTrigger)
    assert watcher.trigger.serialize()[1]["watch_seconds"] == 10
    assert watched.timetable.delta == SAFETY_NET
    assert "watch" in bag.dags["ident_leads__site"].tags and "watch" not in bag.dags["ident_leads__landing"].tags


def test_call_dags_have_real_data_intervals_of_interval_minutes(bag):
    from datetime import timedelta

    from airflow.sdk import DeltaDataIntervalTimetable

    # A data-interval timetable (not Airflow 3's default trigger one): each run covers the 3 hours
    # before it, so a backfill run has an interval to reload (tests/e2e/test_calls_backfill.py).
    timetable = bag.dags["ident_calls__telephony"].timetable
    assert isinstance(timetable, DeltaDataIntervalTimetable)
    assert timetable.delta == timedelta(minutes=180)


def test_invalid_file_is_an_import_error_naming_file_integration_and_field(tmp_path, monkeypatch):
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {"integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {"page_size": 0}}]}
        )
    )
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    bag = dag_bag()
    assert bag.dag_ids == []
    (error,) = bag.import_errors.values()
    assert f"Invalid integrations file {path}: integration 'site', field 'leads.page_size'" in error


def test_every_task_alerts_on_failure_and_the_last_tasks_note_success(tmp_path, monkeypatch):
    from ident_integrations.alerts import FailureAlert, SuccessNote

    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"alerts": {"email_to": ["data@clinic.example"]}},
                "integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {}}],
            }
        )
    )
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    dag = dag_bag().dags["ident_leads__site"]
    for task in dag.tasks:
        (alert,) = [callback for callback in task.on_failure_callback if isinstance(callback, FailureAlert)]
        assert alert.settings.alerts.email_to == ("data@clinic.example",), task.task_id
        notes = [callback for callback in task.on_success_callback or [] if isinstance(callback, SuccessNote)]
        skipped = [callback for callback in task.on_skipped_callback or [] if isinstance(callback, SuccessNote)]
        last = not task.downstream_task_ids
        assert (len(notes), len(skipped)) == ((1, 1) if last else (0, 0)), task.task_id


def test_schedule_dags_push_every_10_minutes_and_import_the_integrations_leads_first(bag):
    from datetime import timedelta

    napopravku = bag.dags["ident_schedule__napopravku"]
    assert napopravku.timetable.delta == timedelta(minutes=10)
    assert napopravku.get_task("push_schedule").upstream_task_ids == {"import_leads"}
    assert {task.pool for task in napopravku.tasks} == {"ident_napopravku"}  # NaPopravku's own pool
    assert [task.task_id for task in bag.dags["ident_schedule__prodoctorov"].tasks] == ["push_schedule"]


def test_each_capability_has_its_own_dag_file_and_no_file_builds_another_part(bag):
    """One file per capability keeps each file's parse short (bench/dag_parse.py): a new capability
    needs its dags/ident_<capability>.py, and every DAG comes from its part's file."""
    from ident_integrations.registry import CAPABILITIES

    files = {path.stem for path in (ROOT / "dags").glob("*.py")}
    assert files == {f"ident_{name}" for name in CAPABILITIES} | {"ident_shared"}
    for dag_id, dag in bag.dags.items():
        capability = dag_id.removeprefix("ident_").split("__")[0] if "__" in dag_id else "shared"
        assert Path(dag.fileloc).stem == f"ident_{capability}", dag_id


def test_the_shared_dags_alert_as_all_integrations(bag):
    from ident_integrations.alerts import SHARED_LABEL, FailureAlert

    for dag_id in ("ident_alerts", "ident_cache_check", "ident_maintenance", "ident_new_leads_example"):
        for task in bag.dags[dag_id].tasks:
            (alert,) = [callback for callback in task.on_failure_callback if isinstance(callback, FailureAlert)]
            assert alert.integration == SHARED_LABEL, (dag_id, task.task_id)
    (lead_alert,) = [
        c for c in bag.dags["ident_leads__site"].tasks[0].on_failure_callback if isinstance(c, FailureAlert)
    ]
    assert lead_alert.integration == "site"
