"""SMS, e-mail and status DAGs end to end: the real DAG file with dag.test() on MariaDB and the
sandbox's SMSC over HTTP, and ``ident sms preview`` through its console script."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from tests.helpers import connection_json, parse_dags, query, smsc_messages
from tests.integration.test_reminders import write_clinic

IDENT = str(Path(sys.executable).with_name("ident"))
pytestmark = pytest.mark.e2e


def write_config(tmp_path, monkeypatch, conn_id: str = "smsc_test") -> Path:
    config = {
        "defaults": {"request_backoff_seconds": 0.05, "task_retries": 0},
        "integrations": [
            {
                "name": "reminders", "service": "smsc", "conn_id": conn_id,
                "sms": {"quiet_hours": False}, "email": {"sender": "clinic@example.ru"}, "sms_status": {},
            }
        ],
    }  # fmt: skip
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    return path


def dags(tmp_path, monkeypatch, conn_id: str = "smsc_test") -> dict:
    write_config(tmp_path, monkeypatch, conn_id)
    dags = parse_dags()
    return dags


def task_result(dag_run, task_id: str) -> dict:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        statement = XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id)
        return XComModel.deserialize_value(session.scalars(statement).first())


def test_sms_email_and_status_dags_on_mariadb(airflow_metadata_db, ident_mysql, sandbox, smsc_account, tmp_path,
                                              monkeypatch):  # fmt: skip
    write_clinic(at=datetime.now(UTC))
    bag = dags(tmp_path, monkeypatch)
    sms, email, status = (bag[f"ident_{c}__reminders"] for c in ("sms", "email", "sms_status"))
    assert sms.tags >= {"ident", "sms", "smsc"} and "ident_messages" in sms.doc_md

    first = sms.test()
    assert first.state == "success"
    assert task_result(first, "send_reminders")["sent"] == 2
    again = sms.test()
    assert again.state == "success" and task_result(again, "send_reminders")["sent"] == 0
    mailed = email.test()
    assert mailed.state == "success" and task_result(mailed, "send_reminders")["sent"] == 2
    got = smsc_messages(sandbox, smsc_account)
    assert sorted(m["recipient"] for m in got) == [
        "+79161110001", "+79161110002", "anna@example.ru", "petr@example.ru"]  # fmt: skip

    checked = status.test()
    assert checked.state == "success"
    result = task_result(checked, "check_statuses")
    assert result["checked"] == 4 and result["delivered"] + result["undelivered"] == 4
    rows = query(ident_mysql, "SELECT status FROM ident_messages WHERE final_at IS NOT NULL")
    assert len(rows) == 4


def test_a_wrong_password_fails_the_dag_run_at_once(airflow_metadata_db, ident_mysql, sandbox, smsc_account,
                                                    tmp_path, monkeypatch):  # fmt: skip
    write_clinic(at=datetime.now(UTC))
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_BAD", connection_json(
        conn_type="ident_smsc", host=f"{sandbox.base_url}/smsc", login=smsc_account, password="wrong"))  # fmt: skip
    run = dags(tmp_path, monkeypatch, conn_id="smsc_bad")["ident_sms__reminders"].test()
    assert run.state == "failed"
    assert sandbox._control("GET", f"/smsc/{smsc_account}/stats")["requests"] == {}  # refused before any account
    (logged,) = query(ident_mysql, "SELECT url, error_text FROM ident_exchange_log WHERE capability = 'sms'")
    assert "wrong" not in f"{logged}" and "error 2" in logged[1]


def test_preview_through_the_console_script(ident_mysql, tmp_path, monkeypatch):
    at = datetime(2030, 3, 4, 7, 0, tzinfo=UTC)
    write_clinic(at=at)
    path = write_config(tmp_path, monkeypatch)
    env = {**os.environ, "IDENT_INTEGRATIONS_FILE": str(path)}
    result = subprocess.run([IDENT, "sms", "preview", "--integration", "reminders", "--at", at.isoformat()],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "[one_visit] patient 1 -> +79161110001 (visits 101)" in out
    assert "[several_visits] patient 2 -> +79161110002 (visits 102, 103)" in out
    assert "Анна Сергеевна, напоминаем о приёме 04.03.2030 в 15:00" in out
    assert "2 new message(s), 0 pending, 1 patient(s) without a phone, 1 rejected" in out
    mail = subprocess.run([IDENT, "sms", "preview", "--integration", "reminders", "--channel", "email", "--at",
                           at.isoformat()], env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert mail.returncode == 0, mail.stderr
    assert "-> anna@example.ru" in mail.stdout and "Subject: Напоминание о приёме в Дента на Тверской" in mail.stdout
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_messages") == [(0,)]  # nothing recorded
    missing = subprocess.run([IDENT, "sms", "preview", "--integration", "nope"], env=env, capture_output=True,
                             text=True, timeout=120)  # fmt: skip
    assert missing.returncode == 2 and "no enabled sms block for integration 'nope'" in missing.stderr
