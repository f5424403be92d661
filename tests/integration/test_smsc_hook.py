"""SmscHook against the sandbox's SMSC over real HTTP: send, status, balance, senders, the error
codes (2 fails at once, 9 backs off and succeeds, 3/6/7/8 per message), and the redacted exchange log."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.helpers import connection_json


@pytest.fixture
def smsc(sandbox, monkeypatch):
    """A fresh SMSC account (its own login) and a hook on connection smsc_test."""
    from ident_hooks.smsc import SmscHook

    login = f"hook-{uuid.uuid4().hex[:8]}"
    extra = json.dumps({"busy_retry_seconds": 0.05})
    host = f"{sandbox.base_url}/smsc"
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_TEST", connection_json(
        conn_type="ident_smsc", host=host, login=login, password=sandbox.key, extra=extra))  # fmt: skip
    exchanges: list = []
    hook = SmscHook("smsc_test", request_attempts=3, request_backoff_seconds=0.05, on_exchange=exchanges.append)
    yield login, hook, exchanges
    sandbox._control("DELETE", f"/smsc/{login}/state")


def stats(sandbox, login: str) -> dict:
    return sandbox._control("GET", f"/smsc/{login}/stats")


def test_send_status_balance_and_senders(sandbox, smsc):
    login, hook, exchanges = smsc
    sent = hook.send("+79165550001", "Напоминаем о приёме", None, "rtest1")
    assert (sent.smsc_id, sent.parts, str(sent.cost), str(sent.balance)) == ("rtest1", 1, "1.80", "9998.20")
    assert hook.balance() == sent.balance
    assert "IDENT" in hook.senders()
    sandbox._control("POST", f"/smsc/{login}/messages/rtest1/status", json={"status": 1})
    assert [a["status"] for a in hook.status(["+79165550001"], ["rtest1"])] == [1]
    ok, text = hook.test_connection()
    assert ok and "balance" in text
    logged = " ".join(f"{e.url} {e.error}" for e in exchanges)
    assert sandbox.key not in logged and login not in logged and "psw" not in logged
    assert "send.php" in logged and "id=rtest1" in logged


def test_wrong_password_fails_at_once_with_the_service_message(sandbox, smsc, monkeypatch):
    from ident_hooks.exchange import ServiceAuthError
    from ident_hooks.smsc import SmscHook

    login, _, _ = smsc
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_BAD", connection_json(
        conn_type="ident_smsc", host=f"{sandbox.base_url}/smsc", login=login, password="wrong"))  # fmt: skip
    exchanges: list = []
    hook = SmscHook("smsc_bad", request_attempts=3, request_backoff_seconds=0.05, on_exchange=exchanges.append)
    with pytest.raises(ServiceAuthError, match="error 2: wrong login or password.*SMSC: authorise error"):
        hook.balance()
    assert len(exchanges) == 1  # not retried
    assert "wrong" not in str(exchanges[0])
    assert hook.test_connection()[0] is False


def test_error_9_backs_off_and_then_succeeds(sandbox, smsc):
    login, hook, exchanges = smsc
    sandbox._control("POST", f"/smsc/{login}/errors", json={"code": 9, "count": 2})
    sent = hook.send("+79165550002", "Текст", None, "rtest9")
    assert sent.smsc_id == "rtest9"
    assert [e.error is not None for e in exchanges] == [True, True, False]
    assert stats(sandbox, login)["messages"] == 1


def test_per_message_errors_carry_their_code(sandbox, smsc):
    from ident_hooks.exchange import ServiceResponseError
    from ident_hooks.smsc import SmscMessageError

    login, hook, _ = smsc
    with pytest.raises(SmscMessageError) as bad_number:
        hook.send("+7916", "x", None, "r7")
    assert bad_number.value.code == 7 and "bad phone number format" in bad_number.value.text
    sandbox._control("POST", f"/smsc/{login}/balance", json={"balance": "0"})
    with pytest.raises(SmscMessageError) as no_money:
        hook.send("+79165550003", "x", None, "r3")
    assert no_money.value.code == 3 and "not enough money" in str(no_money.value)
    sandbox._control("POST", f"/smsc/{login}/errors", json={"code": 1})
    with pytest.raises(ServiceResponseError, match="error 1: parameter error") as parameter:
        hook.send("+79165550003", "x", None, "r1")
    assert not isinstance(parameter.value, SmscMessageError)


def test_apikey_in_the_extras_replaces_login_and_password(sandbox, monkeypatch):
    from ident_hooks.smsc import SmscHook

    extra = json.dumps({"apikey": sandbox.key})
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_KEY", connection_json(
        conn_type="ident_smsc", host=f"{sandbox.base_url}/smsc", extra=extra))  # fmt: skip
    exchanges: list = []
    assert SmscHook("smsc_key", on_exchange=exchanges.append).balance() >= 0
    assert sandbox.key not in exchanges[0].url
