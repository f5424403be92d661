"""SMS and e-mail reminders and their statuses, on MariaDB and the sandbox's SMSC over real HTTP:
the templates (one visit, several, a network's branch tags), never twice (re-run, retry, a crash
between the send and the commit), quiet hours, no money, e-mail senders, status checks. ``now`` is
fixed and passed into the run functions; the wall clock is not read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.helpers import as_utc, query, smsc_messages

NOW = datetime(2030, 3, 4, 7, 0, tzinfo=UTC)  # Monday 10:00 in Moscow
H = timedelta(hours=1)
TVER = "ул. Тверская, 7"
EKB = "ул. Ленина, 1"


def settings_for(capability: str, conn_id: str = "smsc_test", integration: str = "reminders", **block):
    from ident_integrations.config import Clinic, RequestSettings, ResolvedCapability, TaskSettings
    from ident_integrations.registry import CAPABILITIES

    return ResolvedCapability(
        capability=capability, integration=integration, service="smsc", conn_id=conn_id, description="",
        clinic=Clinic(), block=CAPABILITIES[capability].settings(**block),
        request=RequestSettings(request_attempts=3, request_backoff_seconds=0.05), task=TaskSettings(), sources={},
    )  # fmt: skip


def write_clinic(at: datetime = NOW, branches: int = 2) -> None:
    """Two branches (Moscow, Yekaterinburg); patients: 1 one visit, 2 two visits at both branches,
    3 no phone and no e-mail, 4 a malformed phone, 5 a visit outside the window, 6 a cancelled one."""
    from ident_integrations.records.patients import Patient
    from ident_integrations.records.schedule import Appointment, Branch, Doctor
    from ident_integrations.store.database import IdentDatabase
    from ident_integrations.store.schedule import ScheduleStore

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    all_branches = [
        Branch(1, "Дента на Тверской", "Europe/Moscow", TVER, "+74950000001"),
        Branch(2, "Дента в Екатеринбурге", "Asia/Yekaterinburg", EKB, "+73430000002"),
    ][:branches]
    ids = [b.id for b in all_branches]

    def visit(id_, patient, start, branch=1, status="planned", doctor=1):
        branch = branch if branch in ids else 1
        return Appointment(id_, doctor, branch, start, start + H / 2, status, patient)

    ScheduleStore(db).replace(
        branches=all_branches,
        doctors=[Doctor(1, "Смирнова Ольга Викторовна", "Терапевт"), Doctor(2, "Орлов Илья Петрович", "Хирург")],
        doctor_branches=[(1, 1), (2, 2)] if branches > 1 else [(1, 1), (2, 1)],
        patients=[
            Patient(1, "Иванова", "Анна", "Сергеевна", "+79161110001", "anna@example.ru"),
            Patient(2, "Петров", "Пётр", "Ильич", "+79161110002", "petr@example.ru"),
            Patient(3, "Сидоров", "Олег", None, None, None),
            Patient(4, "Кузнецова", "Мария", "Ивановна", "89161110004", "not-an-address"),
            Patient(5, "Волков", "Игорь", "Петрович", "+79161110005", "igor@example.ru"),
            Patient(6, "Зайцева", "Ольга", "Павловна", "+79161110006", "olga@example.ru"),
        ],
        appointments=[
            visit(101, 1, at + 5 * H),
            visit(102, 2, at + 3 * H),
            visit(103, 2, at + 20 * H, branch=2, doctor=2),
            visit(104, 3, at + 4 * H),
            visit(105, 4, at + 6 * H),
            visit(106, 5, at + 30 * H),
            visit(107, 6, at + 2 * H, status="cancelled"),
        ],
    )


def messages(conn) -> list[tuple]:
    return query(
        conn, "SELECT channel, recipient, status, smsc_id, parts, cost, subject FROM ident_messages ORDER BY id"
    )


def test_one_visit_and_several_visits_texts_in_a_network(ident_mysql, sandbox, smsc_account):
    from ident_integrations.capabilities.reminders import send_reminders

    write_clinic()
    result = send_reminders(settings_for("sms", quiet_hours=False), now=NOW)
    assert result["recorded"] == 2 and result["sent"] == 2
    assert (result["no_contact"], result["rejected"]) == (1, 1)
    texts = {m["recipient"]: m["text"] for m in smsc_messages(sandbox, smsc_account)}
    assert texts == {
        "+79161110001": "Анна Сергеевна, напоминаем о приёме 04.03.2030 в 15:00, Дента на Тверской"
        f" ({TVER}, тел. +74950000001), врач Смирнова Ольга Викторовна. Дента на Тверской, тел. +74950000001",
        "+79161110002": "Пётр Ильич, напоминаем о приёмах: 04.03.2030 в 13:00, Дента на Тверской"
        f" ({TVER}, тел. +74950000001), врач Смирнова Ольга Викторовна; 05.03.2030 в 08:00, Дента в"
        f" Екатеринбурге ({EKB}, тел. +73430000002), врач Орлов Илья Петрович. Дента на Тверской,"
        " тел. +74950000001",
    }
    rows = messages(ident_mysql)
    assert [(r[1], r[2], r[4]) for r in rows] == [("+79161110001", "sent", 3), ("+79161110002", "sent", 5)]
    assert sum(r[5] for r in rows) == Decimal("14.40")  # 8 parts of 1.80
    visits = query(ident_mysql, "SELECT appointment_id, template FROM ident_message_visits ORDER BY appointment_id")
    assert visits == [(101, "sms_reminder"), (102, "sms_reminder"), (103, "sms_reminder")]
    (reason,) = query(ident_mysql, "SELECT reason FROM ident_rejects WHERE capability = 'sms'")
    assert "89161110004" in reason[0]


def test_one_branch_uses_the_plain_visit_format_and_the_clinic_settings(ident_mysql, sandbox, smsc_account):
    from ident_integrations.capabilities.reminders import send_reminders

    write_clinic(branches=1)
    block = {"quiet_hours": False, "clinic_name": "Дента", "clinic_phone": "+74951234567",
             "one_visit": "{Пациент}: {Прием}. {Клиника} {Телефон}"}  # fmt: skip
    send_reminders(settings_for("sms", **block), now=NOW)
    texts = {m["recipient"]: m["text"] for m in smsc_messages(sandbox, smsc_account)}
    assert texts["+79161110001"] == "Иванова Анна Сергеевна: 04.03.2030 в 15:00, врач Смирнова Ольга Викторовна." \
        " Дента +74951234567"  # fmt: skip
    assert "05.03.2030 в 06:00, врач Орлов Илья Петрович" in texts["+79161110002"]  # Moscow time, no branch


def test_a_rerun_and_a_task_retry_send_nothing_twice(ident_mysql, sandbox, smsc_account):
    from ident_hooks.exchange import ServiceResponseError
    from ident_integrations.capabilities.reminders import send_reminders

    write_clinic()
    settings = settings_for("sms", quiet_hours=False)
    # The first try fails after recording (SMSC's parameter error on the first send): Airflow retries the task.
    sandbox._control("POST", f"/smsc/{smsc_account}/errors", json={"code": 1})
    with pytest.raises(ServiceResponseError):
        send_reminders(settings, now=NOW)
    assert [r[2] for r in messages(ident_mysql)] == ["pending", "pending"]
    retry = send_reminders(settings, now=NOW + timedelta(minutes=1))
    assert (retry["recorded"], retry["sent"]) == (0, 2)
    rerun = send_reminders(settings, now=NOW + timedelta(minutes=15))
    assert (rerun["recorded"], rerun["sent"]) == (0, 0)
    assert sorted(m["recipient"] for m in smsc_messages(sandbox, smsc_account)) == ["+79161110001", "+79161110002"]


def test_a_crash_after_the_send_before_the_commit_is_not_sent_again(ident_mysql, sandbox, smsc_account):
    from ident_integrations.capabilities.reminders import send_reminders
    from ident_integrations.store.messages import MessageStore

    write_clinic()
    settings = settings_for("sms", quiet_hours=False)

    # A real failure injected between the send and its commit: the HTTP send to SMSC has happened
    # (the hook returned), then the process "dies" before mark_sent writes the row.
    def crash(self, *args, **kwargs):
        raise RuntimeError("worker killed between the send and the commit")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(MessageStore, "mark_sent", crash)
        with pytest.raises(RuntimeError, match="worker killed"):
            send_reminders(settings, now=NOW)
    assert len(smsc_messages(sandbox, smsc_account)) == 1  # the first message left before the crash
    assert [r[2] for r in messages(ident_mysql)] == ["pending", "pending"]
    again = send_reminders(settings, now=NOW + timedelta(minutes=1))
    assert again["sent"] == 2 and again["recorded"] == 0  # both resent with their ids; one recognised
    got = smsc_messages(sandbox, smsc_account)
    assert sorted(m["recipient"] for m in got) == ["+79161110001", "+79161110002"]  # exactly one each
    assert sandbox._control("GET", f"/smsc/{smsc_account}/stats")["duplicates_recognised"] == 1
    assert [r[2] for r in messages(ident_mysql)] == ["sent", "sent"]


def test_quiet_hours_wait_for_the_morning_in_clinic_time(ident_mysql, sandbox, smsc_account):
    from ident_integrations.capabilities.reminders import send_reminders

    evening = datetime(2030, 3, 4, 19, 0, tzinfo=UTC)  # 22:00 in Moscow
    write_clinic(at=evening + 11 * H)  # the visits from 09:00 next morning (Moscow) on
    settings = settings_for("sms", hours_ahead=36)
    night = send_reminders(settings, now=evening)
    assert (night["recorded"], night["sent"], night["waiting"]) == (2, 0, 2)
    assert smsc_messages(sandbox, smsc_account) == []
    (not_before,) = {as_utc(r[0]) for r in query(ident_mysql, "SELECT not_before FROM ident_messages")}
    assert not_before == datetime(2030, 3, 5, 6, 0, tzinfo=UTC)  # 09:00 Moscow
    still_night = send_reminders(settings, now=evening + 10 * H)  # 08:00
    assert (still_night["sent"], still_night["recorded"]) == (0, 1)  # patient 5's visit is in the window now
    with ident_mysql.cursor() as cur:  # patient 1 cancels overnight: the waiting message is not sent
        cur.execute("UPDATE ident_appointments SET status = 'cancelled' WHERE id = 101")
    ident_mysql.commit()
    morning = send_reminders(settings, now=datetime(2030, 3, 5, 6, 5, tzinfo=UTC))
    assert (morning["sent"], morning["dropped"], morning["recorded"]) == (2, 1, 0)  # all three waited
    assert sorted(m["recipient"] for m in smsc_messages(sandbox, smsc_account)) == ["+79161110002", "+79161110005"]
    statuses = query(ident_mysql, "SELECT recipient, status, status_text FROM ident_messages ORDER BY id")
    assert statuses[0] == ("+79161110001", "failed", "not sent: its visits were cancelled or have started")


def test_no_money_fails_that_message_and_the_run_and_keeps_the_rest_pending(ident_mysql, sandbox, smsc_account,
                                                                          caplog):  # fmt: skip
    from airflow.sdk.exceptions import AirflowFailException

    from ident_integrations.capabilities.reminders import send_reminders

    write_clinic()
    settings = settings_for("sms", quiet_hours=False, low_balance_warning=1000)
    sandbox._control("POST", f"/smsc/{smsc_account}/balance", json={"balance": "2.00"})
    with pytest.raises(AirflowFailException, match="not enough money.*0 sent, 1 left pending"):
        send_reminders(settings, now=NOW)
    assert "SMSC balance 2.00 is under low_balance_warning 1000" in caplog.text
    rows = query(ident_mysql, "SELECT status, smsc_error, status_text FROM ident_messages ORDER BY id")
    assert rows[0][:2] == ("failed", 3) and "not enough money" in rows[0][2]
    assert rows[1][0] == "pending"
    sandbox._control("POST", f"/smsc/{smsc_account}/balance", json={"balance": "100.00"})
    after = send_reminders(settings, now=NOW + timedelta(minutes=15))
    assert after["sent"] == 1
    assert [r[0] for r in query(ident_mysql, "SELECT status FROM ident_messages ORDER BY id")] == ["failed", "sent"]


def test_email_with_subject_and_signature_and_an_unconfirmed_sender_refused(ident_mysql, sandbox, smsc_account):
    from airflow.sdk.exceptions import AirflowFailException

    from ident_integrations.capabilities.reminders import send_reminders

    write_clinic()
    with pytest.raises(AirflowFailException, match="'nobody@dent.ru' is not among the SMSC account's confirmed"):
        send_reminders(settings_for("email", sender="nobody@dent.ru"), now=NOW)
    assert messages(ident_mysql) == []
    sandbox._control("POST", f"/smsc/{smsc_account}/senders", json={"senders": ["clinic@dent.ru"]})
    result = send_reminders(settings_for("email", sender="clinic@dent.ru", clinic_phone="+74951234567"), now=NOW)
    assert (result["sent"], result["rejected"], result["no_contact"]) == (2, 1, 1)
    got = {m["recipient"]: m for m in smsc_messages(sandbox, smsc_account)}
    anna = got["anna@example.ru"]
    assert anna["mail"] and anna["subject"] == "Напоминание о приёме в Дента на Тверской"
    assert anna["text"].endswith("\n\nС уважением,\nДента на Тверской\nтел. +74951234567")
    assert anna["sender"] == "clinic@dent.ru"
    assert [r[0] for r in messages(ident_mysql)] == ["email", "email"]
    # SMS for the same visits is its own channel: still sent
    sms = send_reminders(settings_for("sms", quiet_hours=False), now=NOW)
    assert sms["sent"] == 2


def test_statuses_are_checked_in_batches_mapped_and_final_ones_not_again(ident_mysql, sandbox, smsc_account):
    from ident_integrations.capabilities.reminders import send_reminders
    from ident_integrations.capabilities.sms_status import check_statuses

    write_clinic()
    send_reminders(settings_for("sms", quiet_hours=False), now=NOW)
    sandbox._control("POST", f"/smsc/{smsc_account}/senders", json={"senders": ["clinic@dent.ru"]})
    send_reminders(settings_for("email", sender="clinic@dent.ru"), now=NOW)
    ids = {r[1]: r[3] for r in messages(ident_mysql)}
    sandbox._control("POST", f"/smsc/{smsc_account}/messages/{ids['+79161110002']}/status",
                     json={"status": 22, "err": 22})  # fmt: skip
    sandbox._control("POST", f"/smsc/{smsc_account}/messages/{ids['anna@example.ru']}/status", json={"status": 0})
    stat = settings_for("sms_status", batch_size=3)
    first = check_statuses(stat, now=NOW + H)
    assert first["checked"] == 4 and first["undelivered"] >= 1 and first["not_final"] == 1
    rows = {r[0]: r[1:] for r in query(ident_mysql, "SELECT recipient, status, smsc_status, status_text, final_at"
                                                    " FROM ident_messages")}  # fmt: skip
    assert rows["+79161110002"][:3] == ("undelivered", 22, "wrong number (SMSC status 22, error 22)")
    assert rows["+79161110002"][3] is not None
    assert rows["anna@example.ru"][:3] == ("sent", 0, "handed to the operator (SMSC status 0)")
    assert rows["anna@example.ru"][3] is None
    second = check_statuses(stat, now=NOW + 2 * H)
    assert second["checked"] == 1  # only the one without a final status
    assert check_statuses(stat, now=NOW + timedelta(days=4))["checked"] == 0  # stop_after_days 3
