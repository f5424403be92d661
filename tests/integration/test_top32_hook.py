"""Top32Hook against the sandbox's 32top emulator (the assumed contract) over real HTTP, a fresh
account per test."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import ident_hooks
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError
from ident_hooks.top32 import LEAD_FIELDS, MAX_PER_PAGE, Top32Hook, api_url, parse_wire_time, wire_time
from tests.helpers import connection_json


@pytest.fixture
def account(sandbox):
    name = f"hook-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/top32/{name}/state")
    sandbox.reset_faults("top32")


@pytest.fixture
def top32_conn(monkeypatch, sandbox, account):
    """Point a connection at the account; returns a function(key=None, conn_id=...)."""

    def make(key: str | None = None, conn_id: str = "top32_test") -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            connection_json(
                conn_type="ident_top32",
                host=f"{sandbox.base_url}/top32/{account}/api/partner/v1",
                password=sandbox.key if key is None else key,
            ),
        )
        return conn_id

    return make


def make_hook(conn_id, exchanges=None, **kwargs):
    kwargs.setdefault("request_backoff_seconds", 0.01)
    return Top32Hook(conn_id, on_exchange=None if exchanges is None else exchanges.append, **kwargs)


def direct_leads(sandbox, account: str, **params) -> list[dict]:
    """Every lead of the account asked directly (not through the hook), in the service's order."""
    served = requests.get(
        f"{sandbox.base_url}/top32/{account}/api/partner/v1/leads",
        headers={"Authorization": f"Bearer {sandbox.key}"},
        params={"per_page": 100, **params},
        timeout=30,
    ).json()
    assert served["meta"]["total_pages"] <= 1
    return served["data"]


def force(sandbox, account: str, code: str, **fields) -> None:
    sandbox._control("POST", f"/top32/{account}/errors", json={"code": code, **fields})


def query(exchange) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(exchange.url).query).items()}


def ids(pages) -> list:
    return [lead["id"] for page in pages for lead in page]


def since(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def logged(caplog, capfd) -> str:
    out, err = capfd.readouterr()
    return caplog.text + out + err


# -- paging and bounds -----------------------------------------------------------------------------
def test_pages_until_the_last_and_every_lead_comes_once_in_the_services_order(sandbox, account, top32_conn):
    everything = direct_leads(sandbox, account)
    exchanges = []
    pages = list(make_hook(top32_conn(), exchanges).iter_leads(since(10), per_page=7))
    assert len(everything) == 45 and ids(pages) == [lead["id"] for lead in everything]
    assert [len(page) for page in pages] == [7] * 6 + [3]
    assert [int(query(e)["page"]) for e in exchanges] == list(range(1, 8))  # stops at total_pages
    assert all(set(lead) == set(LEAD_FIELDS) for page in pages for lead in page)


def test_an_exact_multiple_stops_at_total_pages_without_an_empty_request(sandbox, account, top32_conn):
    exchanges = []
    pages = list(make_hook(top32_conn(), exchanges).iter_leads(since(10), per_page=9))
    assert [len(page) for page in pages] == [9] * 5 and len(exchanges) == 5


def test_created_bounds_are_sent_with_their_offset_and_honoured(sandbox, account, top32_conn):
    everything = direct_leads(sandbox, account)
    low, high = parse_wire_time(everything[10]["created_at"]), parse_wire_time(everything[20]["created_at"])
    exchanges = []
    got = ids(make_hook(top32_conn(), exchanges).iter_leads(low + timedelta(microseconds=300), high))
    assert got == [lead["id"] for lead in everything[10:21]]  # the lower bound keeps its second
    asked = query(exchanges[0])
    assert asked["created_from"] == everything[10]["created_at"] == wire_time(low)
    assert asked["created_to"] == everything[20]["created_at"] and "updated_from" not in asked
    assert list(make_hook(top32_conn()).iter_leads(datetime.now(UTC) + timedelta(hours=1))) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        list(make_hook(top32_conn()).iter_leads(datetime(2025, 3, 1)))
    with pytest.raises(ValueError, match="created_from or updated_from"):
        list(make_hook(top32_conn()).iter_leads())


def test_updated_from_is_a_delta_filter(sandbox, account, top32_conn):
    everything = direct_leads(sandbox, account)
    pivot = sorted(parse_wire_time(lead["updated_at"]) for lead in everything)[30]
    got = ids(make_hook(top32_conn()).iter_leads(updated_from=pivot))
    assert got and set(got) == {lead["id"] for lead in everything if parse_wire_time(lead["updated_at"]) >= pivot}


def test_per_page_is_capped_and_must_be_positive(sandbox, account, top32_conn):
    exchanges = []
    hook = make_hook(top32_conn(), exchanges)
    assert len(ids(hook.iter_leads(since(10), per_page=500))) == 45
    assert query(exchanges[0])["per_page"] == str(MAX_PER_PAGE) == "100"
    with pytest.raises(ValueError, match="per_page"):
        list(hook.iter_leads(since(10), per_page=0))


def test_a_lead_seen_on_an_earlier_page_or_outside_the_bounds_is_dropped(top32_conn, caplog, capfd):
    caplog.set_level(logging.INFO)
    hook = make_hook(top32_conn())
    now = datetime.now(UTC).replace(microsecond=0)
    pages = iter(
        [
            {"data": [{"id": 1, "created_at": now.isoformat()}, {"id": 2, "created_at": "2001-01-01T00:00:00+00:00"}],
             "meta": {"total_pages": 2}},
            {"data": [{"id": 1, "created_at": now.isoformat()}, {"id": 3, "created_at": "вчера"}],
             "meta": {"total_pages": 2}},
        ]
    )  # fmt: skip
    hook.request = lambda path, query=None: next(pages)
    assert ids(hook.iter_leads(now - timedelta(days=1), now, per_page=2)) == [1, 3]  # unreadable: kept
    text = logged(caplog, capfd)
    assert "1 lead(s) created outside" in text and "1 lead(s) already seen" in text


def test_a_service_that_ignores_page_is_a_clear_error(top32_conn):
    hook = make_hook(top32_conn())
    same = {"data": [{"id": n} for n in range(3)], "meta": {"total_pages": 5}}
    hook.request = lambda path, query=None: same
    with pytest.raises(ServiceResponseError, match="ignores 'page'"):
        list(hook.iter_leads(since(1), per_page=3))


def test_an_answer_not_in_the_agreed_shape_is_a_clear_error(top32_conn):
    hook = make_hook(top32_conn())
    hook.request = lambda path, query=None: {"data": {"items": []}}
    with pytest.raises(ServiceResponseError, match="'data' is dict, not a list"):
        list(hook.iter_leads(since(1)))
    hook.request = lambda path, query=None: {"data": [1, {"id": 2}]}
    with pytest.raises(ServiceResponseError, match="1 item"):
        list(hook.iter_leads(since(1)))


# -- errors ----------------------------------------------------------------------------------------
def test_a_bad_key_fails_at_once_with_the_services_message_and_is_never_shown(top32_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    exchanges = []
    hook = make_hook(top32_conn(key="wrong-key-5d1e"), exchanges, request_attempts=4)
    with pytest.raises(ServiceAuthError, match=r"Invalid API key \(unauthorized, HTTP 401\)") as info:
        list(hook.iter_leads(since(1)))
    assert len(exchanges) == 1 and exchanges[0].status == 401 and "Invalid API key" in exchanges[0].error
    assert "top32_test" in str(info.value)
    assert "wrong-key-5d1e" not in str(info.value) + logged(caplog, capfd) + "".join(f"{e}" for e in exchanges)


def test_a_forbidden_key_fails_at_once_quoting_the_service(sandbox, account, top32_conn):
    force(sandbox, account, "forbidden", message="Доступ к API отключён", count=3)
    exchanges = []
    with pytest.raises(ServiceAuthError, match=r"Доступ к API отключён \(forbidden, HTTP 403\)"):
        make_hook(top32_conn(), exchanges, request_attempts=4).me()
    assert [e.status for e in exchanges] == [403]


def test_a_revoked_key_401_in_plain_text_fails_at_once(sandbox, top32_conn):
    sandbox.set_faults("top32", auth_failure=True)
    exchanges = []
    with pytest.raises(ServiceAuthError, match="401: Integration key revoked"):
        make_hook(top32_conn(), exchanges).me()
    assert [e.status for e in exchanges] == [401]


def test_a_connection_without_a_key_fails_before_any_request(top32_conn):
    exchanges = []
    with pytest.raises(ServiceAuthError, match="no API key"):
        make_hook(top32_conn(key=""), exchanges).me()
    assert exchanges == []


def test_429_is_retried_after_its_retry_after_then_succeeds(sandbox, account, top32_conn):
    force(sandbox, account, "rate_limited", count=2, retry_after=1)
    exchanges = []
    started = datetime.now(UTC)
    leads = ids(make_hook(top32_conn(), exchanges, request_backoff_seconds=0.01).iter_leads(since(10)))
    assert len(leads) == 45 and [e.status for e in exchanges] == [429, 429, 200]
    assert datetime.now(UTC) - started >= timedelta(seconds=2)  # waited Retry-After, not the 0.01 s backoff
    assert "rate limited" in exchanges[0].error and "rate_limited" in exchanges[0].error


def test_429_outlasting_the_attempts_is_transient(sandbox, account, top32_conn):
    force(sandbox, account, "rate_limited", count=5, retry_after=0)
    with pytest.raises(TransientServiceError, match="rate limited"):
        make_hook(top32_conn(), request_attempts=2).me()


def test_5xx_a_timeout_and_a_malformed_body_are_retried(sandbox, account, top32_conn):
    sandbox.set_faults("top32", fail_next=2)
    force(sandbox, account, "internal_error")
    exchanges = []
    hook = make_hook(top32_conn(), exchanges, request_attempts=5)
    assert len(ids(hook.iter_leads(since(10)))) == 45
    assert [e.status for e in exchanges] == [503, 503, 500, 200]
    sandbox.set_faults("top32", slow_next=1, slow_ms=800)
    exchanges.clear()
    assert len(ids(make_hook(top32_conn(), exchanges, timeout_seconds=0.4).iter_leads(since(10)))) == 45
    assert [(e.status, e.error) for e in exchanges] == [(None, "no answer within 0.4 s"), (200, None)]
    sandbox.set_faults("top32", malformed_next=1)
    exchanges.clear()
    assert len(ids(make_hook(top32_conn(), exchanges).iter_leads(since(10)))) == 45
    assert "unreadable body" in exchanges[0].error and exchanges[1].error is None


def test_a_validation_error_quotes_every_detail_and_is_not_retried(sandbox, account, top32_conn):
    exchanges = []
    hook = make_hook(top32_conn(), exchanges, request_attempts=4)
    with pytest.raises(ServiceResponseError, match=r"per_page: must be between 1 and 100 \(validation_error, HTTP 422"):
        hook.request("leads", {"per_page": 1000})
    assert len(exchanges) == 1
    with pytest.raises(ServiceResponseError, match=r"No route GET /api/partner/v1/doctors \(not_found, HTTP 404\)"):
        hook.request("doctors")


def test_the_key_never_appears_in_logs_exchanges_or_exceptions(sandbox, account, top32_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    sandbox.set_faults("top32", fail_next=1)
    force(sandbox, account, "rate_limited", retry_after=0)
    exchanges = []
    hook = make_hook(top32_conn(), exchanges, request_attempts=5)
    pages = list(hook.iter_leads(since(10), per_page=20))
    assert hook.test_connection()[0]
    sandbox.set_faults("top32", malformed_next=5)
    with pytest.raises(TransientServiceError) as info:
        make_hook(top32_conn(), exchanges, request_attempts=2).me()
    text = logged(caplog, capfd) + str(info.value)
    assert len(ids(pages)) == 45 and "GET leads" in text and sandbox.key not in text
    assert all(sandbox.key not in f"{e}" for e in exchanges)
    assert exchanges[0].url.startswith(f"{sandbox.base_url}/top32/{account}/api/partner/v1/leads?created_from=")


# -- UI and connection -----------------------------------------------------------------------------
def test_test_connection_good_and_bad(sandbox, account, top32_conn):
    ok, message = make_hook(top32_conn()).test_connection()
    assert ok and "assumed contract" in message and account in message and "Europe/Moscow" in message
    ok, message = make_hook(top32_conn(key="not-the-key-42")).test_connection()
    assert not ok and "Invalid API key" in message and "not-the-key-42" not in message
    sandbox.set_faults("top32", auth_failure=True)
    ok, message = make_hook(top32_conn()).test_connection()
    assert not ok and "401" in message


def test_the_base_url_and_the_wire_times():
    assert api_url("") == api_url(None) == "https://app.32top.ru/api/partner/v1"
    assert api_url("partner.32top.ru/api/partner/v1/") == "https://partner.32top.ru/api/partner/v1"
    assert api_url("http://127.0.0.1:8765/top32/a/api/partner/v1") == "http://127.0.0.1:8765/top32/a/api/partner/v1"
    assert wire_time(datetime(2025, 3, 10, 0, 0, 0, 999, tzinfo=UTC)) == "2025-03-10T00:00:00+00:00"
    assert parse_wire_time("2025-03-10T11:58:12+03:00") == datetime(2025, 3, 10, 8, 58, 12, tzinfo=UTC)
    assert parse_wire_time("2025-03-10T11:58:12") is None and parse_wire_time(None) is None


def test_the_connection_type_is_registered():
    (entry,) = [c for c in ident_hooks.get_provider_info()["connection-types"] if c["connection-type"] == "ident_top32"]
    assert entry["hook-class-name"] == "ident_hooks.top32.Top32Hook"
    assert entry["ui-field-behaviour"]["relabeling"] == {"host": "Partner API URL", "password": "API key"}
    assert (Top32Hook.conn_type, Top32Hook.hook_name) == ("ident_top32", "IDENT: 32top partner API (assumed contract)")
