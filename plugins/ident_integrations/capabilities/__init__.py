"""What a capability is, and the DAG scaffolding every capability's DAG shares.

A capability is one module (``capabilities/<name>.py``) exposing a :class:`Capability`: its block
model (fields and built-in defaults, resolved generically by ``config``), the phrase used when a
service cannot run it, its DAG builder and its run function. It is listed once in
``ident_integrations.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import DAG, Param

from ident_integrations.alerts import failure_callbacks, watch_last_tasks
from ident_integrations.config import CapabilitySettings, ResolvedCapability

# Scheduling only: catchup is off unless a capability turns it on, so this date causes no runs.
DAG_START = pendulum.datetime(2025, 1, 1, tz="UTC")
TASK_TIMEOUT = timedelta(minutes=15)  # a hung service must not block the next run for long


@dataclass(frozen=True)
class Capability:
    name: str  # the block's key in integrations.yaml and the middle of the DAG id
    settings: type[CapabilitySettings]  # the block model: its fields and built-in defaults
    action: str  # completes "service 'x' cannot … yet", e.g. "import leads"
    build_dag: Callable[[ResolvedCapability], DAG]
    run: Callable[..., Any]  # what the DAG's task calls; tests and the CLI call it too
    # The daily cache check's re-pull and repair of a closed range (ident_integrations.cache_check)
    check: Callable[..., Any] | None = None


def default_args(settings: ResolvedCapability, shared: bool = False) -> dict[str, Any]:
    """What every task of ``settings``' DAG gets; ``shared``: a DAG across integrations, which takes
    the task and alert settings of ``settings`` (its first integration) and names none in alerts."""
    task = settings.task
    args: dict[str, Any] = {
        "owner": task.owner,
        "retries": task.task_retries,
        "retry_delay": timedelta(seconds=task.task_retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": TASK_TIMEOUT,
        "on_failure_callback": failure_callbacks(settings, shared),
    }
    if task.queue:  # the workers of that queue run this integration's tasks (CeleryExecutor)
        args["queue"] = task.queue
    return args


def date_param(description: str) -> Param:
    """An optional YYYY-MM-DD parameter of a manual run (the trigger form shows a date picker)."""
    return Param(None, type=["null", "string"], format="date", description=description)


@contextmanager
def service_hook(settings: ResolvedCapability, store: Any) -> Iterator[tuple[Any, Any, list]]:
    """(the service's source for this capability, its hook, the exchanges so far) for one run; the
    exchanges left in the list are written to the exchange log at the end, whatever happens."""
    from ident_integrations.registry import service_for

    service = service_for(settings)
    exchanges: list = []
    try:
        yield service.source(settings.capability), service.hook(settings, exchanges.append), exchanges
    finally:
        store.log_exchanges(exchanges)


@contextmanager
def ident_dag(settings: ResolvedCapability, *, description: str, doc_md: str, **overrides: Any) -> Iterator[DAG]:
    """A DAG with what every IDENT DAG carries: its id, owner, tags, retries with backoff, the
    failure and recovery alerts, one run at a time, and the capability's interval as schedule (overridable)."""
    from ident_integrations.registry import service_for

    args = default_args(settings)
    pool = service_for(settings).pool
    if pool:  # a service whose runs must not queue behind others (NaPopravku's 10-minute deadline)
        args["pool"] = pool
    kwargs: dict[str, Any] = {
        "dag_id": settings.dag_id,
        "description": description,
        "schedule": timedelta(minutes=settings.block.interval_minutes),
        "start_date": DAG_START,
        "catchup": False,
        "max_active_runs": 1,
        "default_args": args,
        "tags": ["ident", settings.capability, settings.service],
        "doc_md": doc_md,
        **overrides,
    }
    with DAG(**kwargs) as dag:
        yield dag
    watch_last_tasks(dag, settings)  # the recovery message and the lag check's last success
