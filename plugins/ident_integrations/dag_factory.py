"""Builds one DAG per enabled integration × capability from the integrations file.

DAG files stay thin: they call :func:`build_dags` and publish the result. Each capability builds its
own DAG (``Capability.build_dag``); nothing here touches a network or a database, so parsing stays fast.
"""

from __future__ import annotations

from airflow.sdk import DAG

from ident_integrations.cache_check import build_dag as build_cache_check_dag
from ident_integrations.config import ConfigBase, load_config
from ident_integrations.new_leads_example import build_dag as build_new_leads_example
from ident_integrations.registry import CAPABILITIES


def build_dags(config: ConfigBase | None = None) -> dict[str, DAG]:
    """All DAGs of the configuration, keyed by dag_id. Raises ConfigError on an invalid file."""
    config = config or load_config()
    dags = {settings.dag_id: CAPABILITIES[settings.capability].build_dag(settings) for settings in config.enabled()}
    # DAGs across integrations: the cache check, when any can be checked; the new-leads example
    for shared in (build_cache_check_dag(config), build_new_leads_example(config)):
        if shared is not None:
            dags[shared.dag_id] = shared
    return dags
