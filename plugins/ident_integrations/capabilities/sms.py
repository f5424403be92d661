"""SMS appointment reminders (``sms:`` block, DAG ``ident_sms__<integration>``) through SMSC.

Which visits, the templates and their tags (``{Прием}``, ``{Приемы}``, ``{Пациент}``, ``{Имя}``,
``{Отчество}``, ``{Клиника}``, ``{Телефон}``; in the visit format ``{Дата}``, ``{Время}``,
``{ДеньНедели}``, ``{Врач}``, ``{Филиал}``, ``{Адрес}``, ``{ТелефонФилиала}``), quiet hours and the
never-twice rule: ``capabilities/reminders.py``. Preview: ``ident sms preview --integration NAME``.
"""

from __future__ import annotations

from airflow.sdk import DAG, task

from ident_integrations.capabilities import Capability, ident_dag
from ident_integrations.capabilities.reminders import ReminderSettings, reminder_doc, send_reminders
from ident_integrations.config import ResolvedCapability

NAME = "sms"


class SmsSettings(ReminderSettings):
    """An integration's ``sms:`` block; ``sender`` is the approved Sender ID (none: SMSC's default)."""


def build_dag(settings: ResolvedCapability) -> DAG:
    with ident_dag(
        settings,
        description=f"SMS reminders through {settings.integration} every {settings.block.interval_minutes} min",
        doc_md=reminder_doc(settings, "SMS"),
    ) as dag:

        @task(task_id="send_reminders", doc_md="Record the new reminders, then send every pending one.")
        def send_reminders_task() -> dict:
            return send_reminders(settings)

        send_reminders_task()
    return dag


SMS = Capability(name=NAME, settings=SmsSettings, action="send SMS reminders", build_dag=build_dag,
                 run=send_reminders)  # fmt: skip
