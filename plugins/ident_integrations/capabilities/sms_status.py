"""Delivery statuses (``sms_status:`` block, DAG ``ident_sms_status__<integration>``): every
``interval_minutes`` ask SMSC's ``status.php`` about the integration's messages (SMS and e-mail)
that were sent and have no final status yet, ``batch_size`` at a time (comma lists), and write
``ident_messages.smsc_status``, ``smsc_error``, ``status_text`` (readable) and, for a final status,
``status`` (delivered / undelivered) and ``final_at``. A message is checked for ``stop_after_days``
after it was sent, then left as it is.

SMSC's statuses (reference external-apis.md §4.3): -3 not found, -2 stopped, -1 waiting, 0 handed
to the operator, 1 delivered, 2 read, 3 expired, 4 link clicked, 20 cannot be delivered, 22 wrong
number, 23 forbidden, 24 not enough money, 25 number unavailable. Final: 1, 2, 4 (delivered) and
-2, 3, 20-25 (undelivered); -3, -1 and 0 are asked again next run.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from airflow.sdk import DAG, task
from pydantic import Field

from ident_integrations.capabilities import Capability, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability

log = logging.getLogger(__name__)
NAME = "sms_status"

STATUS_TEXT = {
    -3: "not found at SMSC (yet)",
    -2: "stopped before it left",
    -1: "waiting to be sent",
    0: "handed to the operator",
    1: "delivered",
    2: "read",
    3: "expired before delivery",
    4: "delivered, link clicked",
    20: "cannot be delivered",
    22: "wrong number",
    23: "forbidden",
    24: "not enough money",
    25: "number unavailable",
}
DELIVERED = frozenset({1, 2, 4})
UNDELIVERED = frozenset({-2, 3, 20, 22, 23, 24, 25})


class SmsStatusSettings(CapabilitySettings):
    """An integration's ``sms_status:`` block."""

    interval_minutes: IntervalMinutes = 30
    batch_size: Annotated[int, Field(ge=1, le=500)] = 50  # messages per status.php request
    stop_after_days: Annotated[int, Field(ge=1, le=60)] = 3  # not asked about any more after this
    max_per_run: Annotated[int, Field(ge=1, le=100_000)] = 5000


def describe(status: int, err: int) -> str:
    text = STATUS_TEXT.get(status, f"unknown status {status}")
    return f"{text} (SMSC status {status}" + (f", error {err})" if err else ")")


def status_values(answer: dict, now: datetime) -> dict[str, Any]:
    try:
        status = int(answer.get("status"))
    except (TypeError, ValueError):
        raise ValueError(f"status.php answered without a status: {answer!r}") from None
    err = int(answer.get("err") or 0)
    values: dict[str, Any] = {
        "smsc_status": status, "smsc_error": err or None, "status_text": describe(status, err)[:255],
        "status_checked_at": now,
    }  # fmt: skip
    if status in DELIVERED:
        values.update(status="delivered", final_at=now)
    elif status in UNDELIVERED:
        values.update(status="undelivered", final_at=now)
    return values


def check_statuses(settings: ResolvedCapability, *, now: datetime | None = None) -> dict[str, Any]:
    from ident_integrations.store.messages import MessageStore

    now = now or datetime.now(UTC)
    block = settings.block
    store = MessageStore.open(settings)
    messages = store.unfinished(now - timedelta(days=block.stop_after_days), block.max_per_run)
    counts = {"checked": 0, "delivered": 0, "undelivered": 0, "not_final": 0}
    with service_hook(settings, store) as (_, hook, _):
        for start in range(0, len(messages), block.batch_size):
            batch = messages[start : start + block.batch_size]
            answers = hook.status([m.recipient for m in batch], [m.smsc_id for m in batch])
            by_key = {(str(a.get("id")), str(a.get("phone"))): a for a in answers if "id" in a and "phone" in a}
            updates = []
            for index, message in enumerate(batch):
                answer = by_key.get((message.smsc_id, message.recipient))
                if answer is None and len(answers) == len(batch):
                    answer = answers[index]  # SMSC's list is in the order asked
                if answer is None:
                    log.warning("status.php said nothing about %s", message.smsc_id)
                    continue
                values = status_values(answer, now)
                updates.append({"id": message.id, **values})
                kind = values.get("status", "not_final")
                counts[kind] += 1
                counts["checked"] += 1
                log.info("%s %s (%s): %s", message.channel, message.smsc_id, message.recipient[:4] + "…",
                         values["status_text"])  # fmt: skip
            store.record_statuses(updates)
    log.info("checked %d message(s): %d delivered, %d undelivered, %d not final yet", counts["checked"],
             counts["delivered"], counts["undelivered"], counts["not_final"])  # fmt: skip
    return counts


def build_dag(settings: ResolvedCapability) -> DAG:
    block = settings.block
    doc = f"""
## Delivery statuses from `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** Every {block.interval_minutes} min it asks SMSC (`status.php`, connection
`{settings.conn_id}`) about the SMS and e-mails in `ident_messages` that were sent and have no
final status, {block.batch_size} per request, and writes `smsc_status`, `smsc_error`, a readable
`status_text` and, for a final one, `status` = delivered/undelivered and `final_at`. Messages are
asked about for {block.stop_after_days} day(s) after sending.

**When it fails.** Error 2/4: fix the login, password or IP list of connection `{settings.conn_id}`.
Error 9 (more than 5 status requests per message per minute) and timeouts are retried; lower
`interval_minutes` less often.
"""
    with ident_dag(settings, description=f"SMSC delivery statuses of {settings.integration}", doc_md=doc) as dag:

        @task(task_id="check_statuses", doc_md="Ask SMSC about the messages without a final status.")
        def check_statuses_task() -> dict:
            return check_statuses(settings)

        check_statuses_task()
    return dag


SMS_STATUS = Capability(name=NAME, settings=SmsStatusSettings, action="check SMS delivery statuses",
                        build_dag=build_dag, run=check_statuses)  # fmt: skip
