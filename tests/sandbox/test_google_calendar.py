"""The Google Calendar emulator over HTTP: the JWT-bearer grant checked against the sandbox's key,
Bearer tokens required, event ids and 409/410/404 as Google answers, paging and the time filter."""

from __future__ import annotations

import time

import jwt
import pytest
import requests


@pytest.fixture
def google(sandbox):
    yield sandbox
    sandbox._control("DELETE", "/google_calendar/state")


def grant(sandbox, key: dict, private_key: str | None = None) -> requests.Response:
    now = int(time.time())
    claims = {"iss": key["client_email"], "scope": "https://www.googleapis.com/auth/calendar.events",
              "aud": key["token_uri"], "iat": now, "exp": now + 3600}  # fmt: skip
    assertion = jwt.encode(claims, private_key or key["private_key"], algorithm="RS256")
    body = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    return requests.post(key["token_uri"], data=body, timeout=10)


def api(sandbox, token: str, method: str, path: str, **kwargs) -> requests.Response:
    url = f"{sandbox.base_url}/google_calendar/calendar/v3/{path}"
    return requests.request(method, url, headers={"Authorization": f"Bearer {token}"}, timeout=10, **kwargs)


def event(eid: str, start: str, end: str) -> dict:
    return {"id": eid, "summary": eid, "start": {"dateTime": start}, "end": {"dateTime": end}}


def test_the_grant_takes_only_the_sandbox_key(google):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = google._control("GET", "/google_calendar/service-account")
    assert key["type"] == "service_account" and key["token_uri"].endswith("/google_calendar/token")
    answer = grant(google, key)
    assert answer.status_code == 200 and answer.json()["token_type"] == "Bearer"
    pem = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(*pem).decode()
    refused = grant(google, key, other)
    assert refused.status_code == 400 and refused.json() == {
        "error": "invalid_grant", "error_description": "Invalid JWT Signature."}  # fmt: skip


def test_events_insert_conflict_delete_restore_and_list(google):
    key = google._control("GET", "/google_calendar/service-account")
    token = grant(google, key).json()["access_token"]
    assert api(google, "nope", "GET", "calendars/c1/events").status_code == 401
    first = event("abcde1", "2026-12-03T10:00:00+03:00", "2026-12-03T11:00:00+03:00")
    assert api(google, token, "POST", "calendars/c1/events", json=first).status_code == 200
    conflict = api(google, token, "POST", "calendars/c1/events", json=first)
    assert conflict.status_code == 409 and conflict.json()["error"]["errors"][0]["reason"] == "duplicate"
    bad = api(google, token, "POST", "calendars/c1/events", json=event("wxyz1", first["start"]["dateTime"],
                                                                          first["end"]["dateTime"]))  # fmt: skip
    assert bad.status_code == 400
    assert api(google, token, "DELETE", "calendars/c1/events/abcde1").status_code == 204
    assert api(google, token, "DELETE", "calendars/c1/events/abcde1").status_code == 410
    assert api(google, token, "DELETE", "calendars/c1/events/abcde9").status_code == 404
    assert api(google, token, "POST", "calendars/c1/events", json=first).status_code == 409  # a deleted id stays taken
    assert api(google, token, "GET", "calendars/c1/events").json()["items"] == []
    restored = api(google, token, "PATCH", "calendars/c1/events/abcde1", json={"status": "confirmed"})
    assert restored.json()["status"] == "confirmed"
    for n in range(2, 5):
        body = event(f"abcde{n}", f"2026-12-0{n + 2}T10:00:00+03:00", f"2026-12-0{n + 2}T11:00:00+03:00")
        api(google, token, "POST", "calendars/c1/events", json=body)
    page = api(google, token, "GET", "calendars/c1/events", params={"maxResults": 2}).json()
    assert [item["id"] for item in page["items"]] == ["abcde1", "abcde2"] and page["nextPageToken"]
    rest = api(
        google, token, "GET", "calendars/c1/events", params={"maxResults": 2, "pageToken": page["nextPageToken"]}
    )
    assert [item["id"] for item in rest.json()["items"]] == ["abcde3", "abcde4"]
    window = {"timeMin": "2026-12-04T00:00:00Z", "timeMax": "2026-12-06T00:00:00Z"}
    assert [i["id"] for i in api(google, token, "GET", "calendars/c1/events", params=window).json()["items"]] == [
        "abcde2", "abcde3"]  # fmt: skip


def test_a_calendar_shared_read_only_refuses_writes_with_forbidden(google):
    key = google._control("GET", "/google_calendar/service-account")
    token = grant(google, key).json()["access_token"]
    google._control("PUT", "/google_calendar/calendars/ro", json={"access": "reader"})
    answer = api(google, token, "POST", "calendars/ro/events",
                 json=event("abcde1", "2026-12-03T10:00:00Z", "2026-12-03T11:00:00Z"))  # fmt: skip
    assert answer.status_code == 403 and answer.json()["error"]["errors"][0]["reason"] == "forbidden"
