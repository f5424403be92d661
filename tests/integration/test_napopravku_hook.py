"""NaPopravkuHook against the sandbox's NaPopravku RTA API emulator over real HTTP."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError
from ident_hooks.napopravku import (
    APPOINTMENT_FIELDS,
    NaPopravkuHook,
    api_url,
    parse_wire_time,
    php_query,
    wire_datetime,
)
from tests.helpers import connection_json


@pytest.fixture
def account(sandbox):
    """A fresh emulator account per test; its state and the service's faults dropped after."""
    name = f"hook-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/napopravku/{name}/state")
    sandbox.reset_faults("napopravku")


@pytest.fixture
def np_conn(monkeypatch, sandbox, account):
    """Point a connection at the account; returns a function(token=None, conn_id=..., host=None)."""

    def make(token: str | None = None, conn_id: str = "napopravku_test", host: str | None = None) -> str:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            connection_json(
                conn_type="ident_napopravku",
                host=host if host is not None else f"{sandbox.base_url}/napopravku/{account}/api/v1",
                password=sandbox.key if token is None else token,
            ),
        )
        return conn_id

    return make


def make_hook(conn_id, exchanges=None, **kwargs):
    kwargs.setdefault("request_backoff_seconds", 0.01)
    return NaPopravkuHook(conn_id, on_exchange=None if exchanges is None else exchanges.append, **kwargs)


def inject(sandbox, account, **fields) -> dict:
    return sandbox._control("POST", f"/napopravku/{account}/appointments", json=fields)["stored"]


def acknowledgements(sandbox, account) -> dict:
    return sandbox._control("GET", f"/napopravku/{account}/acknowledgements")["acknowledgements"]


def cancel_after(sandbox, account, seconds: float) -> None:
    sandbox._control("PUT", f"/napopravku/{account}/cancel_after", json={"seconds": seconds})


def query(exchange) -> dict[str, list[str]]:
    return parse_qs(urlsplit(exchange.url).query)


def logged(caplog, capfd) -> str:
    out, err = capfd.readouterr()
    return caplog.text + out + err


# -- the wire format, as pinned from the PHP client (no network) ----------------------------------
def test_php_query_encodes_like_http_build_query_rfc3986():
    encoded = php_query(
        {
            "paging": {"page": 2, "per_page": 100},
            "sorting": {"sort_by": None, "sort_dir": None},
            "mis_clinic_id": None,
            "uuids": ["a-1", "b 2"],
            "from": "2025-01-05 10:00:00",
            "is_received": False,
            "is_cancelled": True,
        }
    )
    assert encoded == (
        "paging%5Bpage%5D=2&paging%5Bper_page%5D=100&uuids%5B0%5D=a-1&uuids%5B1%5D=b%202"
        "&from=2025-01-05%2010%3A00%3A00&is_received=0&is_cancelled=1"
    )


def test_dates_on_the_wire():
    moment = datetime(2025, 1, 5, 13, 0, 5, 123, tzinfo=UTC) + timedelta(hours=3)
    assert wire_datetime(moment.astimezone(UTC)) == "2025-01-05 16:00:05"
    with pytest.raises(ValueError, match="aware"):
        wire_datetime(datetime(2025, 1, 5))
    assert parse_wire_time("2025-04-08T14:34:49.000000Z") == datetime(2025, 4, 8, 14, 34, 49, tzinfo=UTC)
    assert parse_wire_time("2025-04-08 14:34:49") == datetime(2025, 4, 8, 14, 34, 49, tzinfo=UTC)
    assert parse_wire_time("2025-04-08T17:34:49+03:00") == datetime(2025, 4, 8, 14, 34, 49, tzinfo=UTC)
    assert parse_wire_time("soon") is None and parse_wire_time(None) is None and parse_wire_time("") is None


def test_api_url_defaults():
    assert api_url(None) == "https://rta-api.napopravku.ru/api/v1"
    assert api_url("rta-api.napopravku.ru/api/v1/") == "https://rta-api.napopravku.ru/api/v1"
    assert api_url("http://127.0.0.1/napopravku/a/api/v1", 8765) == "http://127.0.0.1:8765/napopravku/a/api/v1"


# -- appointments -----------------------------------------------------------------------------------
def test_every_unreceived_appointment_on_every_page_with_the_clients_parameters(sandbox, account, np_conn):
    stored = [inject(sandbox, account, patient_surname=f"Пациент{i}") for i in range(25)]
    exchanges = []
    pages = list(make_hook(np_conn(), exchanges).iter_unreceived(per_page=10))
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [a["uuid"] for p in pages for a in p] == [a["uuid"] for a in stored]
    served = {"uuid", "is_received", "is_cancelled", "created_at", "updated_at", "patient_surname"}
    assert all(served <= set(a) <= set(APPOINTMENT_FIELDS) for p in pages for a in p)  # injected: raw fields
    assert [e.status for e in exchanges] == [200, 200, 200]
    for number, exchange in enumerate(exchanges, start=1):
        assert "/appointments?paging%5Bpage%5D=" in exchange.url
        assert query(exchange) == {
            "paging[page]": [str(number)],
            "paging[per_page]": ["10"],
            "is_received": ["0"],
            "is_cancelled": ["0"],
        }


def test_received_history_is_not_unreceived_and_per_page_is_capped(sandbox, account, np_conn):
    exchanges = []
    assert list(make_hook(np_conn(), exchanges).iter_unreceived(per_page=500)) == []
    assert query(exchanges[0])["paging[per_page]"] == ["100"]
    with pytest.raises(ValueError, match="per_page"):
        list(make_hook(np_conn()).iter_unreceived(per_page=0))


def test_acknowledging_while_iterating_skips_nothing(sandbox, account, np_conn):
    stored = [inject(sandbox, account) for _ in range(7)]
    hook = make_hook(np_conn())
    seen = []
    for page in hook.iter_unreceived(per_page=3):
        for appointment in page:
            hook.set_received(appointment["uuid"], True)
            seen.append(appointment["uuid"])
    assert seen == [a["uuid"] for a in stored]
    assert set(acknowledgements(sandbox, account)) == set(seen)


def test_set_received_success_and_failure_are_sent_and_recorded(sandbox, account, np_conn):
    booked, rejected = inject(sandbox, account), inject(sandbox, account, patient_phone=None)
    exchanges = []
    hook = make_hook(np_conn(), exchanges)
    hook.set_received(booked["uuid"], True)
    hook.set_received(rejected["uuid"], False, "Нет телефона пациента: записать нельзя")
    acks = acknowledgements(sandbox, account)
    assert acks[booked["uuid"]]["success"] is True and acks[booked["uuid"]]["message"] is None
    assert acks[rejected["uuid"]] == {
        "success": False,
        "message": "Нет телефона пациента: записать нельзя",
        "at": acks[rejected["uuid"]]["at"],
    }
    assert [e.method for e in exchanges] == ["POST", "POST"] and all(e.status == 200 for e in exchanges)
    assert [query(e) for e in exchanges] == [
        {"appointment_uuid": [booked["uuid"]], "success": ["1"]},
        {"appointment_uuid": [rejected["uuid"]], "success": ["0"]},
    ]
    assert all("/appointments/set-received?" in e.url for e in exchanges)
    assert list(hook.iter_unreceived()) == []
    now = {a["uuid"]: a for a in hook.appointments([booked["uuid"], rejected["uuid"]])}
    assert now[booked["uuid"]]["is_received"] is True and now[rejected["uuid"]]["is_received"] is True


def test_a_long_message_is_cut_to_what_the_service_takes(sandbox, account, np_conn):
    stored = inject(sandbox, account)
    make_hook(np_conn()).set_received(stored["uuid"], False, "причина " * 60)
    assert len(acknowledgements(sandbox, account)[stored["uuid"]]["message"]) == 255


def test_an_unknown_uuid_is_a_clear_404_error(sandbox, account, np_conn):
    exchanges = []
    with pytest.raises(ServiceResponseError, match="no appointment 'not-a-real-uuid'") as info:
        make_hook(np_conn(), exchanges).set_received("not-a-real-uuid", True)
    assert "404" in str(info.value)
    assert len(exchanges) == 1 and exchanges[0].status == 404 and "not-a-real-uuid" in exchanges[0].error


def test_appointments_by_uuid_in_chunks_of_100(sandbox, account, np_conn):
    stored = [inject(sandbox, account) for _ in range(3)]
    wanted = [a["uuid"] for a in stored] + [str(uuid.uuid4()) for _ in range(120)]
    exchanges = []
    found = make_hook(np_conn(), exchanges).appointments(wanted)
    assert [a["uuid"] for a in found] == [a["uuid"] for a in stored]
    assert len(exchanges) == 2
    assert len([k for k in query(exchanges[0]) if k.startswith("uuids[")]) == 100
    assert query(exchanges[0])["uuids[0]"] == [stored[0]["uuid"]]
    assert make_hook(np_conn()).appointments([]) == []


# -- the 10-minute rule -----------------------------------------------------------------------------
def test_an_appointment_left_alone_past_the_deadline_is_cancelled_and_cannot_be_acknowledged(sandbox, account, np_conn):
    cancel_after(sandbox, account, 0.5)
    kept, left = inject(sandbox, account), inject(sandbox, account)
    hook = make_hook(np_conn())
    assert {a["uuid"] for p in hook.iter_unreceived() for a in p} == {kept["uuid"], left["uuid"]}
    hook.set_received(kept["uuid"], True)
    time.sleep(0.7)
    state = {a["uuid"]: a for a in hook.appointments([kept["uuid"], left["uuid"]])}
    assert state[left["uuid"]]["is_cancelled"] is True and state[left["uuid"]]["is_received"] is False
    assert state[kept["uuid"]]["is_cancelled"] is False and state[kept["uuid"]]["is_received"] is True
    assert list(hook.iter_unreceived()) == []  # cancelled ones are not asked for by default
    missed = [a["uuid"] for p in hook.iter_unreceived(include_cancelled=True) for a in p]
    assert missed == [left["uuid"]]
    exchanges = []
    with pytest.raises(ServiceResponseError, match="422") as info:
        make_hook(np_conn(), exchanges).set_received(left["uuid"], True)
    assert "The appointment is cancelled." in str(info.value) and "appointment_uuid:" in str(info.value)
    assert len(exchanges) == 1 and "cancelled" in exchanges[0].error


def test_created_from_and_to_travel_in_utc(sandbox, account, np_conn):
    inject(sandbox, account)
    exchanges = []
    hook = make_hook(np_conn(), exchanges)
    since = datetime.now(UTC) - timedelta(minutes=5)
    pages = list(hook.iter_unreceived(include_cancelled=True, created_from=since.astimezone(), created_to=None))
    assert sum(len(p) for p in pages) == 1
    sent = query(exchanges[0])
    assert sent["from"] == [since.strftime("%Y-%m-%d %H:%M:%S")] and "to" not in sent
    assert "is_cancelled" not in sent and sent["is_received"] == ["0"]


# -- errors -------------------------------------------------------------------------------------------
def test_a_wrong_token_fails_at_once_with_the_services_message_and_is_never_shown(
    sandbox, account, np_conn, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    exchanges = []
    hook = make_hook(np_conn(token="wrong-token-9d2e"), exchanges, request_attempts=4)
    with pytest.raises(ServiceAuthError, match="refused GET appointments with 401: Unauthenticated.") as info:
        list(hook.iter_unreceived())
    assert len(exchanges) == 1 and exchanges[0].status == 401
    assert "wrong-token-9d2e" not in str(info.value) + logged(caplog, capfd) + "".join(map(str, exchanges))


def test_a_revoked_token_fails_at_once(sandbox, account, np_conn):
    sandbox.set_faults("napopravku", auth_failure=True)
    exchanges = []
    with pytest.raises(ServiceAuthError, match="401"):
        make_hook(np_conn(), exchanges).set_received("whatever", True)
    assert len(exchanges) == 1


def test_an_empty_token_is_refused_before_any_request(np_conn):
    with pytest.raises(ServiceAuthError, match="no Bearer token"):
        make_hook(np_conn(token="", conn_id="napopravku_empty")).appointments(["x"])


def test_5xx_and_unreadable_bodies_are_retried(sandbox, account, np_conn):
    inject(sandbox, account)
    sandbox.set_faults("napopravku", fail_next=2)
    exchanges = []
    pages = list(make_hook(np_conn(), exchanges, request_attempts=4).iter_unreceived())
    assert sum(len(p) for p in pages) == 1 and [e.status for e in exchanges] == [503, 503, 200]
    sandbox.set_faults("napopravku", malformed_next=1)
    exchanges.clear()
    assert sum(len(p) for p in make_hook(np_conn(), exchanges).iter_unreceived()) == 1
    assert "unreadable body" in exchanges[0].error and exchanges[-1].error is None


def test_5xx_gives_up_after_the_configured_attempts(sandbox, account, np_conn):
    sandbox.set_faults("napopravku", fail_next=10)
    exchanges = []
    with pytest.raises(TransientServiceError, match="503"):
        make_hook(np_conn(), exchanges, request_attempts=2).set_received(str(uuid.uuid4()), True)
    assert [e.status for e in exchanges] == [503, 503]


def test_timeouts_are_retried(sandbox, account, np_conn):
    sandbox.set_faults("napopravku", latency_ms=400)
    exchanges = []
    with pytest.raises(TransientServiceError, match="no answer within"):
        list(make_hook(np_conn(), exchanges, request_attempts=2, timeout_seconds=0.1).iter_unreceived())
    assert len(exchanges) == 2 and all(e.status is None and "no answer" in e.error for e in exchanges)


def test_the_token_never_appears_in_logs_or_exchanges(sandbox, account, np_conn, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    stored = inject(sandbox, account)
    sandbox.set_faults("napopravku", fail_next=1)
    exchanges = []
    hook = make_hook(np_conn(), exchanges)
    for page in hook.iter_unreceived():
        for appointment in page:
            hook.set_received(appointment["uuid"], True)
    with pytest.raises(ServiceResponseError):
        hook.set_received("missing-uuid", False, "no")
    hook.test_connection()
    text = logged(caplog, capfd)
    assert stored["uuid"] in text and sandbox.key not in text
    assert len(exchanges) >= 4 and all(sandbox.key not in str(e) for e in exchanges)


# -- test_connection ----------------------------------------------------------------------------------
def test_test_connection_good_and_bad(sandbox, account, np_conn):
    exchanges = []
    ok, message = make_hook(np_conn(), exchanges).test_connection()
    assert ok and "2 clinic(s)" in message and "mis_clinic_id" in message
    assert query(exchanges[0]) == {
        "paging[page]": ["1"],
        "paging[per_page]": ["1"],
        "with_doctors": ["0"],
        "without_last_activity": ["0"],
    }
    ok, message = make_hook(np_conn(token="nope-5150", conn_id="napopravku_bad")).test_connection()
    assert not ok and "Unauthenticated." in message and "nope-5150" not in message
    ok, message = make_hook(np_conn(token="", conn_id="napopravku_empty")).test_connection()
    assert not ok and "no Bearer token" in message
    wrong_host = f"{sandbox.base_url}/napopravku/{account}"  # /api/v1 forgotten
    ok, message = make_hook(np_conn(conn_id="napopravku_host", host=wrong_host), request_attempts=1).test_connection()
    assert not ok and "404" in message
