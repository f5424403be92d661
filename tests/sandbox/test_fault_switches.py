"""Fault switches for timeouts and rate limits, over real HTTP: the shared ``slow_next`` (every
service), Flexbe's forced error codes, NaPopravku's Laravel 429."""

from __future__ import annotations

import time
import uuid

import pytest
import requests


@pytest.fixture
def name(sandbox):
    """A fresh site/account name; every fault and per-name state dropped after the test."""
    value = f"sw-{uuid.uuid4().hex[:8]}"
    yield value
    for service in ("clinic_http", "flexbe", "napopravku"):
        sandbox.reset_faults(service)
    sandbox._control("DELETE", f"/flexbe/{value}/state")
    sandbox._control("DELETE", f"/napopravku/{value}/state")


def tickets(sandbox, timeout: float = 10) -> requests.Response:
    params = {"dateTimeFrom": "2020-01-01T00:00:00+03:00", "dateTimeTo": "2020-01-02T00:00:00+03:00"}
    return requests.get(sandbox.url("sw"), headers=sandbox.headers, params=params, timeout=timeout)


def test_slow_next_answers_exactly_n_requests_late(sandbox, name):
    state = sandbox.set_faults("clinic_http", slow_next=1, slow_ms=600)
    assert (state["slow_next"], state["slow_ms"]) == (1, 600)
    with pytest.raises(requests.Timeout):  # a client with a shorter timeout gives up
        tickets(sandbox, timeout=0.2)
    started = time.monotonic()
    assert tickets(sandbox).status_code == 200  # the next one is on time
    assert time.monotonic() - started < 0.5
    assert sandbox.faults()["clinic_http"]["slow_next"] == 0
    sandbox.set_faults("clinic_http", slow_next=1, slow_ms=300)
    started = time.monotonic()
    assert tickets(sandbox).status_code == 200  # late, but the real answer
    assert time.monotonic() - started >= 0.3
    bad = requests.put(f"{sandbox.base_url}/_sandbox/faults/clinic_http", json={"slow_next": -1}, timeout=10)
    assert bad.status_code == 422


def test_flexbe_forced_error_codes_answer_the_next_calls(sandbox, name):
    url = f"{sandbox.base_url}/flexbe/{name}/mod/api/"

    def call() -> dict:
        return requests.post(url, data={"api_key": sandbox.key, "method": "checkConnection"}, timeout=10).json()

    assert sandbox._control("POST", f"/flexbe/{name}/errors", json={"code": 1, "count": 2})["pending"] == [1, 1]
    assert [call() for _ in range(3)] == [{"error": {"code": 1, "msg": "Request limit exceeded"}}] * 2 + [{"status": 1}]
    sandbox._control("POST", f"/flexbe/{name}/errors", json={"code": 0})
    assert call() == {"error": {"code": 0, "msg": "Invalid API key"}}
    bad = requests.post(f"{sandbox.base_url}/_sandbox/flexbe/{name}/errors", json={"code": 99}, timeout=10)
    assert bad.status_code == 422
    assert sandbox._control("GET", f"/flexbe/{name}/stats")["errors_by_code"] == {"0": 1, "1": 2}


def test_napopravku_throttle_is_laravels_429_with_retry_after(sandbox, name):
    url = f"{sandbox.base_url}/napopravku/{name}/api/v1/clinics"

    def get(token: str | None = None) -> requests.Response:
        headers = {"Accept": "application/json", "Authorization": f"Bearer {token or sandbox.key}"}
        return requests.get(url, headers=headers, timeout=10)

    answer = sandbox._control("PUT", f"/napopravku/{name}/throttle", json={"count": 2, "retry_after": 3})
    assert (answer["throttled"], answer["retry_after"]) == (2, 3)
    assert get("wrong").status_code == 401  # the token is checked first: a refused one costs nothing
    throttled = get()
    assert throttled.status_code == 429 and throttled.json() == {"message": "Too Many Attempts."}
    assert throttled.headers["Retry-After"] == "3" and throttled.headers["X-RateLimit-Remaining"] == "0"
    assert [get().status_code for _ in range(2)] == [429, 200]
    bad = requests.put(f"{sandbox.base_url}/_sandbox/napopravku/{name}/throttle", json={"count": -1}, timeout=10)
    assert bad.status_code == 422
