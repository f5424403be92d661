"""The IDENT database's housekeeping: DAG ``ident_maintenance``, daily at ``retention.at`` (clinic
time), deletes the rows of ``ident_exchange_log`` and ``ident_rejects`` older than
``retention.days`` in batches of ``retention.batch_size`` (one short transaction each, see
``store.retention``), and logs per table how many rows went and the cutoff.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, task

from ident_integrations.config import DEFAULTS, ConfigBase, Retention, TaskSettings, resolve_fields

log = logging.getLogger(__name__)
DAG_ID = "ident_maintenance"
TASK_ID = "prune_logs"


def run_retention(
    ident_conn_id: str, retention: Retention, tz: str = "UTC", now: datetime | None = None
) -> dict[str, int]:
    """Delete what ``retention`` no longer keeps from the IDENT database; rows deleted per table."""
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.retention import PRUNED, prune_table

    cutoff = (now or datetime.now(UTC)) - timedelta(days=retention.days)
    shown = f"{cutoff.astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M:%S %Z} ({cutoff:%Y-%m-%d %H:%M:%S} UTC)"
    db = IdentDatabase(ident_conn_id)
    db.ensure_schema()
    log.info("Retention: deleting rows older than %d day(s), before %s, %d per batch",
             retention.days, shown, retention.batch_size)  # fmt: skip
    pruned = []
    for table, moment in PRUNED:

        def progress(count: int, name: str = table.name) -> None:
            log.info("%s: a batch of %d row(s) deleted", name, count)

        result = prune_table(db, table, moment, cutoff, retention.batch_size, on_batch=progress)
        log.info("%s: removed %d row(s) older than %s in %d batch(es)",
                 result.table, result.rows, shown, result.batches)  # fmt: skip
        pruned.append(result)
    return {result.table: result.rows for result in pruned}


def build_dag(config: ConfigBase) -> DAG | None:
    """The daily prune; None when retention is off or no integration is enabled (nothing writes the
    IDENT database's logs then)."""
    from ident_integrations.capabilities import default_args

    retention = config.retention
    enabled = config.enabled()
    if not retention.enabled or not enabled:
        return None
    # Tasks across integrations run with the `defaults` task settings (owner, retries, alerts, queue).
    task_settings, _ = resolve_fields(TaskSettings, [(DEFAULTS, config.defaults)])
    settings = dataclasses.replace(enabled[0], task=task_settings)
    hour, minute = retention.at.split(":")
    conn_id, tz = config.clinic.ident_conn_id, config.clinic.timezone
    doc = f"""
## IDENT database maintenance

Every day at {retention.at} ({tz}) the task `{TASK_ID}` deletes the rows older than
{retention.days} day(s) from `ident_exchange_log` (the exchange log, "Подробнее") and
`ident_rejects` (the quarantine), {retention.batch_size} rows per transaction so that no table is
locked for long, and logs per table how many rows it removed and the cutoff.

Settings: `retention:` in the integrations file (`enabled`, `days`, `at`, `batch_size`).
"""
    with DAG(
        dag_id=DAG_ID,
        description=f"Delete exchange-log and reject rows older than {retention.days} days",
        schedule=CronTriggerTimetable(f"{int(minute)} {int(hour)} * * *", timezone=tz),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(settings, shared=True),
        tags=["ident", "maintenance"],
        doc_md=doc,
    ) as dag:

        @task(task_id=TASK_ID, doc_md=f"Delete log rows older than {retention.days} days, in batches.")
        def prune() -> dict[str, int]:
            return run_retention(conn_id, retention, tz)

        prune()
    return dag
