"""Alerts that reach a person, end to end: a lead DAG whose service fails, run with dag.test()
(retries included) against the sandbox, the IDENT database on MariaDB, a real SMTP server on
loopback (aiosmtpd) and the sandbox's SMSC. A failed run sends exactly one e-mail and one SMS
whatever its retries; the next failed run sends its own; the first success after them sends one
recovery message; the lag check alerts once for a DAG without a success for too long."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email.policy import default as default_policy
from types import SimpleNamespace
from urllib.parse import quote

import pytest
import yaml

from tests.helpers import connection_json, free_port, parse_dags, smsc_messages

TENANT = "e2e_alerts"
ON_CALL = "+79990001122"
pytestmark = pytest.mark.e2e


@pytest.fixture
def mailbox(monkeypatch):
    """A real SMTP server on loopback and the connection ``alert_smtp`` to it; yields the messages."""
    from aiosmtpd.controller import Controller

    messages: list[email.message.EmailMessage] = []

    class Keep:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
            messages.append(email.message_from_bytes(envelope.content, policy=default_policy))
            return "250 OK"

    port = free_port()
    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    extra = {"disable_tls": True, "disable_ssl": True, "from_email": "airflow@clinic.example", "retry_limit": 1}
    monkeypatch.setenv(
        "AIRFLOW_CONN_ALERT_SMTP",
        connection_json(conn_type="smtp", host="127.0.0.1", port=port, extra=json.dumps(extra)),
    )
    yield messages
    controller.stop()


def write_config(tmp_path, monkeypatch, conn_id: str, **leads) -> dict:
    config = {
        "defaults": {
            "request_attempts": 1,
            "task_retries": 2,
            "task_retry_delay_seconds": 0,
            "alerts": {
                "email_to": ["oncall@clinic.example"],
                "smtp_conn_id": "alert_smtp",
                "sms_to": [ON_CALL],
                "smsc_conn_id": "smsc_test",
            },
        },
        "integrations": [{"name": "site", "service": "clinic_http", "conn_id": conn_id, "leads": leads}],
    }
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.setenv("IDENT_INTEGRATIONS_FILE", str(path))
    return config


@pytest.fixture
def lead_dag(airflow_metadata_db, sandbox, clinic_conn, ident_mysql, tmp_path, monkeypatch):
    start = (sandbox.start_time - timedelta(days=1)).date().isoformat()
    write_config(tmp_path, monkeypatch, clinic_conn(sandbox, TENANT, conn_id="clinic_alerts"), start_date=start)
    dags = parse_dags()
    yield dags["ident_leads__site"]
    sandbox.reset_faults("clinic_http")


def texts(sandbox, login: str) -> list[str]:
    return [message["text"] for message in smsc_messages(sandbox, login)]


def test_a_failing_service_alerts_once_per_failed_run_and_once_on_recovery(
    lead_dag, sandbox, smsc_account, mailbox, ident_mysql
):
    sandbox.set_faults("clinic_http", fail_next=1000)  # every request: 503
    first = lead_dag.test()
    assert first.state == "failed"
    (mail,) = mailbox  # three tries of import_leads, one alert
    assert mail["To"] == "oncall@clinic.example"
    assert mail["Subject"] == "[IDENT] FAILED: site — ident_leads__site, task import_leads, try 3"
    body = mail.get_body(("html",)).get_content()
    assert "503" in body and "<th align=left>Integration</th><td>site</td>" in body
    run_id = quote(first.run_id)
    assert f"http://localhost:8080/dags/ident_leads__site/runs/{run_id}/tasks/import_leads?try_number=3" in body
    (sms,) = smsc_messages(sandbox, smsc_account)
    assert sms["recipient"] == ON_CALL
    assert sms["text"].startswith("IDENT FAILED: site — ident_leads__site, task import_leads, try 3: ")
    assert "503" in sms["text"] and "/tasks/import_leads?try_number=3" in sms["text"]

    second = lead_dag.test()  # the next failed run has its own alert
    assert second.state == "failed"
    assert len(mailbox) == 2 and len(smsc_messages(sandbox, smsc_account)) == 2

    sandbox.reset_faults("clinic_http")
    recovered = lead_dag.test()
    assert recovered.state == "success"
    assert len(mailbox) == 3
    assert mailbox[2]["Subject"] == "[IDENT] RECOVERED: site — ident_leads__site"
    assert f"run {recovered.run_id} succeeded after the failure alert" in mailbox[2].get_body(("html",)).get_content()
    run_link = f"http://localhost:8080/dags/ident_leads__site/runs/{quote(recovered.run_id)}"
    assert run_link in mailbox[2].get_body(("html",)).get_content()
    assert texts(sandbox, smsc_account)[2].startswith("IDENT RECOVERED: site — ident_leads__site: ")

    assert lead_dag.test().state == "success"  # nothing to recover from: no message
    assert len(mailbox) == 3 and len(smsc_messages(sandbox, smsc_account)) == 3


def test_the_lag_check_alerts_once_and_the_next_success_recovers(
    sandbox, smsc_account, mailbox, ident_mysql, clinic_conn, tmp_path, monkeypatch
):
    from ident_integrations.alerts import SuccessNote, check_lag
    from ident_integrations.config import load_config
    from ident_integrations.store.database import IdentDatabase

    IdentDatabase("ident_db").ensure_schema()
    write_config(tmp_path, monkeypatch, clinic_conn(sandbox, TENANT, conn_id="clinic_alerts"))
    config = load_config()
    now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    assert check_lag(config, now).lagging == [] and mailbox == []  # first seen now
    assert check_lag(config, now + timedelta(minutes=10)).lagging == [] and mailbox == []  # within the limit
    lagging = check_lag(config, now + timedelta(minutes=11))
    assert lagging.alerted == ["ident_leads__site"] and lagging.problems == []
    (mail,) = mailbox
    assert mail["Subject"] == "[IDENT] LAGGING: site — ident_leads__site"
    assert "no successful run for 11 min (limit 10 min)" in mail.get_body(("html",)).get_content()
    assert texts(sandbox, smsc_account)[0].startswith("IDENT LAGGING: site — ident_leads__site: no successful run")
    still = check_lag(config, now + timedelta(minutes=30))  # still lagging: no second alert
    assert still.lagging[0].startswith("ident_leads__site: no successful run for 30 min") and still.alerted == []
    assert len(mailbox) == 1 and len(smsc_messages(sandbox, smsc_account)) == 1

    # The DAG's last task succeeds (its callback, called as Airflow calls it): recovered, once
    note = SuccessNote(config.resolve("site", "leads"))
    note({"ti": SimpleNamespace(dag_id="ident_leads__site", run_id="scheduled__2030-01-01T09:31:00+00:00")})
    assert mailbox[1]["Subject"] == "[IDENT] RECOVERED: site — ident_leads__site"
    assert "after the lag alert" in mailbox[1].get_body(("html",)).get_content()
    note({"ti": SimpleNamespace(dag_id="ident_leads__site", run_id="scheduled__2030-01-01T09:33:00+00:00")})
    assert len(mailbox) == 2 and len(smsc_messages(sandbox, smsc_account)) == 2


def test_a_channel_that_cannot_send_is_reported_and_the_other_still_sends(
    sandbox, smsc_account, ident_mysql, clinic_conn, tmp_path, monkeypatch
):
    from ident_integrations.alerts import check_lag
    from ident_integrations.config import load_config
    from ident_integrations.store.database import IdentDatabase

    IdentDatabase("ident_db").ensure_schema()
    monkeypatch.setenv(  # nothing listens there
        "AIRFLOW_CONN_ALERT_SMTP",
        connection_json(conn_type="smtp", host="127.0.0.1", port=free_port(), extra='{"disable_tls": true, '
                        '"disable_ssl": true, "from_email": "a@clinic.example", "retry_limit": 0, "timeout": 2}'),
    )  # fmt: skip
    write_config(tmp_path, monkeypatch, clinic_conn(sandbox, TENANT, conn_id="clinic_alerts"))
    config = load_config()
    now = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
    check_lag(config, now)
    (problem,) = check_lag(config, now + timedelta(minutes=20)).problems
    assert problem.startswith("e-mail through alert_smtp: ")
    assert texts(sandbox, smsc_account)[0].startswith("IDENT LAGGING: site")  # the SMS went all the same


def test_a_failure_alert_goes_out_when_the_ident_database_is_down(
    sandbox, smsc_account, mailbox, clinic_conn, tmp_path, monkeypatch
):
    from ident_integrations.alerts import FailureAlert
    from ident_integrations.config import load_config

    monkeypatch.setenv(  # nothing listens there: the alerts' memory cannot be reached
        "AIRFLOW_CONN_IDENT_DB", connection_json(conn_type="mysql", host="127.0.0.1", port=free_port(), login="root")
    )
    write_config(tmp_path, monkeypatch, clinic_conn(sandbox, TENANT, conn_id="clinic_alerts"))
    ti = SimpleNamespace(
        dag_id="ident_leads__site", run_id="manual__1", task_id="import_leads", try_number=3, log_url="http://ui/log"
    )
    FailureAlert(load_config().resolve("site", "leads"))({"ti": ti, "exception": RuntimeError("IDENT DB down")})
    (mail,) = mailbox
    assert mail["Subject"] == "[IDENT] FAILED: site — ident_leads__site, task import_leads, try 3"
    assert texts(sandbox, smsc_account)[0].startswith("IDENT FAILED: site — ident_leads__site, task import_leads")
