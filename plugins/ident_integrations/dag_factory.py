"""Builds one DAG per enabled integration × capability from the integrations file.

DAG files stay thin: each calls :func:`build_dags` for its part — one file per capability and one
for the DAGs shared across integrations — so that no file builds every DAG (the dag-processor parses
each file in its own process, and a file's parse time grows with its DAGs). Each capability builds
its own DAG (``Capability.build_dag``); nothing here touches a network or a database.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.sdk import DAG

from ident_integrations.config import ConfigBase, ConfigError, load_config

log = logging.getLogger(__name__)

SHARED = "shared"  # the part holding the DAGs across integrations (dags/ident_shared.py)


def build_dags(
    config: ConfigBase | None = None, part: str | None = None, dags_folder: Path | None = None
) -> dict[str, DAG]:
    """The DAGs of ``part`` (a capability's name or ``SHARED``; None: all), keyed by dag_id. The
    shared part also builds every capability that has no file of its own in ``dags_folder``, so
    that a capability registered without one still gets its DAGs.

    Raises ConfigError on an invalid file.
    """
    from ident_integrations.registry import CAPABILITIES

    config = config or load_config()
    if part == SHARED:
        own_file = {path.stem.removeprefix("ident_") for path in dags_folder.glob("ident_*.py")} if dags_folder else ()
        capabilities = [name for name in CAPABILITIES if name not in own_file]
    else:
        capabilities = [part] if part else list(CAPABILITIES)
    dags = {
        settings.dag_id: CAPABILITIES[settings.capability].build_dag(settings)
        for name in capabilities
        for settings in config.enabled(name)
    }
    if part in (None, SHARED):
        dags.update(_shared_dags(config))
    return dags


def _shared_dags(config: ConfigBase) -> dict[str, DAG]:
    from ident_integrations.alerts import build_dag as build_alerts_dag
    from ident_integrations.cache_check import build_dag as build_cache_check_dag
    from ident_integrations.maintenance import build_dag as build_maintenance_dag
    from ident_integrations.new_leads_example import build_dag as build_new_leads_example

    built = (
        build_alerts_dag(config),
        build_cache_check_dag(config),
        build_maintenance_dag(config),
        build_new_leads_example(config),
    )
    return {dag.dag_id: dag for dag in built if dag is not None}


def dag_file_part(part: str, dag_file: str) -> dict[str, DAG]:
    """What the DAG file ``dag_file`` publishes. An invalid integrations file is reported once, as
    the import error of dags/ident_shared.py; the capability files then publish nothing."""
    if part == SHARED:
        return build_dags(part=SHARED, dags_folder=Path(dag_file).parent)
    try:
        return build_dags(part=part)
    except ConfigError:
        log.error("The integrations file is invalid: see the import error of dags/ident_shared.py")
        return {}
