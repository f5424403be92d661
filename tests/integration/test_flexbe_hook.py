"""FlexbeHook against the sandbox's Flexbe legacy-API emulator over real HTTP (a fresh site per test)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import ident_hooks
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError
from ident_hooks.flexbe import MAX_PAGE_SIZE, FlexbeHook, api_url, lead_time
from tests.helpers import connection_json


@pytest.fixture
def flexbe(sandbox):
    yield sandbox
    sandbox.reset_faults("flexbe")


@pytest.fixture
def site():
    return f"landing-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def flexbe_conn(monkeypatch):
    """Point connection ``flexbe_test`` at the emulator's ``site``; returns a function(sandbox, site, key=None)."""

    def make(sandbox, site: str, key: str | None = None, conn_id: str = "flexbe_test") -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            connection_json(
                conn_type="ident_flexbe",
                host=f"{sandbox.base_url}/flexbe/{site}",
                password=sandbox.key if key is None else key,
            ),
        )
        return conn_id

    return make


def make_hook(conn_id, exchanges=None, **kwargs):
    kwargs.setdefault("request_backoff_seconds", 0.01)
    return FlexbeHook(conn_id, on_exchange=None if exchanges is None else exchanges.append, **kwargs)


def control(sandbox, method: str, path: str, **kwargs):
    return sandbox._control(method, f"/flexbe{path}", **kwargs)


def direct_leads(sandbox, site: str, **params) -> list[dict]:
    """Every lead of ``site`` asked directly (not through the hook), in the service's order."""
    query = {"api_key": sandbox.key, "method": "getLeads", "count": 500, **params}
    served = requests.get(f"{sandbox.base_url}/flexbe/{site}/mod/api/", params=query, timeout=30).json()
    leads = served["data"]["leads"]
    return list(leads.values()) if leads else []


def query(exchange) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(exchange.url).query).items()}


def logged(caplog, capfd) -> str:
    out, err = capfd.readouterr()
    return caplog.text + out + err


def ids(pages) -> list:
    return [lead["id"] for page in pages for lead in page]


def since(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


# -- paging and date_from ----------------------------------------------------------------------------
def test_pages_until_a_short_page_and_every_lead_comes_once(flexbe, flexbe_conn, site):
    everything = [lead["id"] for lead in direct_leads(flexbe, site)]
    exchanges = []
    pages = list(make_hook(flexbe_conn(flexbe, site), exchanges).iter_leads(since(10), page_size=7))
    assert len(everything) == 90 and ids(pages) == everything
    assert all(len(page) == 7 for page in pages[:-1]) and 0 < len(pages[-1]) < 7
    asked = [query(e) for e in exchanges]
    assert [int(q["start"]) for q in asked] == [7 * i for i in range(len(pages))]
    assert {(q["method"], q["count"]) for q in asked} == {("getLeads", "7")}
    assert all(
        isinstance(lead, dict) and {"id", "time", "client", "form_data"} <= set(lead) for p in pages for lead in p
    )


def test_an_exact_multiple_ends_on_the_empty_page_the_service_sends_as_an_array(flexbe, flexbe_conn, site):
    exchanges = []
    pages = list(make_hook(flexbe_conn(flexbe, site), exchanges).iter_leads(since(10), page_size=9))
    assert [len(page) for page in pages] == [9] * 10  # the 11th answer, "leads": [], yields nothing
    assert len(exchanges) == 11 and query(exchanges[-1])["start"] == "90"


def test_date_from_is_sent_in_unix_seconds_and_honoured(flexbe, flexbe_conn, site):
    everything = direct_leads(flexbe, site)
    pivot = everything[40]
    moment = datetime.fromtimestamp(int(pivot["time"]), UTC).astimezone(flexbe.now().tzinfo)
    exchanges = []
    got = ids(make_hook(flexbe_conn(flexbe, site), exchanges).iter_leads(moment + timedelta(microseconds=500)))
    assert got == [lead["id"] for lead in everything if int(lead["time"]) >= int(pivot["time"])]
    assert got[0] == pivot["id"]
    assert {query(e)["date_from"] for e in exchanges} == {str(int(pivot["time"]))}
    assert list(make_hook(flexbe_conn(flexbe, site)).iter_leads(datetime.now(UTC) + timedelta(hours=2))) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        list(make_hook(flexbe_conn(flexbe, site)).iter_leads(datetime(2025, 3, 1)))


def test_page_size_is_capped_and_must_be_positive(flexbe, flexbe_conn, site):
    exchanges = []
    hook = make_hook(flexbe_conn(flexbe, site), exchanges)
    assert len(ids(hook.iter_leads(since(10), page_size=5000))) == 90
    assert query(exchanges[0])["count"] == str(MAX_PAGE_SIZE) == "500"
    with pytest.raises(ValueError, match="page_size"):
        list(hook.iter_leads(since(10), page_size=0))


def test_time_as_a_string_is_accepted(flexbe, flexbe_conn, site):
    newest = direct_leads(flexbe, site)[-1]
    control(flexbe, "POST", f"/{site}/leads", json={"id": 9, "time": str(int(newest["time"])), "client": {}})
    control(flexbe, "POST", f"/{site}/leads", json={"id": 8, "time": str(int(newest["time"]) - 86_400 * 30)})
    leads = [lead for page in make_hook(flexbe_conn(flexbe, site)).iter_leads(since(10)) for lead in page]
    assert {"id": 9, "time": str(int(newest["time"])), "client": {}} in leads
    assert 8 not in {lead["id"] for lead in leads}  # older than date_from
    assert any(isinstance(lead["time"], str) for lead in leads) and any(isinstance(lead["time"], int) for lead in leads)
    assert all(lead_time(lead) is not None for lead in leads)
    expected = datetime(2025, 3, 10, 9, 46, 40, tzinfo=UTC)
    assert lead_time({"time": "1741600000"}) == lead_time({"time": 1741600000}) == expected
    assert lead_time({"time": "вчера"}) is None and lead_time({}) is None and lead_time({"time": True}) is None


def test_leads_older_than_date_from_are_dropped_even_if_the_service_sends_them(
    flexbe, flexbe_conn, site, caplog, capfd
):
    caplog.set_level(logging.WARNING)
    hook = make_hook(flexbe_conn(flexbe, site))
    old = {"id": 1, "time": 1_000_000_000}
    hook.get_leads = lambda **params: [old, {"id": 2, "time": int(datetime.now(UTC).timestamp())}]
    assert ids(hook.iter_leads(since(1))) == [2]
    assert "1 lead(s) older than date_from" in logged(caplog, capfd)


def test_a_service_that_ignores_start_is_a_clear_error(flexbe, flexbe_conn, site):
    hook = make_hook(flexbe_conn(flexbe, site))
    same = [{"id": n, "time": int(datetime.now(UTC).timestamp())} for n in range(5)]
    hook.get_leads = lambda **params: list(same)
    with pytest.raises(ServiceResponseError, match="ignores 'start'"):
        list(hook.iter_leads(since(1), page_size=5))


# -- errors ----------------------------------------------------------------------------------------
def test_a_bad_key_fails_at_once_with_the_services_message_and_is_never_shown(flexbe, flexbe_conn, site, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    exchanges = []
    hook = make_hook(flexbe_conn(flexbe, site, key="wrong-key-7f3c"), exchanges, request_attempts=4)
    with pytest.raises(ServiceAuthError, match="Invalid API key") as info:
        list(hook.iter_leads(since(1)))
    assert len(exchanges) == 1 and exchanges[0].status == 200 and "Invalid API key" in exchanges[0].error
    assert "code 0" in str(info.value)
    assert "wrong-key-7f3c" not in str(info.value) + logged(caplog, capfd) + "".join(f"{e}" for e in exchanges)


def test_a_revoked_key_401_fails_at_once(flexbe, flexbe_conn, site):
    flexbe.set_faults("flexbe", auth_failure=True)
    exchanges = []
    with pytest.raises(ServiceAuthError, match="401"):
        make_hook(flexbe_conn(flexbe, site), exchanges).call("checkConnection")
    assert [e.status for e in exchanges] == [401]


def test_a_connection_without_a_key_fails_before_any_request(flexbe, flexbe_conn, site):
    exchanges = []
    with pytest.raises(ServiceAuthError, match="no API key"):
        make_hook(flexbe_conn(flexbe, site, key=""), exchanges).call("checkConnection")
    assert exchanges == []


def test_the_request_limit_is_retried_with_backoff_then_succeeds(flexbe, flexbe_conn, site):
    control(flexbe, "PUT", f"/{site}/limit", json={"per_minute": 1, "window_seconds": 1})
    exchanges = []
    hook = make_hook(flexbe_conn(flexbe, site), exchanges, request_attempts=8, request_backoff_seconds=0.2)
    hook.call("checkConnection")  # spends the window's only request
    assert len(ids(hook.iter_leads(since(10), page_size=500))) == 90
    refused = exchanges[1:-1]
    assert refused and all("request limit exceeded" in e.error and "code 1" in e.error for e in refused)
    assert exchanges[-1].error is None and query(exchanges[-1])["method"] == "getLeads"


def test_a_request_limit_outlasting_the_attempts_is_transient(flexbe, flexbe_conn, site):
    control(flexbe, "PUT", f"/{site}/limit", json={"per_minute": 0})
    exchanges = []
    with pytest.raises(TransientServiceError, match="Request limit exceeded"):
        make_hook(flexbe_conn(flexbe, site), exchanges, request_attempts=2).call("checkConnection")
    assert len(exchanges) == 2


def test_a_5xx_burst_is_retried(flexbe, flexbe_conn, site):
    flexbe.set_faults("flexbe", fail_next=2)
    exchanges = []
    assert len(ids(make_hook(flexbe_conn(flexbe, site), exchanges).iter_leads(since(10), page_size=500))) == 90
    assert [e.status for e in exchanges] == [503, 503, 200]


def test_a_malformed_body_is_retried(flexbe, flexbe_conn, site):
    flexbe.set_faults("flexbe", malformed_next=2)
    exchanges = []
    assert len(ids(make_hook(flexbe_conn(flexbe, site), exchanges).iter_leads(since(10), page_size=500))) == 90
    assert all("unreadable body" in e.error for e in exchanges[:2]) and exchanges[2].error is None


def test_an_unknown_method_is_a_clear_error_not_retried(flexbe, flexbe_conn, site):
    exchanges = []
    with pytest.raises(ServiceResponseError, match=r"does not know method 'getDeals': Unknown method \(code 2\)"):
        make_hook(flexbe_conn(flexbe, site), exchanges, request_attempts=4).call("getDeals")
    assert len(exchanges) == 1


def test_another_error_object_quotes_its_code_and_message(flexbe, flexbe_conn, site):
    with pytest.raises(ServiceResponseError, match=r"Lead not found \(code 3\)"):
        make_hook(flexbe_conn(flexbe, site)).change_lead(1, 2)


def test_the_key_never_appears_in_logs_exchanges_or_exceptions(flexbe, flexbe_conn, site, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    flexbe.set_faults("flexbe", fail_next=1)
    control(flexbe, "PUT", f"/{site}/limit", json={"per_minute": 3, "window_seconds": 0.5})
    exchanges = []
    hook = make_hook(flexbe_conn(flexbe, site), exchanges, request_attempts=10, request_backoff_seconds=0.1)
    pages = list(hook.iter_leads(since(10), page_size=20))
    assert hook.test_connection()[0]
    flexbe.set_faults("flexbe", malformed_next=5)
    with pytest.raises(TransientServiceError) as info:
        make_hook(flexbe_conn(flexbe, site), exchanges, request_attempts=2).call("getLeads")
    text = logged(caplog, capfd) + str(info.value)
    assert len(ids(pages)) == 90 and "getLeads" in text and flexbe.key not in text
    assert all(flexbe.key not in f"{e}" and "api_key" not in e.url for e in exchanges)
    first = exchanges[1]
    assert first.url.startswith(f"{flexbe.base_url}/flexbe/{site}/mod/api/?method=getLeads&date_from=")
    assert {"method", "date_from", "start", "count"} == set(query(first))


# -- other calls -----------------------------------------------------------------------------------
def test_change_lead_sets_the_status(flexbe, flexbe_conn, site):
    hook = make_hook(flexbe_conn(flexbe, site))
    target = direct_leads(flexbe, site)[3]
    answer = hook.change_lead(target["id"], 10)
    assert answer["status"] == 1 and answer["data"]["lead"]["status"]["code"] == 10
    assert direct_leads(flexbe, site, id=target["id"])[0]["status"] == {"code": 10, "name": "Отменена"}


def test_test_connection_good_and_bad(flexbe, flexbe_conn, site):
    ok, message = make_hook(flexbe_conn(flexbe, site)).test_connection()
    assert ok and "checkConnection" in message
    ok, message = make_hook(flexbe_conn(flexbe, site, key="not-the-key-42")).test_connection()
    assert not ok and "Invalid API key" in message and "not-the-key-42" not in message
    flexbe.set_faults("flexbe", auth_failure=True)
    ok, message = make_hook(flexbe_conn(flexbe, site)).test_connection()
    assert not ok and "401" in message


def test_the_site_url_becomes_the_api_url():
    assert api_url("clinic-promo.ru") == "https://clinic-promo.ru/mod/api/"
    assert api_url(" https://clinic-promo.ru/ ") == "https://clinic-promo.ru/mod/api/"
    assert api_url("http://127.0.0.1:8765/flexbe/site") == "http://127.0.0.1:8765/flexbe/site/mod/api/"
    assert api_url("https://clinic-promo.ru/mod/api") == "https://clinic-promo.ru/mod/api/"
    assert api_url("clinic-promo.ru", 8443) == "https://clinic-promo.ru:8443/mod/api/"
    with pytest.raises(ValueError, match="site URL"):
        api_url("")


def test_the_connection_type_is_registered():
    (entry,) = [
        c for c in ident_hooks.get_provider_info()["connection-types"] if c["connection-type"] == "ident_flexbe"
    ]
    assert entry["hook-class-name"] == "ident_hooks.flexbe.FlexbeHook"
    assert entry["ui-field-behaviour"]["relabeling"] == {"host": "Site URL", "password": "API key"}
    assert (FlexbeHook.conn_type, FlexbeHook.hook_name) == ("ident_flexbe", "IDENT: Flexbe landing pages")
