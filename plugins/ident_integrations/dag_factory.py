"""Builds one DAG per enabled integration × capability from the integrations file.

DAG files stay thin: they call :func:`build_dags` and publish the result. Nothing here touches a
network or a database, so parsing stays fast.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import DAG, Param, task

from ident_integrations.alerts import failure_callbacks
from ident_integrations.config import IntegrationsConfig, ResolvedLeads, config_path, load_config

# Scheduling only: catchup is off, so this date never causes runs of its own.
DAG_START = pendulum.datetime(2025, 1, 1, tz="UTC")
TASK_TIMEOUT = timedelta(minutes=15)  # a hung service must not block the next lead run for long


def _default_args(settings: ResolvedLeads) -> dict:
    return {
        "owner": settings.task.owner,
        "retries": settings.task.task_retries,
        "retry_delay": timedelta(seconds=settings.task.task_retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": failure_callbacks(settings.task),
    }


def _lead_doc(settings: ResolvedLeads) -> str:
    start = settings.start_date or "the day the integration was first run"
    return f"""
## Leads from `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** Every {settings.interval_minutes} min it asks the clinic's own HTTP service
(`GetTickets`, connection `{settings.conn_id}`) for leads and writes them to `ident_leads` in the
IDENT database (connection `{settings.ident_conn_id}`).

**Window (IDENT's rule).** From 00:00 {settings.timezone} of the date of the newest lead already
stored for this integration up to now. Before the first lead: from {start}.
Pages of {settings.page_size}; timeout {settings.request.timeout_seconds:g} s,
{settings.request.request_attempts} attempts per request with backoff.

**Where results go.**
- `ident_leads`: one row per (integration, Id, DateAndTime); a lead changed at the source is updated.
- `ident_rejects`: invalid leads with the reason (e.g. no phone, PlanStart after PlanEnd).
- `ident_exchange_log`: every request (URL without the key, status, duration, error).
- `ident_sync_state`: the watermark (newest lead time) and the last window.
The task log ends with `fetched / new / updated / rejected`.

**When it fails.** 401/403 fail at once with the service's own message: fix the key
(connection `{settings.conn_id}`, field *IDENT-Integration-Key*). Timeouts and 5xx are retried.

**Re-run.** Clearing a run is safe: loads are idempotent. To re-pull from an earlier date,
trigger the DAG with the parameter `from_date` (YYYY-MM-DD).
"""


def build_lead_dag(settings: ResolvedLeads) -> DAG:
    with DAG(
        dag_id=settings.dag_id,
        description=f"Leads from {settings.integration} ({settings.service}) every {settings.interval_minutes} min",
        schedule=timedelta(minutes=settings.interval_minutes),
        start_date=DAG_START,
        catchup=False,
        max_active_runs=1,
        default_args=_default_args(settings),
        tags=["ident", "leads", settings.service],
        doc_md=_lead_doc(settings),
        params={
            "from_date": Param(
                None,
                type=["null", "string"],
                format="date",
                description="Manual runs only: load from 00:00 of this date instead of the usual window.",
            )
        },
    ) as dag:

        @task(task_id="import_leads", doc_md="Fetch, validate and store one window of leads.")
        def import_leads_task(params: dict | None = None) -> dict:
            from datetime import date

            from ident_integrations.lead_import import import_leads

            from_date = (params or {}).get("from_date")
            result = import_leads(settings, from_date=date.fromisoformat(from_date) if from_date else None)
            return result.__dict__

        import_leads_task()
    return dag


def build_dags(config: IntegrationsConfig | None = None) -> dict[str, DAG]:
    """All DAGs of the configuration, keyed by dag_id. Raises ConfigError on an invalid file."""
    config = config or load_config(config_path())
    dags = {}
    for settings in config.lead_imports():
        dags[settings.dag_id] = build_lead_dag(settings)
    return dags
