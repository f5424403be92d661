"""The Flexbe legacy-API emulator over real HTTP (the shared ``sandbox`` fixture; a fresh site per test)."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.services.flexbe import DEFECT_KINDS, LEADS_PER_DAY, MAX_COUNT
from sandbox.testing import SandboxServer

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MSK)
LEAD_KEYS = {"id", "num", "time", "status", "client", "note", "form_name", "form_data", "products", "page", "utm"}
UTM_KEYS = {"ip", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "url", "ym_client_id",
            "ga_client_id"}  # fmt: skip


@pytest.fixture
def sb(sandbox):
    yield sandbox
    sandbox.reset_faults("flexbe")


@pytest.fixture
def site():
    return f"site-{uuid.uuid4().hex[:8]}"


def api_url(server, site: str) -> str:
    return f"{server.base_url}/flexbe/{site}/mod/api/"


def control(server, method: str, path: str, **kwargs):
    return server._control(method, f"/flexbe{path}", **kwargs)


def call(server, site: str, method: str, *, key: str | None = None, how: str = "get", **params) -> dict:
    """One API call; every outcome is HTTP 200 JSON."""
    query = {"api_key": server.key if key is None else key, "method": method, **params}
    if how == "get":
        response = requests.get(api_url(server, site), params=query, timeout=30)
    elif how == "form":
        response = requests.post(api_url(server, site), data=query, timeout=30)
    else:  # key and method in the query string, the rest as a form (the PHP client's way)
        head = {k: query.pop(k) for k in ("api_key", "method")}
        response = requests.post(api_url(server, site), params=head, data=query, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def leads(server, site: str, **params) -> dict:
    """``data.leads`` of one getLeads call (an object keyed by id, or [] when empty)."""
    answer = call(server, site, "getLeads", **params)
    assert answer["status"] == 1, answer
    return answer["data"]["leads"]


def every_lead(server, site: str, **params) -> list[dict]:
    served = leads(server, site, count=MAX_COUNT, **params)
    return list(served.values()) if served else []


def seconds(lead: dict) -> int:
    return int(lead["time"])


def phones(lead: dict) -> list[str]:
    client = lead["client"] if isinstance(lead["client"], dict) else {}
    form = lead["form_data"] if isinstance(lead["form_data"], dict) else {}
    found = [client.get("phone", "")] + [f["value"] for f in form.values() if f["type"] == "phone"]
    return [p for p in found if p]


# -- transport and errors ----------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["get", "form", "mixed"])
def test_check_connection_in_query_form_or_both(sb, site, how):
    assert call(sb, site, "checkConnection", how=how) == {"status": 1}


def test_the_path_without_its_trailing_slash_works_too(sb, site):
    response = requests.get(api_url(sb, site).rstrip("/"), params={"api_key": sb.key, "method": "checkConnection"})
    assert response.status_code == 200 and response.json() == {"status": 1}


def test_a_form_body_wins_over_the_query_string(sb, site):
    response = requests.post(
        api_url(sb, site), params={"api_key": "wrong", "method": "nope"}, data={"api_key": sb.key, "method": "getLeads"}
    )
    assert response.json()["status"] == 1


@pytest.mark.parametrize("key", ["", "wrong-key"])
def test_a_bad_or_missing_key_is_error_0_with_http_200(sb, site, key):
    assert call(sb, site, "getLeads", key=key) == {"error": {"code": 0, "msg": "Invalid API key"}}
    response = requests.get(api_url(sb, site), params={"method": "checkConnection"})
    assert response.status_code == 200 and response.json()["error"]["code"] == 0


def test_an_unknown_method_is_error_2(sb, site):
    assert call(sb, site, "getDeals") == {"error": {"code": 2, "msg": "Unknown method"}}
    assert call(sb, site, "")["error"]["code"] == 2


def test_an_impossible_site_name_is_404(sb):
    assert requests.get(f"{sb.base_url}/flexbe/{'x' * 65}/mod/api/", timeout=10).status_code == 404


# -- getLeads --------------------------------------------------------------------------------------
def test_leads_are_an_object_keyed_by_id_in_time_then_id_order(sb, site):
    served = leads(sb, site, count=MAX_COUNT)
    assert isinstance(served, dict) and len(served) == LEADS_PER_DAY * 3  # the fixture's 3 days, no live leads
    assert all(key == str(lead["id"]) for key, lead in served.items())
    order = [(seconds(lead), lead["id"]) for lead in served.values()]
    assert order == sorted(order) and len({lead["id"] for lead in served.values()}) == len(served)
    start = sb.start_time.timestamp()  # the back catalogue is the 3 days before the clock's start
    assert start - 3 * 86_400 - 1 <= order[0][0] and order[-1][0] <= start
    nums = [lead["num"] for lead in served.values()]
    assert nums == sorted(nums) and len(set(nums)) == len(nums)


def test_a_lead_has_the_fields_of_the_reference(sb, site):
    everything = every_lead(sb, site)
    for lead in everything:
        assert LEAD_KEYS <= set(lead) <= LEAD_KEYS | {"pay"}
        assert isinstance(lead["id"], int) and isinstance(lead["time"], int | str)
        assert set(lead["status"]) == {"code", "name"} and lead["status"]["code"] in (0, 1, 2, 10)
        assert lead["client"] == [] or set(lead["client"]) == {"name", "phone", "email"}
        assert set(lead["page"]) == {"url", "name"} and set(lead["utm"]) == UTM_KEYS
        assert lead["utm"]["url"].startswith("https://") and lead["products"] == []
        for field_id, item in (lead["form_data"] or {}).items():
            assert set(item) == {"id", "name", "type", "value"} and item["id"] == field_id
            assert item["type"] in {"name", "phone", "email", "textarea", "text", "select", "checkbox"}
    forms = {lead["form_name"] for lead in everything}
    assert 3 <= len(forms) <= 4
    names = {item["name"] for lead in everything for item in (lead["form_data"] or {}).values()}
    assert {"Удобное время для звонка", "Услуга", "Имя", "Телефон"} <= names
    custom = [item for lead in everything for item in (lead["form_data"] or {}).values() if item["name"] == "Услуга"]
    assert custom and all(item["type"] == "select" for item in custom)
    assert any(lead["utm"]["utm_source"] for lead in everything)
    assert any(lead["client"] and lead["client"]["email"] for lead in everything)
    assert any(isinstance(lead["time"], str) for lead in everything)
    assert sum(isinstance(lead["time"], int) for lead in everything) > len(everything) / 2
    masked = [p for lead in everything for p in phones(lead) if re.fullmatch(r"\+7 \(\d{3}\) \d{3}-\d{2}-\d{2}", p)]
    assert len(masked) > len(everything)  # mostly the landing's mask (client and form field alike)


def test_start_and_count_slice_the_same_order(sb, site):
    everything = [lead["id"] for lead in every_lead(sb, site)]
    paged, start = [], 0
    while True:
        page = leads(sb, site, start=start, count=7)
        paged += [lead["id"] for lead in (page.values() if page else [])]
        if len(page) < 7:
            break
        start += 7
    assert paged == everything
    assert leads(sb, site, start=len(everything)) == []  # empty: PHP's [] rather than {}
    assert len(leads(sb, site)) == 90  # default count 100: all 90


def test_a_count_above_the_cap_is_clamped():
    with SandboxServer(start_time=START, days=20, live_interval=0, log_requests=False) as server:
        assert len(leads(server, "big", count=2000)) == MAX_COUNT == 500
        assert len(leads(server, "big", start=500, count=2000)) == 20 * LEADS_PER_DAY - 500
        assert len(leads(server, "big", count="abc")) == 100  # unreadable: PHP intval 0 -> the default


def test_date_from_is_an_inclusive_lower_bound_on_time(sb, site):
    everything = every_lead(sb, site)
    pivot = everything[40]
    after = every_lead(sb, site, date_from=seconds(pivot))
    assert after == [lead for lead in everything if seconds(lead) >= seconds(pivot)]
    assert after[0]["id"] == pivot["id"]
    assert every_lead(sb, site, date_from=seconds(pivot) + 1)[0]["id"] == everything[41]["id"]
    assert leads(sb, site, date_from=int(sb.now().timestamp()) + 3600) == []


def test_status_and_id_filters_and_change_lead(sb, site):
    everything = every_lead(sb, site)
    target = next(lead for lead in everything if lead["status"]["code"] == 0)
    assert every_lead(sb, site, id=target["id"]) == [target]
    assert every_lead(sb, site, id=1) == []
    new = every_lead(sb, site, status=0)
    assert new == [lead for lead in everything if lead["status"]["code"] == 0]
    changed = call(sb, site, "changeLead", id=target["id"], status=2, how="form")
    assert changed["status"] == 1 and changed["data"]["lead"]["status"] == {"code": 2, "name": "Выполнена"}
    assert target["id"] not in {lead["id"] for lead in every_lead(sb, site, status=0)}
    assert every_lead(sb, site, id=target["id"])[0]["status"]["code"] == 2
    assert call(sb, site, "changeLead", id=123, status=1)["error"]["code"] == 3
    control(sb, "DELETE", f"/{site}/state")
    assert every_lead(sb, site, id=target["id"]) == [target]


def test_about_8_percent_are_invalid_as_the_side_table_says(sb, site):
    everything = {str(lead["id"]): lead for lead in every_lead(sb, site)}
    table = control(sb, "GET", f"/{site}/defects")
    defects = table["defects"]
    assert set(defects) <= set(everything) and set(defects.values()) == set(DEFECT_KINDS)
    assert 0.06 <= len(defects) / len(everything) <= 0.10
    for lead_id, lead in everything.items():
        kind = defects.get(lead_id)
        if kind in ("phone_missing", "client_empty"):
            assert phones(lead) == []
        elif kind == "phone_with_letters":
            assert phones(lead) and all(re.search(r"[A-Za-zА-Яа-яЁё]", p) for p in phones(lead))
        else:
            assert phones(lead) and all(re.fullmatch(r"[\d+() -]{10,20}", p) for p in phones(lead)), lead
        if kind == "client_empty":
            assert lead["client"] in ([], {"name": "", "phone": "", "email": ""})
    quirks = table["quirks"]
    for lead_id, kinds in quirks.items():
        if "time_as_string" in kinds:
            assert isinstance(everything[lead_id]["time"], str)
        if "phone_only_in_form_data" in kinds:
            assert everything[lead_id]["client"]["phone"] == "" and phones(everything[lead_id])
    strings = {i for i, lead in everything.items() if isinstance(lead["time"], str)}
    assert strings == {i for i, kinds in quirks.items() if "time_as_string" in kinds}


def test_same_seed_same_leads_other_sites_and_seeds_differ():
    kwargs = {"start_time": START, "days": 2, "live_interval": 0, "log_requests": False}
    with SandboxServer(seed=3, **kwargs) as one, SandboxServer(seed=3, **kwargs) as twin:
        with SandboxServer(seed=4, **kwargs) as other:
            mine = every_lead(one, "clinic-promo.ru")
            assert every_lead(twin, "clinic-promo.ru") == mine
            assert every_lead(other, "clinic-promo.ru") != mine
            landing = every_lead(one, "implant-landing")
    assert {lead["id"] for lead in mine}.isdisjoint({lead["id"] for lead in landing})
    assert [lead["client"] for lead in mine[:20]] != [lead["client"] for lead in landing[:20]]
    assert all(lead["page"]["url"].startswith("clinic-promo.ru") for lead in mine)


def test_live_leads_arrive_after_start_up():
    with SandboxServer(start_time=START, days=1, live_interval=0.2, log_requests=False) as live:
        before = every_lead(live, "site")
        time.sleep(1.1)
        after = every_lead(live, "site")
        now = live.now().timestamp()
    new = after[len(before) :]
    assert after[: len(before)] == before and 3 <= len(new) <= 1.1 / 0.2 + 2
    assert all(lead["status"]["code"] == 0 and seconds(lead) <= now for lead in new)
    assert min(lead["id"] for lead in new) > max(lead["id"] for lead in before)


# -- control API -------------------------------------------------------------------------------------
def test_a_raw_lead_is_served_as_is_in_time_order_and_unplaceable_ones_last(sb, site):
    everything = every_lead(sb, site)
    odd = {"id": "X-1", "time": str(seconds(everything[10])), "client": {"phone": "нет"}, "extra": [1]}
    broken = {"id": 5, "time": "вчера", "form_data": []}
    future = {"id": 6, "time": int(sb.now().timestamp()) + 3600}
    for lead in (odd, broken, future):
        assert control(sb, "POST", f"/{site}/leads", json=lead)["stored"] == lead
    served = every_lead(sb, site)
    assert served[11] == odd and served[-1] == broken and future not in served
    assert every_lead(sb, site, date_from=seconds(everything[-1]) + 1) == [broken]  # cannot be judged: kept
    assert every_lead(sb, site, id="X-1") == [odd]
    assert control(sb, "GET", f"/{site}/stats")["injected"] == 3
    control(sb, "DELETE", f"/{site}/state")
    assert every_lead(sb, site) == everything


def test_a_switchable_request_limit_answers_error_1(sb, site):
    assert control(sb, "PUT", f"/{site}/limit", json={"per_minute": 2})["window_seconds"] == 60
    assert call(sb, site, "checkConnection") == {"status": 1}
    assert call(sb, site, "checkConnection") == {"status": 1}
    assert call(sb, site, "getLeads") == {"error": {"code": 1, "msg": "Request limit exceeded"}}
    assert call(sb, "another-" + site, "checkConnection") == {"status": 1}  # per site
    control(sb, "PUT", f"/{site}/limit", json={"per_minute": 1, "window_seconds": 0.3})  # restarts the window
    call(sb, site, "checkConnection")
    deadline = time.monotonic() + 5
    while "error" in call(sb, site, "checkConnection"):  # the window resets
        assert time.monotonic() < deadline
        time.sleep(0.1)
    control(sb, "PUT", f"/{site}/limit", json={"per_minute": None})
    assert all(call(sb, site, "checkConnection") == {"status": 1} for _ in range(5))
    bad = requests.put(f"{sb.base_url}/_sandbox/flexbe/{site}/limit", json={"per_minute": -1}, timeout=10)
    assert bad.status_code == 422
    stats = control(sb, "GET", f"/{site}/stats")
    assert stats["errors_by_code"]["1"] >= 1 and stats["calls_by_method"]["checkConnection"] >= 8


def test_faults_apply_to_flexbe_as_to_every_service(sb, site):
    sb.set_faults("flexbe", fail_next=1)
    assert requests.get(api_url(sb, site), timeout=10).status_code == 503
    sb.set_faults("flexbe", malformed_next=1)
    response = requests.get(api_url(sb, site), params={"api_key": sb.key, "method": "getLeads"}, timeout=10)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)
    sb.set_faults("flexbe", auth_failure=True)
    assert requests.get(api_url(sb, site), timeout=10).status_code == 401


def test_the_key_is_never_in_the_request_log(capfd):
    with SandboxServer(start_time=START, days=1, live_interval=0) as server:
        call(server, "site", "checkConnection")
        call(server, "site", "checkConnection", how="form")
    out, _ = capfd.readouterr()
    assert "/flexbe/site/mod/api/" in out and server.key not in out


def test_stats_count_leads_and_requests(sb, site):
    call(sb, site, "getLeads", count=1)
    call(sb, site, "getLeads", key="bad")
    stats = control(sb, "GET", f"/{site}/stats")
    defects = control(sb, "GET", f"/{site}/defects")["defects"]
    assert stats["leads_visible"] == 90 and stats["invalid_visible"] == len(defects)
    assert stats["requests_by_status"] == {"200": 2} and stats["errors_by_code"] == {"0": 1}
    assert stats["now"].startswith(str((sb.now() - timedelta(seconds=5)).year))
