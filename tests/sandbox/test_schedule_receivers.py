"""The schedule receivers of the sandbox over real HTTP: the clinic's own service's PostTimeTable
(IDENT §2.6), 32top's PUT schedule and SberZdorovye's PUT schedule (both assumed contracts). Right
shapes are accepted (gzip too) and kept at /_sandbox/<service>/{account}/received; wrong ones are
refused in the service's own error format and not kept."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import uuid

import pytest
import requests


@pytest.fixture
def name(sandbox):
    value = f"sched-{uuid.uuid4().hex[:8]}"
    yield value
    for service in ("clinic_http", "top32", "sberzdorovie"):
        sandbox.reset_faults(service)


def received(sandbox, service: str, name: str) -> dict:
    return sandbox._control("GET", f"/{service}/{name}/received")


def send(method: str, url: str, body, headers: dict, *, gzipped: bool = False, raw: bytes | None = None):
    data = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    headers = {"Content-Type": "application/json", **headers}
    if gzipped:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    return requests.request(method, url, data=data, headers=headers, timeout=30)


# -- clinic_http: PostTimeTable ------------------------------------------------------------------
TIMETABLE = {
    "Doctors": [{"Id": 1, "Name": "Иванова Анна Сергеевна"}, {"Id": 2, "Name": "Петров Пётр Ильич"}],
    "Branches": [{"Id": 10, "Name": "На Невском"}, {"Id": 20, "Name": "В Екатеринбурге"}],
    "Intervals": [
        {"DoctorId": 1, "BranchId": 10, "StartDateTime": "2026-05-12T10:00:00+03:00", "LengthInMinutes": 15,
         "IsBusy": False},
        {"DoctorId": 1, "BranchId": 10, "StartDateTime": "2026-05-12T10:15:00+03:00", "LengthInMinutes": 45,
         "IsBusy": True},
        {"DoctorId": 2, "BranchId": 20, "StartDateTime": "2026-05-12T10:00:00+05:00", "LengthInMinutes": 15,
         "IsBusy": False},
    ],
}  # fmt: skip


def post_timetable(sandbox, tenant, body, key=None, **kwargs):
    headers = {"IDENT-Integration-Key": sandbox.key if key is None else key}
    return send("POST", sandbox.url(tenant, "PostTimeTable"), body, headers, **kwargs)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_post_timetable_accepts_ident_s_shape_and_keeps_it(sandbox, name, gzipped):
    response = post_timetable(sandbox, name, TIMETABLE, gzipped=gzipped)

    assert response.status_code == 200, response.text
    shown = received(sandbox, "clinic_http", name)
    assert shown["accepted"] == 1 and shown["rejected"] == 0
    assert shown["last"]["body"] == TIMETABLE
    assert shown["last"]["content_encoding"] == ("gzip" if gzipped else "identity")
    assert shown["last"]["summary"] == {"doctors": 2, "branches": 2, "intervals": 3, "free": 2, "busy": 1}


def broken(**change):
    body = copy.deepcopy(TIMETABLE)
    for path, value in change.items():
        key, index, field = path.split("__")
        body[key][int(index)][field] = value
    return body


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (broken(Intervals__0__StartDateTime="2026-05-12T10:00:00"), "Intervals[0].StartDateTime: must be ISO 8601"),
        (broken(Intervals__0__StartDateTime="2026-05-12T10:00:00+0300"), "Intervals[0].StartDateTime"),
        (broken(Intervals__1__LengthInMinutes=0), "Intervals[1].LengthInMinutes: must be a positive integer"),
        (broken(Intervals__1__LengthInMinutes="45"), "Intervals[1].LengthInMinutes"),
        (broken(Intervals__2__IsBusy="false"), "Intervals[2].IsBusy: must be true or false"),
        (broken(Intervals__2__DoctorId=3), "Intervals[2].DoctorId: 3 is not in Doctors"),
        (broken(Intervals__2__BranchId=30), "Intervals[2].BranchId: 30 is not in Branches"),
        (broken(Intervals__0__DoctorId="1"), "Intervals[0].DoctorId: must be an integer"),
        (broken(Doctors__1__Id=1), "Doctors[1].Id: 1 is listed twice"),
        (broken(Branches__0__Name=""), "Branches[0].Name: must be a non-empty string"),
        (broken(Intervals__0__Comment="x"), "Intervals[0].Comment: unknown field"),
        ({"Doctors": [], "Branches": []}, "Intervals: missing"),
        ([], "the body must be an object"),
    ],
)
def test_post_timetable_refuses_a_wrong_shape_with_a_plain_text_400(sandbox, name, body, expected):
    response = post_timetable(sandbox, name, body)

    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert expected in response.text
    shown = received(sandbox, "clinic_http", name)
    assert shown["accepted"] == 0 and shown["rejected"] == 1 and any(expected in e for e in shown["last_errors"])


def test_post_timetable_refuses_overlapping_intervals_of_one_doctor_across_branches(sandbox, name):
    body = copy.deepcopy(TIMETABLE)
    # 10:20 Moscow is inside doctor 1's busy 10:15-11:00 at branch 10 (the same instant's other offset too).
    body["Intervals"].append({"DoctorId": 1, "BranchId": 20, "StartDateTime": "2026-05-12T12:20:00+05:00",
                              "LengthInMinutes": 15, "IsBusy": False})  # fmt: skip
    response = post_timetable(sandbox, name, body)

    assert response.status_code == 400
    assert "Intervals[3]: overlaps Intervals[1] (DoctorId 1)" in response.text


def test_back_to_back_intervals_do_not_overlap(sandbox, name):
    body = copy.deepcopy(TIMETABLE)
    body["Intervals"].append({"DoctorId": 1, "BranchId": 10, "StartDateTime": "2026-05-12T11:00:00+03:00",
                              "LengthInMinutes": 15, "IsBusy": False})  # fmt: skip
    assert post_timetable(sandbox, name, body).status_code == 200


def test_post_timetable_refuses_a_body_that_says_gzip_but_is_not(sandbox, name):
    headers = {"IDENT-Integration-Key": sandbox.key, "Content-Encoding": "gzip", "Content-Type": "application/json"}
    response = requests.post(sandbox.url(name, "PostTimeTable"), data=b'{"Doctors": []}', headers=headers, timeout=30)

    assert response.status_code == 400 and "not valid gzip" in response.text


def test_post_timetable_refuses_an_unknown_encoding_with_415(sandbox, name):
    headers = {"IDENT-Integration-Key": sandbox.key, "Content-Encoding": "br"}
    response = requests.post(sandbox.url(name, "PostTimeTable"), data=b"{}", headers=headers, timeout=30)

    assert response.status_code == 415


@pytest.mark.parametrize(("key", "status"), [("", 401), ("wrong", 403)])
def test_post_timetable_checks_the_key_first(sandbox, name, key, status):
    response = post_timetable(sandbox, name, TIMETABLE, key=key)

    assert response.status_code == status
    assert received(sandbox, "clinic_http", name)["accepted"] == 0


def test_the_shared_fault_switches_reach_post_timetable(sandbox, name):
    sandbox.set_faults("clinic_http", fail_next=1)
    assert post_timetable(sandbox, name, TIMETABLE).status_code == 503
    assert post_timetable(sandbox, name, TIMETABLE).status_code == 200


# -- top32: PUT schedule ---------------------------------------------------------------------------
TOP32_SCHEDULE = {
    "date_from": "2026-05-12",
    "date_to": "2026-05-13",
    "branches": [{"id": "10", "name": "На Невском", "timezone": "Europe/Moscow"}],
    "doctors": [
        {"id": "1", "surname": "Иванова", "full_name": "Иванова Анна Сергеевна", "branch_id": "10",
         "dates": [{"date": "2026-05-12", "slots": [{"time": "10:00", "duration": 15},
                                                   {"time": "10:15", "duration": 15}]}]},
        {"id": "2", "surname": "Петров", "full_name": "Петров Пётр Ильич", "branch_id": "10", "dates": []},
    ],
}  # fmt: skip


def put_top32(sandbox, account, body, key=None, **kwargs):
    url = f"{sandbox.base_url}/top32/{account}/api/partner/v1/schedule"
    return send("PUT", url, body, {"Authorization": f"Bearer {sandbox.key if key is None else key}"}, **kwargs)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_top32_schedule_is_accepted_and_kept(sandbox, name, gzipped):
    response = put_top32(sandbox, name, TOP32_SCHEDULE, gzipped=gzipped)

    assert response.status_code == 200, response.text
    assert response.json() == {"data": {"doctors": 2, "slots": 2}}
    shown = received(sandbox, "top32", name)
    assert shown["accepted"] == 1 and shown["last"]["body"] == TOP32_SCHEDULE


def top32_broken(edit):
    body = copy.deepcopy(TOP32_SCHEDULE)
    edit(body)
    return body


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        (top32_broken(lambda b: b["doctors"][0]["dates"][0]["slots"][1].update(time="10:05")),
         "doctors[0].dates[0].slots[1].time", "overlaps doctors[0].dates[0].slots[0]"),
        (top32_broken(lambda b: b["doctors"][0]["dates"][0]["slots"][0].update(time="9:00")),
         "doctors[0].dates[0].slots[0].time", "must be HH:MM"),
        (top32_broken(lambda b: b["doctors"][0]["dates"][0]["slots"][0].update(duration=0)),
         "doctors[0].dates[0].slots[0].duration", "must be a positive number of minutes"),
        (top32_broken(lambda b: b["doctors"][0]["dates"][0].update(date="2026-05-14")),
         "doctors[0].dates[0].date", "outside date_from..date_to"),
        (top32_broken(lambda b: b["doctors"][1].update(branch_id="99")),
         "doctors[1].branch_id", "must be the id of one of branches"),
        (top32_broken(lambda b: b["doctors"][1].update(surname="Иванова")),
         "doctors[1].surname", "is not the first word of full_name"),
        (top32_broken(lambda b: b["branches"][0].update(timezone="Mars/Olympus")),
         "branches[0].timezone", "must be an IANA timezone"),
        (top32_broken(lambda b: b.update(date_from="12.05.2026")), "date_from", "must be a date YYYY-MM-DD"),
        (top32_broken(lambda b: b.pop("branches")), "branches", "missing"),
        (top32_broken(lambda b: b["doctors"][0].update(extra=1)), "doctors[0].extra", "unknown field"),
    ],
)  # fmt: skip
def test_top32_schedule_refuses_a_wrong_shape_with_its_error_envelope(sandbox, name, body, field, text):
    response = put_top32(sandbox, name, body)

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert text in error["details"][field]
    assert received(sandbox, "top32", name)["accepted"] == 0


def test_top32_schedule_needs_the_key(sandbox, name):
    response = put_top32(sandbox, name, TOP32_SCHEDULE, key="wrong")

    assert response.status_code == 401 and response.json()["error"]["code"] == "unauthorized"


def test_top32_schedule_refuses_broken_gzip_in_its_envelope(sandbox, name):
    url = f"{sandbox.base_url}/top32/{name}/api/partner/v1/schedule"
    headers = {"Authorization": f"Bearer {sandbox.key}", "Content-Encoding": "gzip"}
    response = requests.put(url, data=b"not gzip", headers=headers, timeout=30)

    assert response.status_code == 422 and "not valid gzip" in response.json()["error"]["message"]


# -- sberzdorovie: PUT schedule --------------------------------------------------------------------
SBER_SCHEDULE = {
    "date_from": "2026-05-12",
    "date_to": "2026-05-13",
    "buildings": [
        {"id": "10", "name": "На Невском", "address": "Невский пр., 1", "timezone": "Europe/Moscow",
         "doctors": [{"id": "1", "name": "Иванова Анна Сергеевна", "speciality": "Стоматолог-терапевт",
                      "slots": [{"start": "2026-05-12T10:00:00+03:00", "end": "2026-05-12T10:15:00+03:00"}]}]},
        {"id": "20", "name": "В Екатеринбурге", "address": "", "timezone": "Asia/Yekaterinburg",
         "doctors": [{"id": "1", "name": "Иванова Анна Сергеевна", "speciality": "",
                      "slots": [{"start": "2026-05-13T10:00:00+05:00", "end": "2026-05-13T10:15:00+05:00"}]}]},
    ],
}  # fmt: skip


def basic(login: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{login}:{password}".encode()).decode()


def put_sber(sandbox, account, body, auth=None, **kwargs):
    url = f"{sandbox.base_url}/sberzdorovie/{account}/mis/v1/schedule"
    return send("PUT", url, body, {"Authorization": auth or basic("partner.1", sandbox.key)}, **kwargs)


@pytest.mark.parametrize("gzipped", [False, True], ids=["plain", "gzip"])
def test_sberzdorovie_schedule_is_accepted_and_kept(sandbox, name, gzipped):
    response = put_sber(sandbox, name, SBER_SCHEDULE, gzipped=gzipped)

    assert response.status_code == 200, response.text
    assert response.json() == {"status": "success", "buildings": 2, "doctors": 2, "slots": 2}
    shown = received(sandbox, "sberzdorovie", name)
    assert shown["accepted"] == 1 and shown["last"]["body"] == SBER_SCHEDULE


def sber_broken(edit):
    body = copy.deepcopy(SBER_SCHEDULE)
    edit(body)
    return body


SLOT0 = "buildings[0].doctors[0].slots[0]"


@pytest.mark.parametrize(
    ("body", "field", "text"),
    [
        (sber_broken(lambda b: b["buildings"][0]["doctors"][0]["slots"][0].update(start="2026-05-12T10:00:00+05:00",
                                                                                end="2026-05-12T10:15:00+05:00")),
         f"{SLOT0}.start", "is not in the building's offset"),
        (sber_broken(lambda b: b["buildings"][0]["doctors"][0]["slots"][0].update(start="2026-05-12T10:00:00")),
         f"{SLOT0}.start", "must be ISO 8601 with a UTC offset"),
        (sber_broken(lambda b: b["buildings"][0]["doctors"][0]["slots"][0].update(end="2026-05-12T10:00:00+03:00")),
         f"{SLOT0}.end", "must be after start"),
        (sber_broken(lambda b: b["buildings"][0]["doctors"][0]["slots"][0].update(start="2026-05-14T10:00:00+03:00",
                                                                                end="2026-05-14T10:15:00+03:00")),
         f"{SLOT0}.start", "outside date_from..date_to"),
        (sber_broken(lambda b: b["buildings"][1]["doctors"][0]["slots"][0].update(start="2026-05-12T12:05:00+05:00",
                                                                                end="2026-05-12T12:20:00+05:00")),
         "buildings[1].doctors[0].slots[0].start", "overlaps buildings[0].doctors[0].slots[0]"),
        (sber_broken(lambda b: b["buildings"][1].update(id="10")), "buildings[1].id", "listed twice"),
        (sber_broken(lambda b: b["buildings"][0]["doctors"][0].update(id=1)), "buildings[0].doctors[0].id",
         "must be a non-empty string"),
        (sber_broken(lambda b: b["buildings"][0].pop("timezone")), "buildings[0].timezone", "missing"),
        (sber_broken(lambda b: b.update(horizon=32)), "horizon", "unknown field"),
    ],
)  # fmt: skip
def test_sberzdorovie_schedule_refuses_a_wrong_shape_in_docdoc_s_error_shape(sandbox, name, body, field, text):
    response = put_sber(sandbox, name, body)

    assert response.status_code == 400
    answer = response.json()
    assert answer["status"] == "error" and answer["message"].startswith("Validation failed")
    assert text in answer["errors"][field]
    assert received(sandbox, "sberzdorovie", name)["accepted"] == 0


@pytest.mark.parametrize(
    "auth", ["", "Bearer x", "Basic bm90LWJhc2U2NA!!", "wrong"], ids=["none", "bearer", "garbled", "wrong"]
)
def test_sberzdorovie_refuses_missing_or_wrong_credentials_with_401(sandbox, name, auth):
    if auth == "wrong":
        auth = basic("partner.1", "not-the-key")
    url = f"{sandbox.base_url}/sberzdorovie/{name}/mis/v1/schedule"
    response = requests.put(url, json=SBER_SCHEDULE, headers={"Authorization": auth} if auth else {}, timeout=30)

    assert response.status_code == 401 and response.json()["status"] == "error"


def test_sberzdorovie_clinic_and_unknown_routes(sandbox, name):
    base = f"{sandbox.base_url}/sberzdorovie/{name}/mis/v1"
    headers = {"Authorization": basic("partner.1", sandbox.key)}
    clinic = requests.get(f"{base}/clinic", headers=headers, timeout=30)
    unknown = requests.get(f"{base}/slots", headers=headers, timeout=30)

    assert clinic.status_code == 200 and clinic.json()["status"] == "success" and clinic.json()["clinic"]["name"]
    assert unknown.status_code == 404 and unknown.json()["status"] == "error"


def test_sberzdorovie_is_under_the_shared_fault_switches(sandbox, name):
    sandbox.set_faults("sberzdorovie", auth_failure=True)
    assert put_sber(sandbox, name, SBER_SCHEDULE).status_code == 401
    sandbox.reset_faults("sberzdorovie")
    assert put_sber(sandbox, name, SBER_SCHEDULE).status_code == 200
    assert "sberzdorovie" in sandbox.health()["services"]


@pytest.mark.parametrize("service", ["clinic_http", "top32", "sberzdorovie"])
def test_the_push_logs_summaries_come_without_bodies_when_asked(sandbox, name, service):
    """What a status line polls: every kept push's summary, none of the (megabyte) bodies."""
    if service == "clinic_http":
        assert post_timetable(sandbox, name, TIMETABLE).status_code == 200
    elif service == "top32":
        assert put_top32(sandbox, name, TOP32_SCHEDULE).status_code == 200
    else:
        assert put_sber(sandbox, name, SBER_SCHEDULE).status_code == 200
    whole = received(sandbox, service, name)
    short = sandbox._control("GET", f"/{service}/{name}/received?bodies=false")
    assert whole["last"]["body"] and "body" not in short["last"] and all("body" not in p for p in short["pushes"])
    assert short["last"]["summary"] == whole["last"]["summary"] and short["accepted"] == whole["accepted"] == 1


def test_each_receivers_index_lists_the_accounts_pushed_to(sandbox, name):
    """``GET /_sandbox/<service>/received``: the accounts that were pushed a schedule, and where to look."""
    assert post_timetable(sandbox, name, TIMETABLE).status_code == 200
    assert put_top32(sandbox, name, TOP32_SCHEDULE).status_code == 200
    assert put_sber(sandbox, name, {"bad": "shape"}).status_code == 400  # a refusal counts too
    for service, accepted, rejected in (("clinic_http", 1, 0), ("top32", 1, 0), ("sberzdorovie", 0, 1)):
        index = sandbox._control("GET", f"/{service}/received")
        assert index["service"] == service
        assert index["accounts"][name] == {
            "accepted": accepted, "rejected": rejected, "received": f"/_sandbox/{service}/{name}/received"}  # fmt: skip
