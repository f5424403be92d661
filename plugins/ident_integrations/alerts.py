"""Where failure alerts plug in: every generated DAG gets ``failure_callbacks(...)`` as its tasks'
``on_failure_callback`` (task level, which Airflow runs reliably in the worker)."""

from __future__ import annotations

import logging
from typing import Any

from ident_integrations.config import TaskSettings

log = logging.getLogger(__name__)


def log_failure(context: dict[str, Any]) -> None:
    """Always on: one greppable line in the task log naming the DAG, task, try and cause."""
    ti = context.get("ti") or context.get("task_instance")
    log.error(
        "IDENT ALERT: %s.%s failed on try %s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        context.get("exception"),
    )


def failure_callbacks(task: TaskSettings) -> list[Any]:
    callbacks: list[Any] = [log_failure]
    if task.alert_emails:
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        callbacks.append(
            SmtpNotifier(
                to=list(task.alert_emails),
                subject="[IDENT] {{ ti.dag_id }}.{{ ti.task_id }} failed",
                html_content=(
                    "<p>{{ ti.dag_id }}.{{ ti.task_id }} failed on try {{ ti.try_number }}.</p>"
                    "<p>{{ exception }}</p><p>Run: {{ run_id }}</p>"
                ),
            )
        )
    return callbacks
