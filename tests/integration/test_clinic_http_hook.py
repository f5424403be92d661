"""ClinicHttpHook against the sandbox over real HTTP."""

from datetime import UTC, datetime, timedelta

import pytest

from ident_hooks.clinic_http import ClinicHttpHook
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError


def make_hook(conn_id, exchanges=None, **kwargs):
    kwargs.setdefault("request_backoff_seconds", 0.01)
    return ClinicHttpHook(conn_id, on_exchange=None if exchanges is None else exchanges.append, **kwargs)


def window():
    now = datetime.now(UTC)
    return now - timedelta(days=5), now


def test_pages_until_a_short_page_and_sends_the_key_as_a_header(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    exchanges = []
    everything = make_hook(conn_id).get_tickets(*window(), page_size=1000)
    paged = make_hook(conn_id, exchanges).get_tickets(*window(), page_size=13)
    assert paged == everything and len(everything) > 13
    assert len(exchanges) == len(everything) // 13 + 1
    assert all(e.status == 200 and "offset=" in e.url for e in exchanges)
    assert all(clean_sandbox.key not in e.url for e in exchanges)


def test_burst_of_5xx_is_retried(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    clean_sandbox.set_faults("clinic_http", fail_next=3)
    exchanges = []
    records = make_hook(conn_id, exchanges, request_attempts=4).get_tickets(*window())
    assert records
    assert [e.status for e in exchanges] == [503, 503, 503, 200]
    assert exchanges[0].error.startswith("503")


def test_persistent_5xx_gives_up_after_the_configured_attempts(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    clean_sandbox.set_faults("clinic_http", fail_next=10)
    exchanges = []
    with pytest.raises(TransientServiceError, match="503"):
        make_hook(conn_id, exchanges, request_attempts=3).get_tickets(*window())
    assert len(exchanges) == 3


def test_401_fails_at_once_quoting_the_service(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    clean_sandbox.set_faults("clinic_http", auth_failure=True)
    exchanges = []
    with pytest.raises(ServiceAuthError, match="refused with 401: Integration key revoked"):
        make_hook(conn_id, exchanges).get_tickets(*window())
    assert len(exchanges) == 1 and exchanges[0].status == 401


def test_wrong_key_is_403_and_never_logged(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site", key="wrong-key-123")
    exchanges = []
    with pytest.raises(ServiceAuthError, match="403") as info:
        make_hook(conn_id, exchanges).get_tickets(*window())
    assert "wrong-key-123" not in str(info.value)
    assert all("wrong-key-123" not in (e.error or "") + e.url for e in exchanges)


def test_malformed_json_is_retried_then_reported(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    clean_sandbox.set_faults("clinic_http", malformed_next=1)
    exchanges = []
    assert make_hook(conn_id, exchanges).get_tickets(*window())
    assert exchanges[0].status == 200 and "unreadable body" in exchanges[0].error
    clean_sandbox.set_faults("clinic_http", malformed_rate=1.0)
    with pytest.raises(TransientServiceError, match="unreadable body"):
        make_hook(conn_id, request_attempts=2).get_tickets(*window())


def test_timeout_is_retried(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    clean_sandbox.set_faults("clinic_http", latency_ms=600)
    exchanges = []
    with pytest.raises(TransientServiceError, match="no answer within 0.2 s"):
        make_hook(conn_id, exchanges, timeout_seconds=0.2, request_attempts=2).get_tickets(*window())
    assert [e.status for e in exchanges] == [None, None]


def test_unknown_path_is_a_clear_non_retried_error(clean_sandbox, monkeypatch):
    from tests.helpers import connection_json

    monkeypatch.setenv(
        "AIRFLOW_CONN_CLINIC_BAD",
        connection_json(conn_type="ident_clinic_http", host=f"{clean_sandbox.base_url}/nowhere", password="k"),
    )
    exchanges = []
    with pytest.raises(ServiceResponseError, match="404"):
        make_hook("clinic_bad", exchanges).get_tickets(*window())
    assert len(exchanges) == 1


def test_test_connection_reports_success_and_the_services_refusal(clean_sandbox, clinic_conn):
    ok, message = make_hook(clinic_conn(clean_sandbox, "site")).test_connection()
    assert ok and message.startswith("GetTickets answered")
    ok, message = make_hook(clinic_conn(clean_sandbox, "site", key="nope")).test_connection()
    assert not ok and "403" in message


def test_finished_calls_page_like_tickets(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    everything = [call for page in make_hook(conn_id).iter_finished_calls(*window(), page_size=1000) for call in page]
    exchanges = []
    pages = list(make_hook(conn_id, exchanges).iter_finished_calls(*window(), page_size=7))
    assert [call for page in pages for call in page] == everything
    assert all(len(page) == 7 for page in pages[:-1]) and len(pages[-1]) < 7
    assert len(exchanges) == len(everything) // 7 + 1
    assert all("/GetFinishedCalls?" in e.url and "dateTimeFrom=" in e.url and e.status == 200 for e in exchanges)
    assert [int(e.url.rsplit("offset=", 1)[1].split("&")[0]) for e in exchanges] == [7 * i for i in range(len(pages))]


def test_ongoing_calls_are_read_with_the_same_parameters(clean_sandbox, clinic_conn):
    conn_id = clinic_conn(clean_sandbox, "site")
    exchanges = []
    calls = make_hook(conn_id, exchanges).get_ongoing_calls(*window(), page_size=5)
    assert isinstance(calls, list)
    assert len(exchanges) == len(calls) // 5 + 1
    assert all("/GetOngoingCalls?" in e.url and "dateTimeTo=" in e.url and "limit=5" in e.url for e in exchanges)


@pytest.mark.parametrize("method", ["iter_finished_calls", "get_ongoing_calls"])
def test_call_methods_refuse_a_wrong_key_at_once(clean_sandbox, clinic_conn, method):
    exchanges = []
    hook = make_hook(clinic_conn(clean_sandbox, "site", key="wrong-key-456"), exchanges)
    with pytest.raises(ServiceAuthError, match="403"):
        list(getattr(hook, method)(*window()))
    assert len(exchanges) == 1 and "wrong-key-456" not in exchanges[0].url + (exchanges[0].error or "")
