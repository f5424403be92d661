"""The DaData hook against the sandbox over HTTP: the answer through the official package on the
connection's URL, auth failures at once with DaData's message (one request), 429 with Retry-After
and 5xx retried, a timeout, the connection test, and no key in the exchange log."""

from __future__ import annotations

import time

import pytest

from ident_hooks.dadata import DadataHook, cleaner_url, profile_url
from ident_hooks.exchange import ServiceAuthError, TransientServiceError
from tests.helpers import connection_json


@pytest.fixture
def dadata_conn(sandbox, monkeypatch):
    """Connection ``dadata_test`` on the sandbox; returns a function(login=…, password=…) to change it."""

    def make(login: str | None = None, password: str | None = None, **extra) -> str:
        monkeypatch.setenv("AIRFLOW_CONN_DADATA_TEST", connection_json(
            conn_type="ident_dadata", host=f"{sandbox.base_url}/dadata", login=sandbox.key if login is None else login,
            password=sandbox.key if password is None else password, extra=extra or None))  # fmt: skip
        return "dadata_test"

    make()
    yield make
    sandbox._control("DELETE", "/dadata/faults")
    sandbox.reset_faults("dadata")


def hook(exchanges: list, **settings) -> DadataHook:
    return DadataHook("dadata_test", request_backoff_seconds=0.01, on_exchange=exchanges.append, **settings)


def my_requests(sandbox) -> int:
    stats = sandbox._control("GET", "/dadata/stats")
    return stats["requests_by_key"].get(stats["sandbox_key"], 0)


def test_urls_keep_the_trailing_slash_and_the_real_profile_host():
    assert cleaner_url(None) == "https://cleaner.dadata.ru/api/v1/"
    assert cleaner_url("http://127.0.0.1:8081/dadata/") == "http://127.0.0.1:8081/dadata/api/v1/"
    assert profile_url("cleaner.dadata.ru") == "https://dadata.ru/api/v2/"
    assert profile_url("http://127.0.0.1:8081/dadata") == "http://127.0.0.1:8081/dadata/api/v2/"


def test_clean_address_returns_dadatas_object(sandbox, dadata_conn):
    exchanges: list = []
    with hook(exchanges) as h:
        answer = h.clean_address("г. Москва, ул. Мясницкая, д. 24, кв. 7")
    assert answer["result"] == "г Москва, ул Мясницкая, д 24, кв 7"
    assert isinstance(answer["geo_lat"], str) and answer["qc"] == 0 and answer["qc_geo"] == 0
    assert [(e.method, e.status) for e in exchanges] == [("POST", 200)]
    assert exchanges[0].url == f"{sandbox.base_url}/dadata/api/v1/clean/address"
    assert h.requests_sent == 1


def test_a_wrong_secret_fails_at_once_with_dadatas_message(sandbox, dadata_conn):
    dadata_conn(password="wrong-secret")
    exchanges: list = []
    before = my_requests(sandbox)
    with pytest.raises(ServiceAuthError, match="403.*Invalid API key or secret key"), hook(exchanges) as h:
        h.clean_address("мск сухонская 11")
    assert my_requests(sandbox) == before + 1  # not retried
    assert [e.status for e in exchanges] == [403] and "wrong-secret" not in str(exchanges)


def test_missing_keys_fail_before_any_request(sandbox, dadata_conn):
    dadata_conn(login="")
    before = my_requests(sandbox)
    with pytest.raises(ServiceAuthError, match="API key in its login"):
        hook([]).clean_address("мск сухонская 11")
    assert my_requests(sandbox) == before


def test_no_money_is_an_auth_failure_and_the_key_is_never_recorded(sandbox, dadata_conn):
    sandbox._control("PUT", "/dadata/faults", json={"forbidden": True})
    exchanges: list = []
    with pytest.raises(ServiceAuthError) as raised:
        hook(exchanges).clean_address("мск сухонская 11")
    assert "Not enough money" in str(raised.value) and sandbox.key not in str(raised.value)
    assert sandbox.key not in repr(exchanges)


def test_429_waits_for_retry_after_then_succeeds(sandbox, dadata_conn):
    sandbox._control("PUT", "/dadata/faults", json={"rate_limited_next": 1, "retry_after": 1})
    exchanges: list = []
    started = time.monotonic()
    answer = hook(exchanges).clean_address("мск сухонская 11")
    assert time.monotonic() - started >= 0.9  # Retry-After: 1, not the 0.01 s backoff
    assert answer["street"] == "Сухонская"
    assert [e.status for e in exchanges] == [429, 200] and "Too many requests" in exchanges[0].error


def test_5xx_is_retried_and_gives_up_after_the_attempts(sandbox, dadata_conn):
    sandbox.set_faults("dadata", fail_next=1)
    exchanges: list = []
    assert hook(exchanges).clean_address("мск сухонская 11")["house"] == "11"
    assert [e.status for e in exchanges] == [503, 200]
    sandbox.set_faults("dadata", fail_next=5)
    with pytest.raises(TransientServiceError, match="503"):
        hook([], request_attempts=2).clean_address("мск сухонская 11")


def test_a_slow_answer_times_out_and_is_retried(sandbox, dadata_conn):
    sandbox.set_faults("dadata", slow_next=1, slow_ms=1500)
    exchanges: list = []
    assert hook(exchanges, timeout_seconds=0.3).clean_address("мск сухонская 11")["house"] == "11"
    assert exchanges[0].status is None and "no answer within 0.3 s" in exchanges[0].error
    assert exchanges[1].status == 200


def test_the_connection_test_reports_the_balance_or_the_refusal(sandbox, dadata_conn):
    ok, message = DadataHook("dadata_test").test_connection()
    assert ok and "balance 9922.30 RUB" in message
    dadata_conn(login="someone-else")
    ok, message = DadataHook("dadata_test").test_connection()
    assert not ok and "403" in message and "someone-else" not in message
