"""UisHook against the sandbox's UIS / CoMagic Data API emulator over real HTTP."""

from __future__ import annotations

import logging
import os
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError
from ident_hooks.uis import UisHook, api_url
from tests.helpers import connection_json

ACCOUNT = "clinic"
AUTH_MNEMONICS = [
    "access_token_invalid",
    "access_token_expired",
    "access_token_blocked",
    "auth_error",
    "ip_not_whitelisted",
    "forbidden",
    "account_inactive",
]


# -- the emulator's control API, in one place ----------------------------------------------------
# Written against the brief for sandbox/services/uis.py before it existed: POST /uis/{account}/v2.0,
# token = the sandbox key, control under /_sandbox/uis/{account}/... (limits, forced error mnemonics,
# state reset), faults under the service name "uis". Adjust these helpers if the emulator differs.
def control(sandbox, method: str, path: str, **body):
    return sandbox._control(method, f"/uis/{ACCOUNT}{path}", **({"json": body} if body else {}))


def set_limits(sandbox, **limits):
    return control(sandbox, "PUT", "/limits", **limits)


def force_error(sandbox, mnemonic: str, count: int = 1):
    return control(sandbox, "POST", "/errors", mnemonic=mnemonic, count=count)


def reset_uis(sandbox):
    control(sandbox, "DELETE", "/state")
    sandbox.reset_faults("uis")


@pytest.fixture
def uis(sandbox):
    if "uis" not in sandbox.health()["services"]:
        message = "the sandbox has no UIS emulator (sandbox/services/uis.py) yet"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {message}", pytrace=False)
        pytest.skip(f"SKIPPED UIS hook tests: {message}")
    reset_uis(sandbox)
    yield sandbox
    reset_uis(sandbox)


@pytest.fixture
def uis_conn(monkeypatch):
    """Point connection ``uis_<name>`` at the emulator; returns a function(sandbox, token=None, **fields)."""

    def make(sandbox=None, token: str | None = None, conn_id: str = "uis_test", **fields) -> str:
        if sandbox is not None:
            fields.setdefault("host", f"{sandbox.base_url}/uis/{ACCOUNT}/v2.0")
        if token is None:
            token = sandbox.key if sandbox is not None else "token-not-used"
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", connection_json(conn_type="ident_uis", password=token, **fields)
        )
        return conn_id

    return make


def make_hook(conn_id, exchanges=None, **kwargs):
    kwargs.setdefault("request_backoff_seconds", 0.01)
    return UisHook(conn_id, on_exchange=None if exchanges is None else exchanges.append, **kwargs)


def query(exchange) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(exchange.url).query).items()}


def report_queries(exchanges, method="get.calls_report"):
    return [query(e) for e in exchanges if query(e).get("method") == method]


def local_day_window(hook, days_back: int, days: int = 1) -> tuple[datetime, datetime]:
    """[00:00 of the account's day ``days_back`` days ago, ``days`` days later), as aware datetimes."""
    tz = hook.timezone()
    today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=days_back)
    return start, start + timedelta(days=days)


def logged(caplog, capfd) -> str:
    """Everything logged so far: stdlib records (caplog) and what the hook's structlog logger printed."""
    out, err = capfd.readouterr()
    return caplog.text + out + err


def ids(pages) -> list:
    return [row["id"] for page in pages for row in page]


# -- paging and windows ----------------------------------------------------------------------------
def test_every_page_is_fetched_once_and_every_call_returned_once(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    window = local_day_window(hook, days_back=3, days=2)
    everything = ids(make_hook(uis_conn(uis)).iter_calls(*window, limit=10_000))
    pages = list(hook.iter_calls(*window, limit=97))
    assert len(everything) > 2 * 97
    assert ids(pages) == everything and len(set(everything)) == len(everything)
    assert all(len(page) == 97 for page in pages[:-1]) and 0 < len(pages[-1]) <= 97
    asked = report_queries(exchanges)
    assert [int(q["offset"]) for q in asked] == [97 * i for i in range(len(pages))]
    tz = hook.timezone()
    assert {(q["date_from"], q["date_till"]) for q in asked} == {
        (window[0].strftime("%Y-%m-%d %H:%M:%S"), (window[1] - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"))
    }
    starts = [datetime.strptime(row["start_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz) for p in pages for row in p]
    assert starts == sorted(starts) and window[0] <= starts[0] and starts[-1] < window[1]
    assert set(pages[0][0]) == set(UisHook.CALL_FIELDS)


def test_consecutive_half_open_windows_neither_overlap_nor_leave_a_gap(uis, uis_conn):
    hook = make_hook(uis_conn(uis))
    start, end = local_day_window(hook, days_back=4, days=2)
    middle = start + timedelta(hours=17, minutes=3, seconds=29)
    whole = ids(hook.iter_calls(start, end, limit=10_000))
    halves = ids(hook.iter_calls(start, middle, limit=10_000)) + ids(hook.iter_calls(middle, end, limit=10_000))
    assert halves == whole


def test_window_longer_than_90_days_is_split_into_contiguous_periods(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    tz = hook.timezone()
    start, end = local_day_window(hook, days_back=200, days=200)
    rows = ids(hook.iter_calls(start, end, limit=10_000))
    assert len(rows) == len(set(rows)) > 0
    periods = sorted({(q["date_from"], q["date_till"]) for q in report_queries(exchanges)})
    parsed = [tuple(datetime.strptime(v, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz) for v in p) for p in periods]
    assert len(parsed) == 3  # 200 days: 90 + 90 + 20
    assert parsed[0][0] == start and parsed[-1][1] == end - timedelta(seconds=1)
    for (_, till), (following, _) in zip(parsed, parsed[1:], strict=False):
        assert following - till == timedelta(seconds=1)
    assert all(till - since < timedelta(days=90) for since, till in parsed)


def test_more_rows_than_the_offset_cap_reaches_splits_the_period(uis, uis_conn):
    plain = make_hook(uis_conn(uis))
    window = local_day_window(plain, days_back=3, days=1)
    everything = ids(plain.iter_calls(*window, limit=10_000))
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    hook.MAX_OFFSET = 20
    pages = list(hook.iter_calls(*window, limit=10))
    assert sorted(ids(pages)) == sorted(everything) and len(ids(pages)) == len(everything) > 30
    asked = report_queries(exchanges)
    assert max(int(q["offset"]) for q in asked) <= 20
    assert len({(q["date_from"], q["date_till"]) for q in asked}) > 2
    assert UisHook.MAX_OFFSET == 100_000  # the class keeps the service's cap


def test_a_period_the_service_refuses_is_a_clear_error_with_its_mnemonic(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    with pytest.raises(ServiceResponseError, match="date_interval_limit_reached") as info:
        hook.call(
            "get.calls_report",
            {"date_from": "2024-01-01 00:00:00", "date_till": "2024-06-01 00:00:00", "fields": ["id"]},
        )
    assert "3 months" in str(info.value)
    assert len(exchanges) == 1 and "date_interval_limit_reached" in exchanges[0].error


def test_limit_above_the_service_maximum_is_lowered(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    list(hook.iter_calls(*local_day_window(hook, days_back=2), limit=50_000))
    assert {q["limit"] for q in report_queries(exchanges)} == {"10000"}
    with pytest.raises(ValueError, match="limit"):
        list(hook.iter_calls(*local_day_window(hook, days_back=2), limit=0))


# -- time zone -------------------------------------------------------------------------------------
def test_a_window_given_in_utc_asks_the_accounts_local_dates(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    tz = hook.timezone()
    assert tz.key == hook.account()["timezone"]
    start = (datetime.now(UTC) - timedelta(days=10)).replace(hour=21, minute=0, second=0, microsecond=0)
    end = start + timedelta(hours=6)
    rows = [row for page in hook.iter_calls(start, end) for row in page]
    assert rows
    (asked,) = report_queries(exchanges)
    assert asked["date_from"] == start.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    assert asked["date_till"] == (end - timedelta(seconds=1)).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")
    if tz.utcoffset(start):
        assert asked["date_from"][11:] != "21:00:00"
    for row in rows:
        moment = datetime.strptime(row["start_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
        assert start <= moment < end


# -- rate limits -----------------------------------------------------------------------------------
def test_limit_exceeded_is_waited_out_without_using_an_attempt(uis, uis_conn, caplog, capfd):
    set_limits(uis, minute_limit=3, minute_reset=1)
    exchanges, slept = [], []
    hook = make_hook(uis_conn(uis), exchanges, request_attempts=1)  # a counted failure would raise at once

    def sleep(seconds):
        slept.append(seconds)
        time.sleep(seconds)

    hook.sleep = sleep
    caplog.set_level(logging.INFO)
    pages = list(hook.iter_calls(*local_day_window(hook, days_back=2), limit=40))
    assert len(ids(pages)) == len(set(ids(pages))) > 5 * 40
    assert len(report_queries([e for e in exchanges if e.error is None])) == len(pages)
    assert all("limit_exceeded" in e.error for e in exchanges if e.error)
    assert slept and all(0 < seconds <= 1 for seconds in slept)  # the service's reset, not a backoff of our own
    text = logged(caplog, capfd)
    assert re.search(r"waiting \d+(\.\d+)? s", text) and ("limit exhausted" in text or "minute budget" in text)


def test_a_budget_spent_by_someone_else_is_waited_out_on_limit_exceeded(uis, uis_conn, caplog, capfd):
    set_limits(uis, minute_limit=2, minute_reset=1)
    other = make_hook(uis_conn(uis))
    other.account()
    other.group_employees()  # another task on the same account spends the minute's budget
    exchanges, slept = [], []
    hook = make_hook(uis_conn(uis), exchanges, request_attempts=1)
    hook.sleep = lambda seconds: (slept.append(seconds), time.sleep(seconds))
    assert hook.account()["timezone"]
    assert exchanges[-1].status == 200 and exchanges[-1].error is None
    refused = exchanges[:-1]
    assert refused and all(e.status == 200 and "(limit_exceeded, code -32029)" in e.error for e in refused)
    assert len(slept) == len(refused) and all(0 < seconds <= 1 for seconds in slept)
    assert "limit exhausted on get.account: waiting" in logged(caplog, capfd)


def test_a_limit_that_resets_later_than_the_hook_waits_is_left_to_the_task_retry(uis, uis_conn):
    set_limits(uis, day_limit=1, day_reset=3600)
    hook = make_hook(uis_conn(uis), max_limit_wait_seconds=5)
    hook.account()  # spends the only point of the day
    hook.sleep = lambda seconds: pytest.fail(f"slept {seconds} s although the reset is beyond the limit")
    with pytest.raises(TransientServiceError, match="limit_exceeded") as info:
        list(hook.iter_calls(*local_day_window(hook, days_back=2)))
    assert info.value.retry_after >= 3000 and "max_limit_wait_seconds" in str(info.value)


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("mnemonic", AUTH_MNEMONICS)
def test_auth_errors_fail_at_once_quoting_the_service(uis, uis_conn, mnemonic):
    force_error(uis, mnemonic, count=5)
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges, request_attempts=4)
    with pytest.raises(ServiceAuthError, match=mnemonic) as info:
        hook.account()
    assert len(exchanges) == 1 and mnemonic in exchanges[0].error
    assert re.search(r"UIS refused get\.account: \S.* \(" + mnemonic + r", code -320\d\d\)", str(info.value))


def test_a_wrong_token_is_refused_and_never_shown(uis, uis_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    exchanges = []
    hook = make_hook(uis_conn(uis, token="wrong-token-7f3c"), exchanges)
    with pytest.raises(ServiceAuthError, match="access_token_invalid") as info:
        hook.account()
    assert "wrong-token-7f3c" not in str(info.value) + logged(caplog, capfd)
    assert all("wrong-token-7f3c" not in f"{e}" for e in exchanges)


def test_internal_error_is_retried(uis, uis_conn):
    force_error(uis, "internal_error", count=2)
    exchanges = []
    assert make_hook(uis_conn(uis), exchanges, request_attempts=3).account()
    assert [e.status for e in exchanges] == [200, 200, 200]
    assert ["internal_error" in (e.error or "") for e in exchanges] == [True, True, False]


def test_internal_error_gives_up_after_the_configured_attempts(uis, uis_conn):
    force_error(uis, "internal_error", count=10)
    exchanges = []
    with pytest.raises(TransientServiceError, match="internal_error"):
        make_hook(uis_conn(uis), exchanges, request_attempts=2).account()
    assert len(exchanges) == 2


def test_5xx_and_unreadable_bodies_are_retried(uis, uis_conn):
    uis.set_faults("uis", fail_next=2)
    exchanges = []
    assert make_hook(uis_conn(uis), exchanges, request_attempts=4).account()
    assert [e.status for e in exchanges] == [503, 503, 200]
    uis.set_faults("uis", malformed_next=1)
    exchanges.clear()
    hook = make_hook(uis_conn(uis), exchanges, request_attempts=4)
    assert hook.account()
    assert "unreadable body" in exchanges[0].error and exchanges[-1].error is None


def test_the_token_never_appears_in_logs_or_exchanges(uis, uis_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    set_limits(uis, minute_limit=2, minute_reset=1)
    uis.set_faults("uis", fail_next=1)
    force_error(uis, "internal_error")
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    list(hook.iter_calls(*local_day_window(hook, days_back=2), limit=100))
    hook.group_employees()
    text = logged(caplog, capfd)
    assert exchanges and "get.calls_report" in text and uis.key not in text
    assert all(uis.key not in f"{e}" for e in exchanges)
    assert all("access_token" not in e.url for e in exchanges)
    first = next(e for e in exchanges if "get.calls_report" in e.url)
    assert re.fullmatch(
        re.escape(f"{uis.base_url}/uis/{ACCOUNT}/v2.0")
        + r"\?method=get\.calls_report&date_from=\d{4}-\d\d-\d\d\+\d\d:\d\d:\d\d&date_till=\S+&offset=0&limit=100",
        first.url,
    )


# -- the other methods -----------------------------------------------------------------------------
def test_group_employees_pages_through_every_group(uis, uis_conn):
    exchanges = []
    groups = make_hook(uis_conn(uis), exchanges).group_employees(limit=2)
    assert groups and all("id" in group and "name" in group for group in groups)
    assert len({group["id"] for group in groups}) == len(groups)
    assert len(exchanges) >= len(groups) // 2


def test_offline_messages_are_paged_through_every_page_once_in_date_order(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    tz = hook.timezone()
    end = (datetime.now(tz) - timedelta(minutes=1)).replace(microsecond=0)  # a closed window: no live lead joins
    start = end - timedelta(days=4)  # the sandbox's whole lead history (3 days)
    everything = ids(make_hook(uis_conn(uis)).iter_offline_messages(start, end, limit=10_000))
    # Pages of a size that divides the total when one does: the last page is then full, and only
    # total_items tells the hook that no page follows.
    size = next((n for n in range(12, len(everything) // 3 + 1) if len(everything) % n == 0), 23)
    pages = list(hook.iter_offline_messages(start, end, limit=size))
    assert len(everything) >= 3 * size
    assert ids(pages) == everything and len(set(everything)) == len(everything)
    assert all(len(page) == size for page in pages[:-1]) and 0 < len(pages[-1]) <= size
    asked = report_queries(exchanges, "get.offline_messages_report")
    assert [int(q["offset"]) for q in asked] == [size * i for i in range(len(pages))]  # no page twice, none more
    assert {(q["date_from"], q["date_till"], q["limit"]) for q in asked} == {
        (start.strftime("%Y-%m-%d %H:%M:%S"), (end - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S"), str(size))
    }
    rows = [row for page in pages for row in page]
    assert all(list(row) == list(UisHook.MESSAGE_FIELDS) for row in rows)
    moments = [datetime.strptime(row["date_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz) for row in rows]
    assert moments == sorted(moments) and start <= moments[0] and moments[-1] < end
    assert any(isinstance(row["visitor_phone_number"], int) for row in rows)  # the reference's type, kept as sent


def test_ongoing_calls_are_asked_for_when_wanted(uis, uis_conn):
    exchanges = []
    hook = make_hook(uis_conn(uis), exchanges)
    now = datetime.now(UTC)
    pages = list(hook.iter_calls(now - timedelta(hours=2), now + timedelta(hours=1), include_ongoing=True))
    assert all(q.get("include_ongoing_calls") == "true" for q in report_queries(exchanges))
    assert all(isinstance(page, list) for page in pages)


def test_test_connection_reports_the_account_or_the_services_refusal(uis, uis_conn):
    ok, message = make_hook(uis_conn(uis)).test_connection()
    assert ok and "timezone" in message
    ok, message = make_hook(uis_conn(uis, token="nope-123", conn_id="uis_bad")).test_connection()
    assert not ok and "access_token_invalid" in message and "nope-123" not in message
    ok, message = make_hook(uis_conn(uis, token="", conn_id="uis_empty")).test_connection()
    assert not ok and "no access token" in message


# -- recording links and the connection's URL (no network) ----------------------------------------
@pytest.mark.parametrize(
    ("host", "link"),
    [
        ("", "https://app.uiscom.ru/system/media/talk/55/ab12/"),
        ("https://dataapi.uiscom.ru/v2.0", "https://app.uiscom.ru/system/media/talk/55/ab12/"),
        ("dataapi.comagic.ru/v2.0/", "https://app.comagic.ru/system/media/talk/55/ab12/"),
        ("http://127.0.0.1:8765/uis/clinic/v2.0", "http://127.0.0.1:8765/uis/clinic/system/media/talk/55/ab12/"),
    ],
)
def test_record_url_follows_the_api_host(uis_conn, host, link):
    assert make_hook(uis_conn(host=host)).record_url(55, "ab12") == link


def test_record_url_template_from_the_connection_overrides(uis_conn):
    extra = '{"media_url": "https://media.example/{communication_id}/{record_id}.mp3"}'
    hook = make_hook(uis_conn(host="dataapi.uiscom.ru/v2.0", extra=extra))
    assert hook.record_url(1, "r") == "https://media.example/1/r.mp3"
    with pytest.raises(ValueError, match="communication_id"):
        hook.record_url(None, "r")


def test_api_url_defaults():
    assert api_url(None) == "https://dataapi.uiscom.ru/v2.0"
    assert api_url("dataapi.comagic.ru/v2.0/") == "https://dataapi.comagic.ru/v2.0"
    assert api_url("http://127.0.0.1/uis/a/v2.0", 8765) == "http://127.0.0.1:8765/uis/a/v2.0"


def test_the_timezone_extra_overrides_the_accounts_without_asking(uis_conn):
    hook = make_hook(uis_conn(host="http://127.0.0.1:9/nowhere/v2.0", extra='{"timezone": "Asia/Vladivostok"}'))
    assert hook.timezone() == ZoneInfo("Asia/Vladivostok")  # port 9 (discard): any request would fail
