"""The 32top partner-API emulator (an assumed contract) over real HTTP: the shared ``sandbox``
fixture, a fresh account per test; one server of its own where the clock matters."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.services.top32 import DEFECT_KINDS, LEADS_PER_DAY, MAX_PER_PAGE
from sandbox.testing import SandboxServer

MSK = ZoneInfo("Europe/Moscow")
LEAD_KEYS = {"id", "created_at", "updated_at", "status", "source", "patient_name", "patient_phone", "patient_email",
             "doctor_surname", "appointment_start", "comment", "branch", "page_url"}  # fmt: skip


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.reset_faults("top32")


@pytest.fixture
def account(sandbox):
    name = f"acc-{uuid.uuid4().hex[:8]}"
    yield name
    sandbox._control("DELETE", f"/top32/{name}/state")


def api(server, account: str, path: str, *, key: str | None = None, **params) -> requests.Response:
    headers = {} if key == "" else {"Authorization": f"Bearer {server.key if key is None else key}"}
    return requests.get(f"{server.base_url}/top32/{account}/api/partner/v1/{path}", headers=headers, params=params,
                        timeout=30)  # fmt: skip


def every_lead(server, account: str, **params) -> list[dict]:
    response = api(server, account, "leads", per_page=MAX_PER_PAGE, **params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["meta"]["total"] <= MAX_PER_PAGE  # one page is everything in these tests
    return body["data"]


def control(server, method: str, path: str, **kwargs):
    return server._control(method, f"/top32{path}", **kwargs)


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- auth and errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(("key", "message"), [("", "Missing Authorization"), ("wrong-key", "Invalid API key")])
def test_a_missing_or_wrong_key_is_401_with_the_error_envelope(sb, account, key, message):
    response = api(sb, account, "leads", key=key)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized" and message in error["message"]
    basic = requests.get(f"{sb.base_url}/top32/{account}/api/partner/v1/me", auth=("u", sb.key), timeout=10)
    assert basic.status_code == 401  # only Bearer


def test_me_names_the_account_and_its_timezone(sb, account):
    data = api(sb, account, "me").json()["data"]
    assert set(data) == {"clinic_id", "name", "timezone"} and data["timezone"] == "Europe/Moscow"
    assert account in data["name"] and data["clinic_id"].isdigit()


def test_bad_parameters_are_one_422_naming_every_field(sb, account):
    response = api(sb, account, "leads", created_from="2025-03-10T00:00:00", created_to="вчера", page=0,
                   per_page=MAX_PER_PAGE + 1)  # fmt: skip
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error["details"]) == {"created_from", "created_to", "page", "per_page"}
    assert "with an offset" in error["details"]["created_from"]
    assert api(sb, account, "leads", per_page="x").json()["error"]["details"] == {"per_page": "must be an integer"}


def test_an_unknown_route_or_account_is_404_in_the_envelope(sb, account):
    response = api(sb, account, "doctors")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api(sb, "x" * 65, "leads").status_code == 404


def test_forced_errors_answer_the_next_calls_with_their_status_and_retry_after(sb, account):
    control(sb, "POST", f"/{account}/errors", json={"code": "rate_limited", "count": 2, "retry_after": 3})
    control(sb, "POST", f"/{account}/errors", json={"code": "forbidden", "message": "Ключ отозван клиникой"})
    first, second, third = (api(sb, account, "leads") for _ in range(3))
    assert [r.status_code for r in (first, second, third)] == [429, 429, 403]
    assert first.headers["Retry-After"] == "3" and first.json()["error"]["code"] == "rate_limited"
    assert third.json() == {"error": {"code": "forbidden", "message": "Ключ отозван клиникой"}}
    assert api(sb, account, "leads").status_code == 200  # spent
    assert api(sb, account, "leads", key="bad").status_code == 401  # the key check comes first
    stats = control(sb, "GET", f"/{account}/stats")
    assert stats["errors_by_code"] == {"forbidden": 1, "rate_limited": 2, "unauthorized": 1}
    with pytest.raises(requests.HTTPError):
        control(sb, "POST", f"/{account}/errors", json={"code": "teapot"})


def test_the_shared_fault_switches_apply(sb, account):
    sb.set_faults("top32", fail_next=1)
    assert api(sb, account, "me").status_code == 503 and api(sb, account, "me").status_code == 200
    sb.set_faults("top32", auth_failure=True)
    assert api(sb, account, "me").status_code == 401
    sb.reset_faults("top32")
    sb.set_faults("top32", malformed_next=1)
    with pytest.raises(ValueError):
        api(sb, account, "me").json()


# -- leads -----------------------------------------------------------------------------------------
@pytest.fixture
def seeded_account(sandbox):
    """A fixed name: its generated leads (which the statistics below look at) are the same every run."""
    yield "acc-contract-fields"
    sandbox._control("DELETE", "/top32/acc-contract-fields/state")


def test_leads_have_the_contracts_fields_in_created_then_id_order(sb, seeded_account):
    account = seeded_account
    leads = every_lead(sb, account)
    assert len(leads) == LEADS_PER_DAY * 3  # the fixture's 3 days, no live leads
    assert all(set(lead) == LEAD_KEYS for lead in leads)
    order = [(moment(lead["created_at"]), lead["id"]) for lead in leads]
    assert order == sorted(order) and len({lead["id"] for lead in leads}) == len(leads)
    now, start = sb.now(), sb.start_time  # the back catalogue is the 3 days before the clock's start
    assert start - timedelta(days=3, seconds=1) <= order[0][0] and order[-1][0] <= start
    for lead in leads:
        assert isinstance(lead["id"], int) and moment(lead["created_at"]).utcoffset() == timedelta(hours=3)
        assert moment(lead["created_at"]) <= moment(lead["updated_at"]) <= now
        assert lead["status"] in {"new", "processed", "cancelled"} and lead["source"] in {"catalog", "widget", "app"}
        assert lead["branch"] is None or set(lead["branch"]) == {"id", "name"}
    assert any(isinstance(lead["patient_phone"], int) for lead in leads)  # number-typed phones happen
    defects = control(sb, "GET", f"/{account}/defects")["defects"]
    valid = [lead for lead in leads if str(lead["id"]) not in defects]
    starts = [lead["appointment_start"] for lead in valid if lead["appointment_start"]]
    zones = [datetime.fromisoformat(start).utcoffset() for start in starts]
    assert None in zones and timedelta(hours=3) in zones  # mostly clinic local time, sometimes with an offset
    assert sum(zone is None for zone in zones) > len(zones) / 2
    assert any(lead["appointment_start"] is None and lead["doctor_surname"] is None for lead in leads)
    assert {lead["doctor_surname"] for lead in leads} >= {"Смирнова", "Ахмедов"}


def test_defects_are_listed_on_the_side_and_are_really_defective(sb, account):
    leads = {str(lead["id"]): lead for lead in every_lead(sb, account)}
    side = control(sb, "GET", f"/{account}/defects")
    defects = side["defects"]
    assert 2 <= len(defects) <= 6 and set(defects.values()) <= set(DEFECT_KINDS)
    for lead_id, kind in defects.items():
        lead = leads[lead_id]
        if kind == "phone_missing":
            assert lead["patient_phone"] in (None, "")
        elif kind == "phone_with_letters":
            assert any(ch.isalpha() for ch in lead["patient_phone"])
        else:
            with pytest.raises(ValueError):
                datetime.fromisoformat(lead["appointment_start"])
    assert side["quirks"] and not set(side["quirks"]) & set(defects)
    assert control(sb, "GET", f"/{account}/stats")["invalid_visible"] == len(defects)


def test_created_bounds_are_inclusive_and_paging_follows_the_order(sb, account):
    leads = every_lead(sb, account)
    low, high = leads[10]["created_at"], leads[30]["created_at"]
    assert every_lead(sb, account, created_from=low, created_to=high) == leads[10:31]
    pages, page = [], 1
    while True:
        body = api(sb, account, "leads", created_from=low, per_page=7, page=page).json()
        pages.append(body["data"])
        if page >= body["meta"]["total_pages"]:
            break
        page += 1
    assert [len(p) for p in pages] == [7] * 5 and body["meta"]["total"] == 35
    assert [lead for p in pages for lead in p] == leads[10:]
    beyond = api(sb, account, "leads", created_from=low, per_page=7, page=9).json()
    assert beyond["data"] == [] and beyond["meta"]["total"] == 35


def test_a_plus_sent_unencoded_is_mended_and_other_offsets_work(sb, account):
    leads = every_lead(sb, account)
    utc = moment(leads[5]["created_at"]).astimezone(ZoneInfo("UTC")).isoformat()
    assert every_lead(sb, account, created_from=utc) == leads[5:]
    raw = f"{sb.base_url}/top32/{account}/api/partner/v1/leads?per_page=100&created_from={leads[5]['created_at']}"
    answer = requests.get(raw, headers={"Authorization": f"Bearer {sb.key}"}, timeout=30)
    assert answer.status_code == 200 and answer.json()["data"] == leads[5:]


def test_updated_from_filters_on_updated_at(sb, account):
    leads = every_lead(sb, account)
    pivot = sorted(lead["updated_at"] for lead in leads)[20]
    got = every_lead(sb, account, updated_from=pivot)
    assert got and all(moment(lead["updated_at"]) >= moment(pivot) for lead in got)
    assert len(got) == sum(moment(lead["updated_at"]) >= moment(pivot) for lead in leads)


def test_injected_leads_are_served_as_is_in_order_and_forgotten_on_reset(sb, account):
    newest = every_lead(sb, account)[-1]
    stored = control(sb, "POST", f"/{account}/leads", json={"patient_phone": 79110000001, "x": [1]})["stored"]
    assert stored["created_at"] and stored["updated_at"] == stored["created_at"] and stored["id"]
    late = (moment(newest["created_at"]) - timedelta(seconds=1)).isoformat()
    control(sb, "POST", f"/{account}/leads", json={"id": "L-1", "created_at": late})
    control(sb, "POST", f"/{account}/leads", json={"id": "L-2", "created_at": "вчера"})
    future = (sb.now() + timedelta(hours=1)).isoformat()
    control(sb, "POST", f"/{account}/leads", json={"id": "L-3", "created_at": future})
    leads = every_lead(sb, account)
    assert [lead["id"] for lead in leads[-4:]] == ["L-1", newest["id"], stored["id"], "L-2"]
    assert "L-3" not in {lead["id"] for lead in leads}  # not yet created
    assert leads[-2] == stored
    assert "L-2" in {lead["id"] for lead in every_lead(sb, account, created_from=future)}  # cannot be judged
    control(sb, "DELETE", f"/{account}/state")
    assert len(every_lead(sb, account)) == LEADS_PER_DAY * 3


def test_the_same_seed_gives_the_same_leads_and_live_leads_arrive():
    start = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MSK)
    history = "2025-03-10T11:59:59+03:00"
    with SandboxServer(seed=5, days=1, live_interval=0.3, start_time=start, log_requests=False) as one:
        first = every_lead(one, "clinic", created_to=history)
        assert len(first) == LEADS_PER_DAY
        time.sleep(0.8)
        live = every_lead(one, "clinic")[len(first) :]
        assert len(live) >= 2 and all(lead["status"] == "new" for lead in live)
        assert all(moment(lead["created_at"]) >= start for lead in live)
        assert [lead["id"] for lead in live] == sorted(lead["id"] for lead in live)
    with SandboxServer(seed=5, days=1, live_interval=0, start_time=start, log_requests=False) as two:
        assert every_lead(two, "clinic", created_to=history) == first
        assert every_lead(two, "other", created_to=history) != first
