"""An example of acting on new leads: a DAG scheduled on the Asset ``ident_leads``, which every lead
DAG updates when it stored new leads (``capabilities.leads.NEW_LEADS``). It only logs what came in;
copy it to notify a call centre, push leads to a CRM, or refresh a report."""

from __future__ import annotations

import logging
from typing import Any

import pendulum
from airflow.sdk import DAG, task

from ident_integrations.capabilities import default_args
from ident_integrations.capabilities.leads import NEW_LEADS
from ident_integrations.config import ConfigBase

log = logging.getLogger(__name__)
DAG_ID = "ident_new_leads_example"


def build_dag(config: ConfigBase) -> DAG | None:
    """The example, when any lead integration is enabled."""
    leads = config.enabled("leads")
    if not leads:
        return None
    with DAG(
        dag_id=DAG_ID,
        description="Example: runs whenever a lead DAG stored new leads (the Asset ident_leads)",
        schedule=[NEW_LEADS],
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(leads[0], shared=True),
        tags=["ident", "leads", "example"],
        doc_md=__doc__,
    ) as dag:

        @task(task_id="new_leads", doc_md="Log how many new leads each integration announced.")
        def new_leads(triggering_asset_events: Any = None) -> dict[str, int]:
            counts: dict[str, int] = {}
            for events in (triggering_asset_events or {}).values():
                for event in events:
                    integration = event.extra.get("integration", "?")
                    counts[integration] = counts.get(integration, 0) + int(event.extra.get("new", 0))
            for integration, count in sorted(counts.items()):
                log.info("%d new lead(s) from %s", count, integration)
            return counts

        new_leads()
    return dag
