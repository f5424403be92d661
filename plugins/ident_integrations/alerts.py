"""Alerts that reach a person: a failed run, a DAG that stopped succeeding, and its recovery.

- **Failure.** Every task's ``on_failure_callback`` (task level: Airflow runs it reliably, in the
  worker, once the task has no retry left). The first failed task of a run claims the run in
  ``ident_alert_state``, so a run sends one alert however many tasks or retries failed.
- **Recovery.** The last tasks of a DAG (``on_success_callback`` and ``on_skipped_callback``: they
  end only when nothing upstream failed) note the success; if a failure or lag alert was open, the
  first of them to close it sends "recovered".
- **Lag.** The DAG ``ident_alerts`` checks every few minutes that each DAG has succeeded within
  ``alerts.max_lag_minutes`` (default 10 for leads, twice the interval for the others), which
  catches a DAG paused by mistake or runs stuck in the queue. A stopped scheduler stops that DAG
  too: ``ident alerts check`` does the same check from cron, outside Airflow.

Channels are the integration's ``alerts:`` settings: e-mail through the smtp provider's
SmtpNotifier, SMS through SMSC (``SmscHook``). Each alert also leaves one ``IDENT ALERT`` line in the
log. If the IDENT database cannot be reached to remember the alert, the alert is sent anyway.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ident_integrations.config import AlertSettings, ResolvedCapability

if TYPE_CHECKING:
    from airflow.sdk import DAG

    from ident_integrations.config import ConfigBase
    from ident_integrations.store.alerts import AlertStore

log = logging.getLogger(__name__)

DAG_ID = "ident_alerts"
LAG_CHECK_MINUTES = 5  # how often ident_alerts looks for lagging DAGs
LEADS_MAX_LAG_MINUTES = 10
SMS_ERROR_CHARS = 120  # the error's first line, cut, in an SMS (the e-mail has it whole)


@dataclass(frozen=True)
class Alert:
    kind: str  # failure | lag | recovery
    integration: str
    dag_id: str
    what: str  # failure: the error's first line; lag: how long without a success; recovery: the run
    task_id: str | None = None
    try_number: int | None = None
    link: str = ""  # the task's log (failure) or the DAG (lag, recovery) in the Airflow UI

    @property
    def headline(self) -> str:
        task = f", task {self.task_id}, try {self.try_number}" if self.task_id else ""
        verb = {"failure": "FAILED", "lag": "LAGGING", "recovery": "RECOVERED"}[self.kind]
        return f"{verb}: {self.integration} — {self.dag_id}{task}"

    def subject(self) -> str:
        return f"[IDENT] {self.headline}"

    def html(self) -> str:
        rows = [("Integration", self.integration), ("DAG", self.dag_id)]
        if self.task_id:
            rows += [("Task", self.task_id), ("Try", str(self.try_number))]
        rows.append(({"failure": "Error", "lag": "Lag", "recovery": "Run"}[self.kind], self.what))
        cells = "".join(f"<tr><th align=left>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in rows)
        link = f'<p><a href="{html.escape(self.link)}">{html.escape(self.link)}</a></p>' if self.link else ""
        return f"<p>{html.escape(self.headline)}</p><table>{cells}</table>{link}"

    def sms(self) -> str:
        what = _request_last(self.what)
        what = what if len(what) <= SMS_ERROR_CHARS else what[: SMS_ERROR_CHARS - 1] + "…"
        return f"IDENT {self.headline}: {what} {self.link}".strip()


_REQUEST_ERROR = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) (\S+?)(\?\S*)?: (.+)$")


def _request_last(error: str) -> str:
    """``GET <url>: 503 …`` as ``503 … (GET <url without its query>)``: what went wrong first, so
    that it survives an SMS's cut."""
    match = _REQUEST_ERROR.match(error)
    return f"{match[4]} ({match[1]} {match[2]})" if match else error


def first_line(error: Any) -> str:
    text = str(error or "").strip()
    return text.splitlines()[0] if text else type(error).__name__


def deliver(alert: Alert, channels: AlertSettings) -> list[str]:
    """Send ``alert`` on every channel; what could not be sent, one line per channel (each channel
    is tried whatever happened to the others)."""
    log.warning("IDENT ALERT %s | %s | %s", alert.headline, alert.what, alert.link)
    problems = []
    if channels.email_to:
        try:
            from airflow.providers.smtp.notifications.smtp import SmtpNotifier

            # notify(), not the notifier's call: the text is ready, and an error may hold "{{"
            SmtpNotifier(
                to=list(channels.email_to),
                from_email=channels.email_from,
                subject=alert.subject(),
                html_content=alert.html(),
                smtp_conn_id=channels.smtp_conn_id,
            ).notify({})
            log.info("alert e-mailed to %s", ", ".join(channels.email_to))
        except Exception as exc:  # noqa: BLE001 - reported, and the SMS is still tried
            problems.append(f"e-mail through {channels.smtp_conn_id}: {first_line(exc)}")
    if channels.sms_to:
        try:
            from ident_hooks.smsc import SmscHook

            SmscHook(channels.smsc_conn_id).send(list(channels.sms_to), alert.sms())
            log.info("alert sent by SMS to %d number(s)", len(channels.sms_to))
        except Exception as exc:  # noqa: BLE001 - reported like the e-mail's
            problems.append(f"SMS through {channels.smsc_conn_id}: {first_line(exc)}")
    for problem in problems:
        log.error("IDENT ALERT could not be sent: %s", problem)
    return problems


def _remember(settings: ResolvedCapability, action: Callable[[AlertStore], Any]) -> Any:
    """``action`` on the alerts' memory in the IDENT database; None when that database fails it
    (logged: a failure alert then goes out anyway)."""
    from ident_integrations.store.alerts import AlertStore
    from ident_integrations.store.database import IdentDatabase

    try:
        return action(AlertStore(IdentDatabase(settings.ident_conn_id)))
    except Exception as exc:  # noqa: BLE001 - the alert must go out even so
        log.error("IDENT ALERT state unavailable (%s): going on without it", first_line(exc))
        return None


def _ui_link(path: str) -> str:
    from airflow.configuration import conf

    return conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/") + path


SHARED_LABEL = "all integrations"  # what a DAG shared across integrations is called in its alerts


class FailureAlert:
    """A task's ``on_failure_callback``: one alert per failed run of the integration's DAG. A DAG
    shared across integrations alerts on the channels of the ``settings`` it was given, as theirs."""

    def __init__(self, settings: ResolvedCapability, shared: bool = False):
        self.settings = settings
        self.integration = SHARED_LABEL if shared else settings.integration

    def __call__(self, context: dict[str, Any]) -> None:
        ti = context["ti"]
        now = datetime.now(UTC)
        claimed = _remember(self.settings, lambda store: store.claim_failure(ti.dag_id, ti.run_id, now))
        if claimed is False:
            log.info("IDENT ALERT for run %s already sent: not again", ti.run_id)
            return
        alert = Alert(
            "failure",
            self.integration,
            ti.dag_id,
            first_line(context.get("exception")),
            task_id=ti.task_id,
            try_number=ti.try_number,
            link=ti.log_url,
        )
        deliver(alert, self.settings.alerts)


class SuccessNote:
    """The last tasks' ``on_success_callback`` / ``on_skipped_callback``: the run got through; if a
    failure or lag alert was open, say that the DAG recovered."""

    def __init__(self, settings: ResolvedCapability):
        self.settings = settings

    def __call__(self, context: dict[str, Any]) -> None:
        ti = context["ti"]
        closed = _remember(self.settings, lambda store: store.record_success(ti.dag_id, ti.run_id, datetime.now(UTC)))
        if closed and self.settings.alerts.recovery:
            what = f"run {ti.run_id} succeeded after the {closed} alert"
            link = _ui_link(f"/dags/{ti.dag_id}/runs/{quote(ti.run_id)}")  # quoted as Airflow's log_url
            deliver(Alert("recovery", self.settings.integration, ti.dag_id, what, link=link), self.settings.alerts)


def log_failure(context: dict[str, Any]) -> None:
    """Always on, alerts or not: one greppable line in the task log naming the DAG, task, try, cause."""
    ti = context.get("ti") or context.get("task_instance")
    log.error(
        "IDENT ALERT: %s.%s failed on try %s: %s",
        getattr(ti, "dag_id", "?"),
        getattr(ti, "task_id", "?"),
        getattr(ti, "try_number", "?"),
        context.get("exception"),
    )


def failure_callbacks(settings: ResolvedCapability, shared: bool = False) -> list[Any]:
    return [log_failure, FailureAlert(settings, shared)]


def watch_last_tasks(dag: DAG, settings: ResolvedCapability) -> None:
    """Give the DAG's last tasks the success note (a run that reaches them has not failed)."""
    note = SuccessNote(settings)
    for task in dag.tasks:
        if not task.downstream_task_ids:
            task.on_success_callback = [*_as_list(task.on_success_callback), note]
            task.on_skipped_callback = [*_as_list(task.on_skipped_callback), note]


def _as_list(callbacks: Any) -> list[Any]:
    if callbacks is None:
        return []
    return list(callbacks) if isinstance(callbacks, list | tuple) else [callbacks]


# --- lag -----------------------------------------------------------------------------------------


def max_lag(settings: ResolvedCapability) -> timedelta | None:
    """How long the DAG may go without a success; None for a DAG that runs only when something
    happens (watched leads: no lead, no run)."""
    if settings.alerts.max_lag_minutes:
        return timedelta(minutes=settings.alerts.max_lag_minutes)
    if settings.capability == "leads":
        if getattr(settings.block, "mode", "poll") == "watch":
            return None
        return timedelta(minutes=LEADS_MAX_LAG_MINUTES)
    return timedelta(minutes=2 * settings.block.interval_minutes)


@dataclass
class LagCheck:
    watched: int = 0
    lagging: list[str] = field(default_factory=list)  # "<dag_id>: no successful run for …"
    alerted: list[str] = field(default_factory=list)  # the DAGs alerted now (the others already were)
    problems: list[str] = field(default_factory=list)  # what could not be sent


def check_lag(config: ConfigBase, now: datetime | None = None) -> LagCheck:
    """Alert once for each DAG that has not succeeded within its limit."""
    from ident_integrations.store.alerts import AlertStore
    from ident_integrations.store.database import IdentDatabase

    now = now or datetime.now(UTC)
    watched = [(settings, limit) for settings in config.enabled() if (limit := max_lag(settings))]
    result = LagCheck(watched=len(watched))
    if not watched:
        return result
    db = IdentDatabase(config.clinic.ident_conn_id)
    db.ensure_schema()  # the lag check may be the first to touch a new IDENT database
    store = AlertStore(db)
    health = store.health([settings.dag_id for settings, _ in watched], now)
    for settings, limit in watched:
        state = health[settings.dag_id]
        since = state.last_success_at or state.first_seen_at
        if now - since <= limit:
            continue
        minutes = int((now - since).total_seconds() // 60)
        what = f"no successful run for {minutes} min (limit {int(limit.total_seconds() // 60)} min)" + (
            "" if state.last_success_at else "; none since alerts began watching it"
        )
        result.lagging.append(f"{settings.dag_id}: {what}")
        if state.open_alert or not store.claim_lag(settings.dag_id, now):
            log.info("%s: %s; its %s alert is already open", settings.dag_id, what, state.open_alert or "lag")
            continue
        result.alerted.append(settings.dag_id)
        link = _ui_link(f"/dags/{settings.dag_id}")
        result.problems += deliver(
            Alert("lag", settings.integration, settings.dag_id, what, link=link), settings.alerts
        )
    log.info("lag check: %d DAG(s) watched, %d lagging, %d alerted now", result.watched, len(result.lagging),
             len(result.alerted))  # fmt: skip
    return result


def build_dag(config: ConfigBase) -> DAG | None:
    """``ident_alerts``: the lag check every LAG_CHECK_MINUTES, when any DAG can lag."""
    import pendulum
    from airflow.sdk import DAG, task
    from airflow.sdk.exceptions import AirflowException

    from ident_integrations.capabilities import default_args

    watched = [settings for settings in config.enabled() if max_lag(settings)]
    if not watched:
        return None
    limits = "\n".join(f"| `{s.dag_id}` | {int(max_lag(s).total_seconds() // 60)} min |" for s in watched)
    doc = f"""
## Lag alerts

Every {LAG_CHECK_MINUTES} minutes: has each integration's DAG succeeded within its limit? One that has not
(paused by mistake, runs stuck in the queue, a service down for long) gets one **lag alert** on its
integration's `alerts:` channels, and a **recovery** message with its next success. Failed runs alert on
their own, from their tasks. A stopped scheduler stops this DAG too: run `ident alerts check` from cron.

| DAG | no success for longer than |
|---|---|
{limits}
"""
    with DAG(
        dag_id=DAG_ID,
        description="Alert when an integration's DAG has not succeeded for too long",
        schedule=timedelta(minutes=LAG_CHECK_MINUTES),
        start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(watched[0], shared=True),
        tags=["ident", "alerts"],
        doc_md=doc,
    ) as dag:

        @task(task_id="check_lag", doc_md="Alert once for each DAG without a success within its limit.")
        def check_lag_task() -> None:
            problems = check_lag(config).problems
            if problems:
                raise AirflowException("lag alerts could not be sent: " + "; ".join(problems))

        check_lag_task()
    return dag
