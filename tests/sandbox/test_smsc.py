"""The SMSC emulator over real HTTP, through the session's shared sandbox: auth, send (SMS and
e-mail), our own id, duplicate protection, costs and balance, statuses, and the control API."""

from __future__ import annotations

import uuid

import pytest
import requests


@pytest.fixture
def login(sandbox):
    name = f"smsc-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/smsc/{name}/state")


def call(sandbox, script: str, login: str, method: str = "POST", psw: str | None = None, **params) -> dict:
    values = {"login": login, "psw": sandbox.key if psw is None else psw, "fmt": 3, "charset": "utf-8", **params}
    url = f"{sandbox.base_url}/smsc/sys/{script}.php"
    if method == "GET":
        response = requests.get(url, params=values, timeout=10)
    else:
        response = requests.post(url, data=values, timeout=10)
    assert response.status_code == 200  # SMSC answers its errors with 200 too
    return response.json()


def messages(sandbox, login: str) -> list[dict]:
    return sandbox._control("GET", f"/smsc/{login}/messages")["messages"]


def test_wrong_password_or_apikey_is_error_2_and_the_apikey_works(sandbox, login):
    assert call(sandbox, "balance", login, psw="wrong") == {"error": "authorise error", "error_code": 2}
    url = f"{sandbox.base_url}/smsc/sys/balance.php"
    assert requests.get(url, params={"apikey": "nope", "fmt": 3}, timeout=10).json()["error_code"] == 2
    assert requests.get(url, params={"apikey": sandbox.key, "fmt": 3}, timeout=10).json() == {"balance": "10000.00"}


def test_send_by_get_and_post_bills_per_part_and_lowers_the_balance(sandbox, login):
    short = call(sandbox, "send", login, "GET", phones="+79161234567", mes="Привет", cost=3)
    assert short == {"id": "1", "cnt": 1, "cost": "1.80", "balance": "9998.20"}
    long_text = "Ж" * 71  # one character over a Cyrillic part: two parts of 67
    two = call(sandbox, "send", login, phones="+79161234568", mes=long_text, cost=2)
    assert (two["cnt"], two["cost"]) == (2, "3.60")
    latin = call(sandbox, "send", login, phones="+79161234569", mes="x" * 160)
    assert latin["cnt"] == 1
    assert call(sandbox, "balance", login) == {"balance": f"{10000 - 1.8 * 4:.2f}"}
    assert [m["recipient"] for m in messages(sandbox, login)] == ["+79161234567", "+79161234568", "+79161234569"]


def test_identical_send_within_a_minute_is_error_9_but_our_id_again_returns_the_message(sandbox, login):
    first = call(sandbox, "send", login, phones="+79160000001", mes="Напоминание", id="r1")
    assert first == {"id": "r1", "cnt": 1}
    again = call(sandbox, "send", login, phones="+79160000001", mes="Напоминание", id="r1")
    assert again == {"id": "r1", "cnt": 1}  # recognised: not sent twice
    assert call(sandbox, "send", login, phones="+79160000001", mes="Напоминание")["error_code"] == 9
    assert len(messages(sandbox, login)) == 1
    assert sandbox._control("GET", f"/smsc/{login}/stats")["duplicates_recognised"] == 1


def test_bad_numbers_senders_and_no_money_are_per_message_errors_with_the_id(sandbox, login):
    assert call(sandbox, "send", login, phones="12ab", mes="x", id="a") == {
        "error": "wrong phone number format", "error_code": 7, "id": "a"}  # fmt: skip
    assert call(sandbox, "send", login, phones="+79160000000", mes="x", id="b")["error_code"] == 8
    assert call(sandbox, "send", login, phones="+79160000002", mes="x", sender="UNKNOWN")["error_code"] == 6
    sandbox._control("POST", f"/smsc/{login}/balance", json={"balance": "1.00"})
    assert call(sandbox, "send", login, phones="+79160000003", mes="x", id="c") == {
        "error": "no money", "error_code": 3, "id": "c"}  # fmt: skip
    assert messages(sandbox, login) == []


def test_email_needs_a_confirmed_sender_and_keeps_the_subject(sandbox, login):
    refused = call(sandbox, "send", login, phones="anna@example.ru", mes="Текст", mail=1, subj="Тема",
                   sender="other@example.ru")  # fmt: skip
    assert refused["error_code"] == 6
    sandbox._control("POST", f"/smsc/{login}/senders", json={"senders": ["clinic@dent.ru"]})
    assert call(sandbox, "senders", login, get=1) == [{"sender": "clinic@dent.ru"}]
    sent = call(sandbox, "send", login, phones="anna@example.ru", mes="Текст", mail=1, subj="Тема",
                sender="clinic@dent.ru", cost=2)  # fmt: skip
    assert sent["cnt"] == 1 and sent["cost"] == "0.50"
    (message,) = messages(sandbox, login)
    assert (message["mail"], message["subject"], message["sender"]) == (True, "Тема", "clinic@dent.ru")


def test_statuses_progress_and_can_be_forced_and_batched(sandbox, login):
    sandbox._control("POST", f"/smsc/{login}/timing", json={"queued_seconds": 60, "final_seconds": 120})
    call(sandbox, "send", login, phones="+79161111111", mes="a", id="s1")
    call(sandbox, "send", login, phones="+79162222222", mes="b", id="s2")
    one = call(sandbox, "status", login, phone="+79161111111", id="s1")
    assert one["status"] == -1 and isinstance(one, dict)
    sandbox._control("POST", f"/smsc/{login}/messages/s2/status", json={"status": 22, "err": 22})
    batch = call(sandbox, "status", login, phone="+79161111111,+79162222222,+79163333333,",
                 id="s1,s2,nope,")  # fmt: skip
    assert [(a["id"], a["status"]) for a in batch] == [("s1", -1), ("s2", 22), ("nope", -3)]
    sandbox._control("POST", f"/smsc/{login}/timing", json={"queued_seconds": 0, "final_seconds": 0})
    final = call(sandbox, "status", login, phone="+79161111111", id="s1")["status"]
    assert final in (1, 20, 22, 25)


def test_forced_errors_answer_the_next_sends(sandbox, login):
    sandbox._control("POST", f"/smsc/{login}/errors", json={"code": 9, "count": 2})
    assert call(sandbox, "send", login, phones="+79164444444", mes="x")["error_code"] == 9
    assert call(sandbox, "send", login, phones="+79164444444", mes="x")["error_code"] == 9
    assert "id" in call(sandbox, "send", login, phones="+79164444444", mes="x")
    stats = sandbox._control("GET", f"/smsc/{login}/stats")
    assert stats["errors"] == {"9": 2} and stats["requests"]["send"] == 3
