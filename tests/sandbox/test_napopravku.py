"""The NaPopravku RTA API emulator over real HTTP, through the session's shared sandbox."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from sandbox.testing import SandboxServer

APPOINTMENT_FIELDS = [
    "uuid", "clinic", "doctor", "mis_service_id", "start_time", "end_time", "patient_surname",
    "patient_firstname", "patient_father_name", "patient_gender", "patient_phone", "patient_email",
    "patient_birthday", "comment", "source", "is_received", "is_cancelled", "created_at", "updated_at",
]  # fmt: skip
PER_DAY = 12


@pytest.fixture
def account(sandbox):
    """A fresh account name per test (every name works), its state and the faults dropped after."""
    name = f"np-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/napopravku/{name}/state")
    sandbox.reset_faults("napopravku")


def api(sandbox, account: str) -> str:
    return f"{sandbox.base_url}/napopravku/{account}/api/v1"


def get(sandbox, account, path, query: str = "", token: str | None = None) -> requests.Response:
    headers = {"Accept": "application/json", "Authorization": f"Bearer {sandbox.key if token is None else token}"}
    url = f"{api(sandbox, account)}/{path}" + (f"?{query}" if query else "")
    return requests.get(url, headers=headers, timeout=10)


def post(sandbox, account, path, body, token: str | None = None) -> requests.Response:
    headers = {"Accept": "application/json", "Authorization": f"Bearer {sandbox.key if token is None else token}"}
    return requests.post(f"{api(sandbox, account)}/{path}", json=body, headers=headers, timeout=10)


def control(sandbox, method, account, path, **body):
    return sandbox._control(method, f"/napopravku/{account}{path}", **({"json": body} if body else {}))


def inject(sandbox, account, **fields) -> dict:
    return sandbox._control("POST", f"/napopravku/{account}/appointments", json=fields)["stored"]


def items(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["result"]["items"]


def everything(sandbox, account, query: str = "") -> list[dict]:
    rows, page = [], 1
    while True:
        body = get(sandbox, account, "appointments", f"paging[page]={page}&paging[per_page]=100&{query}").json()
        rows += body["result"]["items"]
        if page >= body["result"]["meta"]["last_page"]:
            return rows
        page += 1


# -- auth and routes -------------------------------------------------------------------------------
def test_a_missing_or_wrong_bearer_token_is_401_unauthenticated(sandbox, account):
    for token in ("", "wrong-token"):
        response = get(sandbox, account, "appointments", token=token)
        assert response.status_code == 401 and response.json() == {"message": "Unauthenticated."}
    bare = requests.get(f"{api(sandbox, account)}/appointments", timeout=10)
    assert bare.status_code == 401
    assert post(sandbox, account, "appointments/set-received", {}, token="x").status_code == 401


def test_unknown_routes_are_laravel_404s(sandbox, account):
    response = get(sandbox, account, "patients")
    assert response.status_code == 404 and "could not be found" in response.json()["message"]


# -- the list envelope, paging, validation ----------------------------------------------------------
def test_history_of_the_account_in_the_clients_envelope(sandbox, account):
    body = get(sandbox, account, "appointments").json()
    assert set(body) == {"result"} and set(body["result"]) == {"items", "meta"}
    meta = body["result"]["meta"]
    total = PER_DAY * 3  # the session sandbox has days=3 and no live appointments within the hour
    assert meta == {"total": total, "per_page": 10, "page": 1, "from": 1, "to": 10, "last_page": 4}
    rows = everything(sandbox, account)
    assert len(rows) == total == len({r["uuid"] for r in rows})
    assert all(list(r) == APPOINTMENT_FIELDS for r in rows)
    assert all(r["is_received"] for r in rows)  # the history is already received
    created = [r["created_at"] for r in rows]
    assert created == sorted(created)  # default order: creation
    for r in rows:
        assert set(r["clinic"]) == {"id", "name", "comment", "last_activity_at", "mis_clinic_id"}
        assert set(r["doctor"]) == {"id", "name", "comment", "last_activity_at", "mis_doctor_id"}
        assert isinstance(r["doctor"]["mis_doctor_id"], str) and isinstance(r["clinic"]["mis_clinic_id"], str)
        made = datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%S.000000Z").replace(tzinfo=UTC)
        start = datetime.strptime(r["start_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        end = datetime.strptime(r["end_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        assert made < start < end and made > datetime.now(UTC) - timedelta(days=4)
        assert r["patient_surname"] and r["patient_firstname"]


def test_the_last_page_and_a_page_past_it(sandbox, account):
    last = get(sandbox, account, "appointments", "paging[page]=4&paging[per_page]=10").json()["result"]
    assert len(last["items"]) == 6 and last["meta"]["from"] == 31 and last["meta"]["to"] == 36
    past = get(sandbox, account, "appointments", "paging[page]=9&paging[per_page]=10").json()["result"]
    assert past["items"] == [] and past["meta"]["from"] is None and past["meta"]["to"] is None


def test_per_page_above_100_and_other_bad_parameters_are_laravel_422s(sandbox, account):
    response = get(sandbox, account, "appointments", "paging[per_page]=101")
    assert response.status_code == 422
    assert response.json() == {
        "message": "The paging.per page field must not be greater than 100.",
        "errors": {"paging.per_page": ["The paging.per page field must not be greater than 100."]},
    }
    assert len(items(get(sandbox, account, "appointments", "paging[per_page]=100"))) == PER_DAY * 3
    bad = get(sandbox, account, "appointments", "is_received=false&sorting[sort_dir]=up&from=yesterday&uuids=abc")
    body = bad.json()
    assert bad.status_code == 422 and body["message"].endswith("(and 3 more errors)")
    assert set(body["errors"]) == {"is_received", "sorting.sort_dir", "from", "uuids"}
    assert get(sandbox, account, "appointments", "paging[page]=0").status_code == 422


def test_booleans_travel_as_0_and_1(sandbox, account):
    assert items(get(sandbox, account, "appointments", "is_received=0")) == []
    assert len(items(get(sandbox, account, "appointments", "is_received=1&paging[per_page]=100"))) == PER_DAY * 3
    assert get(sandbox, account, "appointments", "is_received=true").status_code == 422


def test_sorting_and_filters(sandbox, account):
    rows = everything(sandbox, account)
    desc = items(get(sandbox, account, "appointments", "sorting[sort_by]=start_time&sorting[sort_dir]=desc"))
    assert [r["start_time"] for r in desc] == sorted((r["start_time"] for r in rows), reverse=True)[:10]
    picked = [rows[3]["uuid"], rows[7]["uuid"], "00000000-0000-4000-8000-000000000000"]
    for query in ("&".join(f"uuids[]={u}" for u in picked), "&".join(f"uuids[{i}]={u}" for i, u in enumerate(picked))):
        assert [r["uuid"] for r in items(get(sandbox, account, "appointments", query))] == picked[:2]
    clinic = items(get(sandbox, account, "appointments", "mis_clinic_id=2&paging[per_page]=100"))
    assert clinic and {r["clinic"]["mis_clinic_id"] for r in clinic} == {"2"}
    middle = rows[10]["created_at"]
    since = everything(sandbox, account, f"from={middle}")
    assert [r["uuid"] for r in since] == [r["uuid"] for r in rows[10:]]
    upto = everything(sandbox, account, "to=" + rows[5]["created_at"].replace("T", " ")[:19])
    assert [r["uuid"] for r in upto] == [r["uuid"] for r in rows[:6]]


def test_data_is_deterministic_per_account(sandbox, account):
    assert everything(sandbox, account) == everything(sandbox, account)
    other = f"{account}-other"
    try:
        assert {r["uuid"] for r in everything(sandbox, other)}.isdisjoint(
            {r["uuid"] for r in everything(sandbox, account)}
        )
    finally:
        control(sandbox, "DELETE", other, "/state")


def test_phones_come_as_text_or_numbers_and_some_are_missing(sandbox, account):
    with SandboxServer(seed=7, days=14, live_interval=3600, log_requests=False) as big:
        rows = everything(big, account)
    phones = [r["patient_phone"] for r in rows]
    missing = sum(1 for p in phones if p in (None, ""))
    assert 0.04 < missing / len(rows) < 0.13  # about 8 %
    assert any(isinstance(p, int) for p in phones) and any(isinstance(p, str) and p for p in phones)
    assert any(r["is_cancelled"] for r in rows)  # cancelled later by the patient
    assert all(r["is_received"] for r in rows)
    assert {r["patient_gender"] for r in rows} <= {"male", "female", None}
    assert any(r["patient_email"] for r in rows) and any(r["patient_email"] is None for r in rows)


def test_clinics_with_and_without_doctors(sandbox, account):
    clinics = items(get(sandbox, account, "clinics"))
    assert [c["mis_clinic_id"] for c in clinics] == ["1", "2"]
    assert all(c["doctors"] and all("mis_doctor_id" in d for d in c["doctors"]) for c in clinics)
    plain = get(sandbox, account, "clinics", "paging[page]=1&paging[per_page]=1&with_doctors=0&without_last_activity=0")
    body = plain.json()["result"]
    assert len(body["items"]) == 1 and "doctors" not in body["items"][0] and body["meta"]["total"] == 2


# -- acknowledgement and the automatic cancellation ------------------------------------------------
def test_an_injected_appointment_is_unreceived_until_acknowledged(sandbox, account):
    stored = inject(sandbox, account, patient_surname="Тестова", patient_phone=79110000001)
    assert stored["is_received"] is False and stored["is_cancelled"] is False and stored["patient_phone"] == 79110000001
    unreceived = items(get(sandbox, account, "appointments", "is_received=0"))
    assert [r["uuid"] for r in unreceived] == [stored["uuid"]]
    response = post(
        sandbox,
        account,
        "appointments/set-received",
        {"appointment_uuid": stored["uuid"], "message": None, "success": True},
    )
    assert response.status_code == 200 and response.json() == {"result": True}
    assert items(get(sandbox, account, "appointments", "is_received=0")) == []
    acks = control(sandbox, "GET", account, "/acknowledgements")["acknowledgements"]
    assert set(acks) == {stored["uuid"]} and acks[stored["uuid"]]["success"] is True
    assert acks[stored["uuid"]]["message"] is None and acks[stored["uuid"]]["at"].endswith("Z")
    again = post(sandbox, account, "appointments/set-received", {"appointment_uuid": stored["uuid"], "success": False,
                                                                   "message": "Не удалось записать"})  # fmt: skip
    assert again.status_code == 200  # a repeat overwrites
    ack = control(sandbox, "GET", account, "/acknowledgements")["acknowledgements"][stored["uuid"]]
    assert ack["success"] is False and ack["message"] == "Не удалось записать"


def test_set_received_errors(sandbox, account):
    missing = post(sandbox, account, "appointments/set-received", {"success": True})
    assert missing.status_code == 422 and "appointment_uuid" in missing.json()["errors"]
    unknown = post(sandbox, account, "appointments/set-received", {"appointment_uuid": "nope", "success": True})
    assert unknown.status_code == 404 and "nope" in unknown.json()["message"]
    stored = inject(sandbox, account)
    bad = post(sandbox, account, "appointments/set-received", {"appointment_uuid": stored["uuid"], "success": "yes"})
    assert bad.status_code == 422 and "success" in bad.json()["errors"]
    long = post(
        sandbox, account, "appointments/set-received", {"appointment_uuid": stored["uuid"], "message": "x" * 256}
    )
    assert long.status_code == 422 and "message" in long.json()["errors"]


def test_an_appointment_left_alone_past_the_deadline_is_cancelled(sandbox, account):
    assert control(sandbox, "PUT", account, "/cancel_after", seconds=0.5)["cancel_after"] == 0.5
    kept, dropped = inject(sandbox, account), inject(sandbox, account)
    assert post(sandbox, account, "appointments/set-received", {"appointment_uuid": kept["uuid"]}).status_code == 200
    time.sleep(0.7)
    rows = {r["uuid"]: r for r in items(get(sandbox, account, "appointments", "is_received=0&is_cancelled=1"))}
    assert set(rows) == {dropped["uuid"]} and rows[dropped["uuid"]]["updated_at"] >= dropped["created_at"]
    assert items(get(sandbox, account, "appointments", "is_received=0&is_cancelled=0")) == []
    late = post(sandbox, account, "appointments/set-received", {"appointment_uuid": dropped["uuid"], "success": True})
    assert late.status_code == 422 and late.json()["message"] == "The appointment is cancelled."
    kept_now = items(get(sandbox, account, "appointments", f"uuids[]={kept['uuid']}"))[0]
    assert kept_now["is_received"] is True and kept_now["is_cancelled"] is False
    stats = control(sandbox, "GET", account, "/stats")
    assert stats["auto_cancelled"] == 1 and stats["unreceived"] == 0


def test_the_default_deadline_is_ten_minutes(sandbox, account):
    stats = control(sandbox, "GET", account, "/stats")
    assert stats["cancel_after"] == 600
    stored = inject(sandbox, account)
    assert items(get(sandbox, account, "appointments", f"uuids[]={stored['uuid']}"))[0]["is_cancelled"] is False


def test_control_state_reset_drops_injected_and_acknowledgements(sandbox, account):
    stored = inject(sandbox, account)
    post(sandbox, account, "appointments/set-received", {"appointment_uuid": stored["uuid"], "success": True})
    control(sandbox, "PUT", account, "/cancel_after", seconds=1)
    control(sandbox, "DELETE", account, "/state")
    assert control(sandbox, "GET", account, "/acknowledgements")["acknowledgements"] == {}
    assert control(sandbox, "GET", account, "/stats")["cancel_after"] == 600
    assert stored["uuid"] not in {r["uuid"] for r in everything(sandbox, account)}


def test_new_unreceived_appointments_arrive_while_the_sandbox_runs(account):
    with SandboxServer(seed=3, days=1, live_interval=0.3, log_requests=False) as live:
        time.sleep(1.0)
        fresh = everything(live, account, "is_received=0")
        assert len(fresh) >= 2 and all(not r["is_cancelled"] for r in fresh)
        made = [datetime.strptime(r["created_at"], "%Y-%m-%dT%H:%M:%S.000000Z").replace(tzinfo=UTC) for r in fresh]
        assert all(m >= live.start_time.replace(microsecond=0) for m in made)


def test_faults_from_the_shared_middleware_apply(sandbox, account):
    sandbox.set_faults("napopravku", fail_next=1)
    assert get(sandbox, account, "appointments").status_code == 503
    assert get(sandbox, account, "appointments").status_code == 200


def test_set_received_alone_can_be_made_to_answer_a_5xx_while_the_listing_works(sandbox, account):
    stored = inject(sandbox, account)
    ack = {"appointment_uuid": stored["uuid"], "message": None, "success": True}
    state = control(sandbox, "PUT", account, "/set_received_failure", failing=True)
    assert state == {"account": account, "failing": True, "status": 503, "remaining": None, "failed": 0}
    for _ in range(3):  # every one, until switched off
        response = post(sandbox, account, "appointments/set-received", ack)
        assert (response.status_code, response.text) == (503, "Service Unavailable")
    assert [r["uuid"] for r in items(get(sandbox, account, "appointments", "is_received=0"))] == [stored["uuid"]]
    assert control(sandbox, "GET", account, "/acknowledgements")["acknowledgements"] == {}
    stats = control(sandbox, "GET", account, "/stats")
    assert (stats["unreceived"], stats["acknowledged"], stats["set_received_failed"]) == (1, 0, 3)

    control(sandbox, "PUT", account, "/set_received_failure", failing=False)
    assert post(sandbox, account, "appointments/set-received", ack).status_code == 200
    assert items(get(sandbox, account, "appointments", "is_received=0")) == []

    state = control(sandbox, "PUT", account, "/set_received_failure", status=500, count=1)  # the next one only
    assert (state["failing"], state["status"], state["remaining"]) == (True, 500, 1)
    failed = post(sandbox, account, "appointments/set-received", ack)
    assert failed.status_code == 500 and failed.json() == {"message": "Server Error"}  # Laravel's own
    assert post(sandbox, account, "appointments/set-received", ack).status_code == 200
    assert control(sandbox, "GET", account, "/stats")["set_received_failed"] == 4


@pytest.mark.parametrize("body", [{"status": 404}, {"status": "503"}, {"count": -1}, {"failing": "yes"}])
def test_the_set_received_failure_switch_refuses_bad_values(sandbox, account, body):
    url = f"{sandbox.base_url}/_sandbox/napopravku/{account}/set_received_failure"
    assert requests.put(url, json=body, timeout=10).status_code == 422


def test_the_set_received_failure_is_dropped_with_the_accounts_state(sandbox, account):
    stored = inject(sandbox, account)
    control(sandbox, "PUT", account, "/set_received_failure", failing=True, status=502)
    sandbox.reset_faults("napopravku")  # not a middleware fault: it stays
    ack = {"appointment_uuid": stored["uuid"], "success": True}
    assert post(sandbox, account, "appointments/set-received", ack).status_code == 502
    control(sandbox, "DELETE", account, "/state")
    stats = control(sandbox, "GET", account, "/stats")
    assert stats["set_received_failed"] == 0
    fresh = inject(sandbox, account)
    assert post(sandbox, account, "appointments/set-received", {"appointment_uuid": fresh["uuid"]}).status_code == 200


# -- schedule: POST clinics / doctors / slots -------------------------------------------------------
def received(sandbox, account) -> dict:
    return control(sandbox, "GET", account, "/received")


def reference(sandbox, account) -> None:
    clinics = [{"mis_clinic_id": "1", "name": "Клиника 1", "comment": None}, {"mis_clinic_id": "2", "name": "К2"}]
    assert post(sandbox, account, "clinics", {"clinics": clinics}).status_code == 200
    doctors = [
        {"mis_doctor_id": "7", "name": "Иванова Анна", "comment": "Терапевт", "mis_clinic_ids": ["1"]},
        {"mis_doctor_id": "8", "name": "Петров Пётр", "comment": None, "mis_clinic_ids": ["1", 2]},
    ]
    assert post(sandbox, account, "doctors", {"doctors": doctors}).status_code == 200


def slots_body(*days, doctor="7", clinic="1") -> dict:
    return {"clinics": [{"mis_clinic_id": clinic, "doctors": [{"mis_doctor_id": doctor, "dates": list(days)}]}]}


def test_clinics_and_doctors_are_upserted_with_the_clients_result_shapes(sandbox, account):
    first = post(sandbox, account, "clinics", {"clinics": [{"mis_clinic_id": "1", "name": "A", "comment": "x"}]})
    assert first.status_code == 200 and first.json() == {"result": {"created": 1, "updated": 0}}
    again = post(sandbox, account, "clinics", {"clinics": [{"mis_clinic_id": "1", "name": "B", "comment": None}]})
    assert again.json() == {"result": {"created": 0, "updated": 1}}
    doctors = {"doctors": [{"mis_doctor_id": "7", "name": "Иванова", "comment": None, "mis_clinic_ids": ["1"]}]}
    answer = post(sandbox, account, "doctors", doctors).json()["result"]
    assert (answer["created"], answer["updated"]) == (1, 0) and answer["not_matched"] == ["7"]
    got = received(sandbox, account)
    assert got["clinics"] == {"1": {"mis_clinic_id": "1", "name": "B", "comment": None}}
    assert got["doctors"]["7"]["mis_clinic_ids"] == ["1"] and got["pushes"] == {"clinics": 2, "doctors": 1, "slots": 0}


def test_slots_are_cut_by_duration_and_replace_only_the_dates_sent(sandbox, account):
    reference(sandbox, account)
    day_1 = {"date": "2025-06-03", "slots": [{"from": "16:00", "to": "17:00", "duration": 15}]}
    day_2 = {"date": "2025-06-04", "slots": [{"from": "09:00", "to": "09:40", "duration": None}]}
    response = post(sandbox, account, "slots", slots_body(day_1, day_2))
    assert response.status_code == 200 and response.json() == {"result": {"dates": 2, "slots": 5}}
    kept = received(sandbox, account)["slots"]["1"]["7"]
    assert kept["2025-06-03"] == [
        {"from": "16:00", "to": "16:15"},
        {"from": "16:15", "to": "16:30"},
        {"from": "16:30", "to": "16:45"},
        {"from": "16:45", "to": "17:00"},
    ]  # the README's own example
    assert kept["2025-06-04"] == [{"from": "09:00", "to": "09:40"}]
    # An empty date clears it; a date not sent is left alone.
    assert post(sandbox, account, "slots", slots_body({"date": "2025-06-03", "slots": []})).status_code == 200
    kept = received(sandbox, account)["slots"]["1"]["7"]
    assert kept["2025-06-03"] == [] and kept["2025-06-04"] == [{"from": "09:00", "to": "09:40"}]
    read = get(sandbox, account, "slots", "mis_clinic_id=1&mis_doctor_id=7&from=2025-06-04&to=2025-06-30")
    assert read.json() == {"result": {"items": {"2025-06-04": [{"from": "09:00", "to": "09:40"}]}}}


D0 = "clinics.0.doctors.0.dates.0"  # the first date of the first doctor of the first clinic


def day(slots=None, date="2025-06-03") -> dict:
    return {"date": date, **({} if slots is None else {"slots": slots})}


def label(field: str) -> str:
    return field.replace("_", " ")


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({}, "clinics", "The {} field is required."),
        ({"clinics": {}}, "clinics", "The {} field must be an array."),
        (slots_body(clinic="9"), "clinics.0.mis_clinic_id", "The selected {} is invalid."),
        (slots_body(doctor="99"), "clinics.0.doctors.0.mis_doctor_id", "The selected {} is invalid."),
        (
            slots_body(doctor="7", clinic="2"),
            "clinics.0.doctors.0.mis_doctor_id",
            "The doctor 7 is not attached to the clinic 2.",
        ),
        (
            {"clinics": [{"mis_clinic_id": "1", "doctors": [{"mis_doctor_id": "7"}]}]},
            "clinics.0.doctors.0.dates",
            "The {} field must be present.",
        ),
        (slots_body(day([], "03.06.2025")), f"{D0}.date", "The {} field must match the format Y-m-d."),
        (slots_body(day([], "2025-02-30")), f"{D0}.date", "The {} field must match the format Y-m-d."),
        (slots_body(day()), f"{D0}.slots", "The {} field must be present."),
        (slots_body(day([]), day([])), "clinics.0.doctors.0.dates.1.date", "The {} field has a duplicate value."),
        (
            slots_body(day([{"from": "9:00", "to": "10:00"}])),
            f"{D0}.slots.0.from",
            "The {} field must match the format H:i.",
        ),
        (
            slots_body(day([{"from": "10:00", "to": "09:00"}])),
            f"{D0}.slots.0.to",
            f"The {{}} field must be a date after {D0}.slots.0.from.",
        ),
        (
            slots_body(day([{"from": "10:00", "to": "11:00", "duration": "15"}])),
            f"{D0}.slots.0.duration",
            "The {} field must be an integer.",
        ),
        (
            slots_body(day([{"from": "10:00", "to": "11:00"}, {"from": "10:30", "to": "10:45"}])),
            f"{D0}.slots.1",
            f"The {{}} field overlaps {D0}.slots.0.",
        ),
    ],
)
def test_wrong_slot_shapes_are_laravel_422s(sandbox, account, body, field, message):
    message = message.format(label(field))
    reference(sandbox, account)
    response = post(sandbox, account, "slots", body)
    assert response.status_code == 422, response.text
    answer = response.json()
    assert answer["errors"][field] == [message] and answer["message"].startswith(message)
    got = received(sandbox, account)
    assert got["slots"] == {} and got["rejected"] == 1 and got["last_errors"][field] == [message]


@pytest.mark.parametrize(
    ("path", "body", "field", "message"),
    [
        ("clinics", {"clinics": [{"name": "A"}]}, "clinics.0.mis_clinic_id", "The {} field is required."),
        (
            "clinics",
            {"clinics": [{"mis_clinic_id": 1, "name": "A"}]},
            "clinics.0.mis_clinic_id",
            "The {} field must be a string.",
        ),
        (
            "clinics",
            {"clinics": [{"mis_clinic_id": "1", "name": "A"}] * 2},
            "clinics.1.mis_clinic_id",
            "The {} field has a duplicate value.",
        ),
        (
            "doctors",
            {"doctors": [{"mis_doctor_id": "7", "name": "И", "mis_clinic_ids": []}]},
            "doctors.0.mis_clinic_ids",
            "The {} field is required.",
        ),
        (
            "doctors",
            {"doctors": [{"mis_doctor_id": "7", "name": "И", "mis_clinic_ids": ["5"]}]},
            "doctors.0.mis_clinic_ids.0",
            "The selected {} is invalid.",
        ),
    ],
)
def test_wrong_clinic_and_doctor_shapes_are_laravel_422s(sandbox, account, path, body, field, message):
    post(sandbox, account, "clinics", {"clinics": [{"mis_clinic_id": "1", "name": "Клиника 1"}]})
    response = post(sandbox, account, path, body)
    assert response.status_code == 422 and response.json()["errors"][field] == [message.format(label(field))]


def test_schedule_endpoints_want_the_bearer_token(sandbox, account):
    for path in ("clinics", "doctors", "slots"):
        response = post(sandbox, account, path, {}, token="wrong")
        assert response.status_code == 401 and response.json() == {"message": "Unauthenticated."}
    assert received(sandbox, account)["pushes"] == {"clinics": 0, "doctors": 0, "slots": 0}
