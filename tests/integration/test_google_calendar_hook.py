"""GoogleCalendarHook over HTTP against the sandbox: paging, 409/410 mapped, 429 and 403 rate limits
backed off, 5xx retried, 401 and a revoked key at once, the exchange log without token or key."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.helpers import connection_json

CAL = "hook-test@group.calendar.google.com"


@pytest.fixture
def hook(sandbox, monkeypatch):
    from ident_hooks.google_calendar import GoogleCalendarHook

    key = sandbox._control("GET", "/google_calendar/service-account")
    host = f"{sandbox.base_url}/google_calendar/"
    monkeypatch.setenv(
        "AIRFLOW_CONN_GC_HOOK", connection_json(conn_type="ident_google_calendar", host=host, password=json.dumps(key))
    )
    exchanges: list = []
    yield GoogleCalendarHook("gc_hook", request_backoff_seconds=0.01, on_exchange=exchanges.append), exchanges, key
    sandbox._control("DELETE", "/google_calendar/state")
    sandbox.reset_faults("google_calendar")


def body(n: int) -> dict:
    start = datetime(2026, 12, 3, 9, tzinfo=UTC) + timedelta(hours=n)
    return {"id": f"hooktest{n}", "summary": f"event {n}", "start": {"dateTime": start.isoformat()},
            "end": {"dateTime": (start + timedelta(minutes=30)).isoformat()}}  # fmt: skip


def test_insert_conflict_list_pages_and_delete(hook, sandbox):
    from ident_hooks.google_calendar import EventExists

    h, exchanges, _ = hook
    for n in range(5):
        h.insert_event(CAL, body(n))
    with pytest.raises(EventExists):
        h.insert_event(CAL, body(0))
    listed = h.list_events(CAL, datetime(2026, 12, 3, tzinfo=UTC), datetime(2026, 12, 4, tzinfo=UTC), page_size=2)
    assert [event["id"] for event in listed] == [f"hooktest{n}" for n in range(5)]
    assert sum("events?" in e.url and e.method == "GET" for e in exchanges) == 3  # three pages
    assert h.delete_event(CAL, "hooktest0") is True and h.delete_event(CAL, "hooktest0") is False
    restored = h.update_event(CAL, "hooktest0", {**body(0), "status": "confirmed"})
    assert restored["status"] == "confirmed"


@pytest.mark.parametrize(
    "status,reason", [(429, "rateLimitExceeded"), (403, "userRateLimitExceeded"), (503, "backendError")]
)
def test_rate_limits_and_5xx_are_retried(hook, sandbox, status, reason):
    h, exchanges, _ = hook
    sandbox._control("POST", "/google_calendar/errors", json={"status": status, "reason": reason, "count": 2})
    h.insert_event(CAL, body(1))
    assert [e.status for e in exchanges if "/events" in e.url] == [status, status, 200]


def test_a_revoked_key_and_a_401_fail_at_once_and_nothing_secret_is_logged(hook, sandbox, caplog):
    from ident_hooks.exchange import ServiceAuthError

    h, exchanges, key = hook
    with caplog.at_level("INFO"):
        h.insert_event(CAL, body(1))
        sandbox.set_faults("google_calendar", auth_failure=True)
        with pytest.raises(ServiceAuthError):
            h.insert_event(CAL, body(2))
    tokens = sandbox._control("GET", "/google_calendar/stats")["tokens"]
    text = caplog.text + repr(exchanges)
    assert tokens and not any(token in text for token in tokens)
    assert key["private_key"].splitlines()[1] not in text


def test_the_connection_test_reports_the_service_account(hook):
    h, _, key = hook
    ok, message = h.test_connection()
    assert ok and key["client_email"] in message


def test_a_timeout_is_retried(hook, sandbox):
    from ident_hooks.google_calendar import GoogleCalendarHook

    _, _, _ = hook
    exchanges: list = []
    quick = GoogleCalendarHook(
        "gc_hook", timeout_seconds=0.5, request_backoff_seconds=0.01, on_exchange=exchanges.append
    )
    sandbox.set_faults("google_calendar", slow_next=1, slow_ms=1500)
    quick.insert_event(CAL, body(3))
    assert exchanges[0].status is None and "no answer within 0.5 s" in exchanges[0].error
    assert exchanges[-1].status == 200
