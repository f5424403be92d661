"""The ProDoctorov/MedFlex send_schedule emulator over real HTTP, through the session's shared sandbox."""

from __future__ import annotations

import uuid

import pytest
import requests


@pytest.fixture
def account(sandbox):
    name = f"pd-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/prodoctorov/{name}/state")
    sandbox.reset_faults("prodoctorov")


def url(sandbox, account: str, path: str = "doctors/send_schedule/") -> str:
    return f"{sandbox.base_url}/prodoctorov/{account}/v2/{path}"


def post(sandbox, account, body, token: str | None = None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Token {sandbox.key if token is None else token}", **kwargs.pop("headers", {})}
    return requests.post(url(sandbox, account), json=body, headers=headers, timeout=10, **kwargs)


def received(sandbox, account) -> dict:
    return sandbox._control("GET", f"/prodoctorov/{account}/received")


def cell(dt="2025-06-03", start="10:00", end="10:30", free=True, **extra) -> dict:
    return {"dt": dt, "time_start": start, "time_end": end, "free": free, **extra}


def body(**doctors) -> dict:
    doctors = doctors or {"7": {"efio": "Иванова Анна Сергеевна", "espec": "Стоматолог-терапевт", "cells": [cell()]}}
    return {"schedule": {"1": "Дента на Невском", "data": {"1": doctors}}}


def test_a_right_body_is_accepted_and_kept_per_filial(sandbox, account):
    cells = [cell(), cell(start="10:30", end="11:00", free=False, room="3")]
    response = post(sandbox, account, body(**{"7": {"efio": "Иванова А. С.", "cells": cells}}))
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ok", "filials": 1, "doctors": 1, "cells": 2}
    got = received(sandbox, account)
    assert got["pushes"] == 1 and got["rejected"] == 0
    assert got["filials"]["1"]["name"] == "Дента на Невском"
    assert got["filials"]["1"]["doctors"] == {"7": {"efio": "Иванова А. С.", "espec": None, "cells": cells}}
    # A push replaces the filials it names, whole; the others stay.
    two = {"schedule": {"2": "Филиал 2", "data": {"2": {"8": {"efio": "Петров П. П.", "cells": []}}}}}
    assert post(sandbox, account, two).status_code == 200
    assert post(sandbox, account, body(**{"9": {"efio": "Сидорова М. И.", "cells": []}})).status_code == 200
    filials = received(sandbox, account)["filials"]
    assert set(filials) == {"1", "2"} and set(filials["1"]["doctors"]) == {"9"}


def test_auth_is_drf_token_authentication(sandbox, account):
    bare = requests.post(url(sandbox, account), json=body(), timeout=10)
    assert bare.status_code == 401 and bare.json() == {"detail": "Authentication credentials were not provided."}
    assert bare.headers["WWW-Authenticate"] == "Token"
    bearer = requests.post(url(sandbox, account), json=body(), headers={"Authorization": f"Bearer {sandbox.key}"})
    assert bearer.status_code == 401 and bearer.json()["detail"] == "Authentication credentials were not provided."
    wrong = post(sandbox, account, body(), token="nope")
    assert wrong.status_code == 401 and wrong.json() == {"detail": "Invalid token."}
    assert received(sandbox, account)["pushes"] == 0


def test_get_answers_405_only_after_the_token_check_and_unknown_routes_404(sandbox, account):
    get = requests.get(url(sandbox, account), headers={"Authorization": f"Token {sandbox.key}"}, timeout=10)
    assert get.status_code == 405 and get.json() == {"detail": 'Method "GET" not allowed.'}
    assert requests.get(url(sandbox, account), headers={"Authorization": "Token x"}, timeout=10).status_code == 401
    no_slash = requests.post(url(sandbox, account, "doctors/send_schedule"), json=body(), timeout=10)
    assert no_slash.status_code == 404 and no_slash.json() == {"detail": "Not found."}


def test_a_body_that_is_not_json_or_not_declared_json_is_refused(sandbox, account):
    headers = {"Authorization": f"Token {sandbox.key}"}
    garbled = requests.post(
        url(sandbox, account), data=b"{", headers={**headers, "Content-Type": "application/json"}, timeout=10
    )
    assert garbled.status_code == 400 and garbled.json()["detail"].startswith("JSON parse error")
    text = requests.post(url(sandbox, account), data="x", headers={**headers, "Content-Type": "text/plain"}, timeout=10)
    assert text.status_code == 415 and text.json() == {"detail": 'Unsupported media type "text/plain" in request.'}


@pytest.mark.parametrize(
    ("broken", "errors"),
    [
        ({}, {"schedule": ["This field is required."]}),
        ({"schedule": []}, {"schedule": ['Expected a dictionary of items but got type "list".']}),
        ({"schedule": {"1": "Ф"}}, {"schedule": {"data": ["This field is required."]}}),
        (
            {"schedule": {"data": {}}},
            {"schedule": {"non_field_errors": ['No filial is named: put "<filial id>": "<name>" next to "data".']}},
        ),
        (
            {"schedule": {"1": "Ф", "data": {"1": {}, "5": {}}}},
            {"schedule": {"data": {"5": ["Unknown filial '5': schedule names no such filial."]}}},
        ),
        ({"schedule": {"1": "", "data": {"1": {}}}}, {"schedule": {"1": ["This field may not be blank."]}}),
        (
            {"schedule": {"1": "Ф", "2": "Г", "data": {"1": {}}}},
            {"schedule": {"data": {"2": ["No data for filial '2'."]}}},
        ),
    ],
)
def test_wrong_shapes_get_drf_errors(sandbox, account, broken, errors):
    response = post(sandbox, account, broken)
    assert response.status_code == 400 and response.json() == errors
    assert received(sandbox, account)["last_errors"] == errors


def test_every_cell_is_checked_and_errors_are_listed_by_index(sandbox, account):
    cells = [
        cell(),
        cell(dt="03.06.2025", start="9:00", end="10:00:00", free="true", room=3),
        cell(start="11:00", end="10:30"),
        cell(start="10:15", end="10:45"),
        {"dt": "2025-06-03"},
    ]
    doctors = {"7": {"efio": "Иванова", "cells": cells}, "8": {"efio": " ", "espec": 5, "cells": {}}}
    response = post(sandbox, account, body(**doctors))
    assert response.status_code == 400
    doctor_7 = response.json()["schedule"]["data"]["1"]["7"]["cells"]
    assert doctor_7[0] == {}
    assert doctor_7[1] == {
        "dt": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."],
        "time_start": ["Time has wrong format. Use one of these formats instead: hh:mm."],
        "time_end": ["Time has wrong format. Use one of these formats instead: hh:mm."],
        "free": ["Must be a valid boolean."],
        "room": ["Not a valid string."],
    }
    assert doctor_7[2] == {"non_field_errors": ["time_end must be later than time_start."]}
    assert doctor_7[3] == {"non_field_errors": ["Overlaps cell 0."]}
    assert doctor_7[4] == {f: ["This field is required."] for f in ("time_start", "time_end", "free")}
    assert response.json()["schedule"]["data"]["1"]["8"] == {
        "efio": ["This field may not be blank."],
        "espec": ["Not a valid string."],
        "cells": ['Expected a list of items but got type "dict".'],
    }
    assert received(sandbox, account)["filials"] == {}


def test_the_shared_fault_switches_apply(sandbox, account):
    sandbox.set_faults("prodoctorov", fail_next=1)
    assert post(sandbox, account, body()).status_code == 503
    assert post(sandbox, account, body()).status_code == 200
    sandbox.set_faults("prodoctorov", auth_failure=True)
    assert post(sandbox, account, body()).status_code == 401
