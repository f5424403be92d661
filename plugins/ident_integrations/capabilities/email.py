"""E-mail appointment reminders (``email:`` block, DAG ``ident_email__<integration>``) through
SMSC's ``send.php`` with ``mail=1``: the same reminders as the SMS ones (``capabilities/reminders.py``:
visits, templates, tags, never twice), with a subject and the clinic's signature appended.

``sender`` (required) is the sender's e-mail address; the run checks it against SMSC's confirmed
senders (``senders.php?get=1``) before recording anything: an unconfirmed one fails the run at once.
``subject`` and ``signature`` take ``{Клиника}`` and ``{Телефон}``. Quiet hours are off by default.
Preview: ``ident sms preview --integration NAME --channel email``.
"""

from __future__ import annotations

from typing import Literal

from airflow.sdk import DAG, task
from pydantic import Field, field_validator

from ident_integrations.capabilities import Capability, ident_dag
from ident_integrations.capabilities.reminders import (
    QuietHours,
    ReminderSettings,
    check_tags,
    reminder_doc,
    send_reminders,
)
from ident_integrations.config import ResolvedCapability

NAME = "email"
SIGNATURE_TAGS = frozenset({"Клиника", "Телефон"})


class EmailSettings(ReminderSettings):
    """An integration's ``email:`` block."""

    quiet_hours: QuietHours | Literal[False] = False
    subject: str = Field("Напоминание о приёме в {Клиника}", min_length=1, max_length=255)
    signature: str = "С уважением,\n{Клиника}\nтел. {Телефон}"

    @field_validator("subject", "signature")
    @classmethod
    def _signature_tags(cls, value: str) -> str:
        return check_tags(value, SIGNATURE_TAGS)


def build_dag(settings: ResolvedCapability) -> DAG:
    with ident_dag(
        settings,
        description=f"E-mail reminders through {settings.integration} every {settings.block.interval_minutes} min",
        doc_md=reminder_doc(settings, "E-mail")
        + f"\nSender `{settings.block.sender}` must be a confirmed SMSC sender; subject and signature are"
        " appended from the `email` block.\n",
    ) as dag:

        @task(task_id="send_reminders", doc_md="Check the sender, record the new reminders, send the pending ones.")
        def send_reminders_task() -> dict:
            return send_reminders(settings)

        send_reminders_task()
    return dag


EMAIL = Capability(name=NAME, settings=EmailSettings, action="send e-mail reminders", build_dag=build_dag,
                   run=send_reminders)  # fmt: skip
