"""The clinic_http emulator over real HTTP (sandbox.testing.SandboxServer)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.demo_data import DEFECT_KINDS, LEADS_PER_DAY
from sandbox.services.clinic_http import CALL_DEFECT_KINDS
from sandbox.testing import SandboxServer

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MSK)
WEEK_FROM = "2025-03-03T00:00:00+03:00"
WEEK_TO = "2025-03-10T12:00:00+03:00"
ISO_COLON = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+03:00$")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sb():
    # A long live interval keeps this shared server's data static for the whole module.
    with SandboxServer(seed=42, start_time=START, live_interval=3600, log_requests=False) as server:
        yield server


@pytest.fixture(autouse=True)
def _healthy(request):
    yield
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").reset_faults("clinic_http")


def get(server, tenant="site", frm=WEEK_FROM, to=WEEK_TO, headers=None, **params):
    query = {"dateTimeFrom": frm, "dateTimeTo": to, **params}
    return requests.get(
        server.url(tenant), params=query, headers=server.headers if headers is None else headers, timeout=10
    )


def tickets(server, tenant="site", **kw):
    response = get(server, tenant, **kw)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def moment(ticket):
    return datetime.fromisoformat(ticket["DateAndTime"])


# -- auth and validation ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GetTickets", "GetFinishedCalls", "GetOngoingCalls"])
def test_missing_key_is_401_and_wrong_key_is_403_in_plain_text(sb, method):
    params = {"dateTimeFrom": WEEK_FROM, "dateTimeTo": WEEK_TO}
    missing = requests.get(sb.url("site", method), params=params, timeout=10)
    assert missing.status_code == 401
    assert missing.headers["content-type"].startswith("text/plain")
    assert "IDENT-Integration-Key" in missing.text

    wrong = requests.get(
        sb.url("site", method), params=params, timeout=10, headers={"IDENT-Integration-Key": sb.key + "x"}
    )
    assert wrong.status_code == 403
    assert wrong.headers["content-type"].startswith("text/plain")
    assert wrong.text.strip() and not wrong.text.lstrip().startswith(("{", "["))


@pytest.mark.parametrize(
    "params",
    [
        {"dateTimeFrom": None},
        {"dateTimeTo": None},
        {"dateTimeFrom": "yesterday"},
        {"dateTimeTo": "2025-13-45T99:00:00"},
        {"dateTimeFrom": "2025-03-10T00:00:00+03:00", "dateTimeTo": "2025-03-09T00:00:00+03:00"},
        {"limit": "1001"},
        {"limit": "0"},
        {"limit": "ten"},
        {"offset": "-1"},
    ],
)
@pytest.mark.parametrize("method", ["GetTickets", "GetFinishedCalls", "GetOngoingCalls"])
def test_bad_parameters_are_400_in_plain_text(sb, params, method):
    query = {"dateTimeFrom": WEEK_FROM, "dateTimeTo": WEEK_TO, **params}
    query = {k: v for k, v in query.items() if v is not None}
    response = requests.get(sb.url("site", method), params=query, headers=sb.headers, timeout=10)
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text.strip()


def test_limit_1000_is_accepted(sb):
    assert len(tickets(sb, limit=1000)) == 7 * LEADS_PER_DAY


# -- data, windows, paging ----------------------------------------------------------------------


def test_week_catalogue_shape(sb):
    week = tickets(sb)
    assert len(week) == 7 * LEADS_PER_DAY
    assert all(ISO_COLON.match(t["DateAndTime"]) for t in week)
    assert all(isinstance(t["Id"], str) for t in week)
    assert all(START - timedelta(days=7) <= moment(t) <= START for t in week)
    # Stable order by (DateAndTime, Id), and the uniqueness key is never repeated.
    assert week == sorted(week, key=lambda t: (moment(t), t["Id"]))
    assert len({(t["Id"], t["DateAndTime"]) for t in week}) == len(week)
    # Optional fields are sometimes omitted, and the phone sometimes arrives as a JSON number.
    for field in ("ClientEmail", "FormName", "DoctorId", "PlanStart", "Comment", "UtmSource", "HttpReferer"):
        present = sum(field in t for t in week)
        assert 0 < present < len(week), field
    assert any(isinstance(t.get("ClientPhone"), int) for t in week)
    assert all(isinstance(t["DoctorId"], int) for t in week if "DoctorId" in t)


@pytest.mark.parametrize(
    "frm,to",
    [
        ("2025-03-05T00:00:00+03:00", "2025-03-06T00:00:00+03:00"),  # colon offset, URL-encoded +
        ("2025-03-05T00:00:00+0300", "2025-03-06T00:00:00+0300"),  # offset without colon
        ("2025-03-04T21:00:00Z", "2025-03-05T21:00:00Z"),  # UTC
        ("2025-03-05T00:00:00", "2025-03-06T00:00:00"),  # no offset = sandbox timezone
    ],
)
def test_window_filtering_in_every_date_notation(sb, frm, to):
    week = tickets(sb)
    lo, hi = datetime(2025, 3, 5, tzinfo=MSK), datetime(2025, 3, 6, tzinfo=MSK)
    expected = [t for t in week if lo <= moment(t) <= hi]
    assert 25 <= len(expected) <= 55  # about LEADS_PER_DAY
    assert tickets(sb, frm=frm, to=to) == expected


def test_literal_plus_decoded_as_space_still_works(sb):
    # An unencoded "+" in the query string reaches the server as a space.
    url = f"{sb.url('site')}?dateTimeFrom=2025-03-05T00:00:00+03:00&dateTimeTo=2025-03-06T00:00:00+03:00"
    raw = requests.get(url, headers=sb.headers, timeout=10)
    assert raw.status_code == 200, raw.text
    assert raw.json() == tickets(sb, frm="2025-03-05T00:00:00+03:00", to="2025-03-06T00:00:00+03:00")


def test_window_bounds_are_inclusive(sb):
    week = tickets(sb)
    target = week[100]
    exact = tickets(sb, frm=target["DateAndTime"], to=target["DateAndTime"])
    assert exact == [t for t in week if t["DateAndTime"] == target["DateAndTime"]]
    assert target in exact


def test_future_window_is_empty_and_old_window_is_empty(sb):
    assert tickets(sb, frm="2025-03-10T12:00:01+03:00", to="2025-04-01T00:00:00+03:00") == []
    assert tickets(sb, frm="2025-01-01T00:00:00+03:00", to="2025-03-01T00:00:00+03:00") == []


def test_paging_with_limit_7_reassembles_the_unpaged_result(sb):
    frm, to = "2025-03-04T08:00:00+03:00", "2025-03-08T20:00:00+03:00"  # a window, not the whole catalogue
    full = tickets(sb, frm=frm, to=to)
    assert 7 * 20 < len(full) < 7 * LEADS_PER_DAY  # many pages, yet a real sub-window
    pages, offset = [], 0
    while True:
        page = tickets(sb, frm=frm, to=to, limit=7, offset=offset)
        pages.append(page)
        if len(page) < 7:
            break
        offset += 7
    assert all(len(p) == 7 for p in pages[:-1])
    assert len(pages[-1]) < 7
    joined = [t for p in pages for t in p]
    assert joined == full
    assert len({t["Id"] for t in joined}) == len(joined)
    assert tickets(sb, frm=frm, to=to, offset=len(full)) == []


# -- determinism --------------------------------------------------------------------------------


def test_same_seed_and_start_serve_identical_data_and_tenants_differ(sb):
    with (
        SandboxServer(seed=42, start_time=START, live_interval=3600, log_requests=False) as twin,
        SandboxServer(seed=7, start_time=START, live_interval=3600, log_requests=False) as other,
    ):
        assert twin.key != sb.key  # random per server, never a fixed literal
        assert tickets(twin) == tickets(sb)
        assert tickets(twin, "landing") == tickets(sb, "landing")
        assert tickets(other) != tickets(sb)
    site, landing = tickets(sb, "site"), tickets(sb, "landing")
    assert {t["Id"] for t in site}.isdisjoint({t["Id"] for t in landing})
    assert [t.get("ClientPhone") for t in site] != [t.get("ClientPhone") for t in landing]


# -- invalid leads ------------------------------------------------------------------------------


def _phone_digits(phone):
    return re.sub(r"\D", "", str(phone))


def _observed_defects(t):
    """Defects visible in the JSON, judged independently of the sandbox's side table."""
    found = set()
    phone = t.get("ClientPhone")
    if "ClientPhone" not in t:
        found.add("phone_missing")
    elif phone == "":
        found.add("phone_empty")
    elif isinstance(phone, str) and re.search(r"[^\d\s()+\-]", phone):
        found.add("phone_with_text")
    elif isinstance(phone, str) and phone.startswith("+8"):
        found.add("phone_plus_domestic")
    if t.get("ClientFullName") and any(t.get(k) for k in ("ClientSurname", "ClientName", "ClientPatronymic")):
        found.add("both_name_forms")
    if "PlanStart" in t and "PlanEnd" in t:
        start, end = datetime.fromisoformat(t["PlanStart"]), datetime.fromisoformat(t["PlanEnd"])
        if end < start:
            found.add("plan_end_before_start")
        elif end - start > timedelta(hours=12):
            found.add("plan_too_long")
    return found


def test_about_ten_percent_invalid_with_every_defect_kind(sb):
    week = tickets(sb)
    defects = sb.defects("site")
    assert 0.08 <= len(defects) / len(week) <= 0.12
    assert set(defects.values()) == set(DEFECT_KINDS)
    for t in week:
        intended = defects.get(t["Id"])
        assert _observed_defects(t) == ({intended} if intended else set()), t
        if not intended:
            assert len(_phone_digits(t["ClientPhone"])) in (10, 11), t
            assert t.get("ClientFullName") or t.get("ClientName"), t
    stats = sb.stats("site")
    assert stats["total_visible"] == len(week)
    assert stats["invalid_visible"] == len(defects)


# -- live leads ---------------------------------------------------------------------------------


def test_live_leads_appear_as_time_passes():
    with SandboxServer(start_time=START, days=1, live_interval=0.2, log_requests=False) as live:
        far = "2030-01-01T00:00:00+03:00"
        before = tickets(live, frm="2025-03-09T00:00:00+03:00", to=far)
        time.sleep(0.9)
        after = tickets(live, frm="2025-03-09T00:00:00+03:00", to=far)
        assert len(after) - len(before) >= 3
        assert after[: len(before)] == before  # new leads only append at the end of the ordering
        new = after[len(before) :]
        assert all(moment(t) >= START for t in new)
        assert all(int(t["Id"]) > max(int(b["Id"]) for b in before) for t in new)
        elapsed = (live.now() - START).total_seconds()
        assert len(after) - LEADS_PER_DAY <= elapsed / 0.2 + 1
        # Leads are never visible before their DateAndTime.
        assert all(moment(t) <= live.now() for t in after)
        assert tickets(live, frm="2025-03-09T00:00:00+03:00", to=WEEK_TO) == [t for t in after if moment(t) <= START]


# -- faults -------------------------------------------------------------------------------------


def test_fail_next_gives_exactly_n_503_then_200(sb):
    sb.set_faults("clinic_http", fail_next=3)
    statuses = [get(sb).status_code for _ in range(5)]
    assert statuses == [503, 503, 503, 200, 200]
    assert sb.faults()["clinic_http"]["fail_next"] == 0


def test_auth_failure_answers_401_with_a_readable_text(sb):
    sb.set_faults("clinic_http", auth_failure=True)
    response = get(sb)
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/plain")
    assert "revoked" in response.text
    assert sb.stats("site")["total_visible"] > 0  # the control API is not affected by faults
    sb.reset_faults("clinic_http")
    assert get(sb).status_code == 200


def test_malformed_bodies_are_200_but_not_json(sb):
    sb.set_faults("clinic_http", malformed_next=2)
    for _ in range(2):
        response = get(sb)
        assert response.status_code == 200
        with pytest.raises(ValueError):
            json.loads(response.text)
    assert isinstance(get(sb).json(), list)
    sb.set_faults("clinic_http", malformed_rate=1.0)
    response = get(sb)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


def test_latency_delays_answers(sb):
    sb.set_faults("clinic_http", latency_ms=300)
    started = time.monotonic()
    assert get(sb).status_code == 200
    assert time.monotonic() - started >= 0.3
    sb.reset_faults("clinic_http")
    started = time.monotonic()
    get(sb)
    assert time.monotonic() - started < 0.3


def test_error_rate_is_random_5xx_and_reproducible(sb):
    sb.set_faults("clinic_http", error_rate=1.0)
    errors = [get(sb) for _ in range(6)]
    assert {r.status_code for r in errors} <= {500, 502, 503}
    assert all(r.text.strip() for r in errors)

    def statuses(server):
        server.set_faults("clinic_http", error_rate=0.5)
        return [get(server).status_code for _ in range(30)]

    with SandboxServer(start_time=START, log_requests=False) as a:
        first = statuses(a)
    with SandboxServer(start_time=START, log_requests=False) as b:
        second = statuses(b)
    assert first == second
    assert 200 in first and any(s >= 500 for s in first)


def test_control_api_refuses_non_loopback_clients():
    from types import SimpleNamespace

    from fastapi import HTTPException

    from sandbox.context import require_loopback

    require_loopback(SimpleNamespace(client=SimpleNamespace(host="127.0.0.1")))
    require_loopback(SimpleNamespace(client=SimpleNamespace(host="::1")))
    for host in ("10.0.0.5", "testclient"):
        with pytest.raises(HTTPException) as refused:
            require_loopback(SimpleNamespace(client=SimpleNamespace(host=host)))
        assert refused.value.status_code == 403


def test_fault_control_validation(sb):
    faults_url = f"{sb.base_url}/_sandbox/faults"
    assert requests.put(f"{faults_url}/clinic_http", json={"bogus": 1}, timeout=10).status_code == 422
    assert requests.put(f"{faults_url}/clinic_http", json={"error_rate": 2}, timeout=10).status_code == 422
    assert requests.put(f"{faults_url}/nope", json={}, timeout=10).status_code == 404
    state = sb.set_faults("clinic_http", latency_ms=5, error_rate=0.25)
    assert state["latency_ms"] == 5 and state["error_rate"] == 0.25 and state["fail_next"] == 0
    assert sb.reset_faults("clinic_http")["latency_ms"] == 0
    assert {"clinic_http", "uis"} <= set(sb.health()["services"])  # and whatever else is registered


# -- control API: injected and patched tickets --------------------------------------------------


def test_injected_tickets_are_served_as_is_in_order(sb):
    tenant = "inject"
    base = tickets(sb, tenant)
    odd = {"Id": "X-1", "DateAndTime": "2025-03-06T10:00:00+03:00", "ClientPhone": "звоните после 18", "Extra": [1]}
    sb.add_ticket(tenant, odd)
    sb.add_ticket(tenant, {"Id": "X-2", "DateAndTime": "not a date", "ClientPhone": "+7 911 01 01 001"})
    sb.add_ticket(tenant, {"Id": "X-3", "DateAndTime": "2030-01-01T00:00:00+03:00", "ClientPhone": "89110010101"})
    week = tickets(sb, tenant)
    assert len(week) == len(base) + 2
    far = tickets(sb, tenant, to="2031-01-01T00:00:00+03:00")
    assert "X-3" not in {t["Id"] for t in far}  # dated in the future: not visible before its time
    assert odd in week
    assert week == sorted(week[:-1], key=lambda t: (moment(t), t["Id"])) + [week[-1]]
    assert week[-1]["Id"] == "X-2"  # unparseable date: served at the end of every window...
    assert tickets(sb, tenant, frm="2020-01-01T00:00:00+03:00", to="2020-01-02T00:00:00+03:00")[-1]["Id"] == "X-2"
    assert sb.stats(tenant)["injected"] == 3


def test_patch_changes_a_generated_lead_and_all_duplicates(sb):
    tenant = "patch"
    target = tickets(sb, tenant)[10]
    change = {"ClientEmail": "new@example.ru", "Comment": "изменено"}
    assert sb.patch_ticket(tenant, target["Id"], change) == {"patched": 1}
    changed = next(t for t in tickets(sb, tenant) if t["Id"] == target["Id"])
    assert changed == {**target, **change}

    dup = {"Id": "D-1", "DateAndTime": "2025-03-07T09:00:00+03:00", "ClientPhone": "8-911-001-0101"}
    sb.add_ticket(tenant, dup)
    sb.add_ticket(tenant, {**dup, "DateAndTime": "2025-03-07T09:30:00+03:00"})
    assert sb.patch_ticket(tenant, "D-1", {"ClientPhone": ""}) == {"patched": 2}
    assert [t["ClientPhone"] for t in tickets(sb, tenant) if t["Id"] == "D-1"] == ["", ""]
    missing = requests.patch(f"{sb.base_url}/_sandbox/clinic_http/{tenant}/tickets/nope", json={"A": 1}, timeout=10)
    assert missing.status_code == 404


def test_stats_count_requests(sb):
    tenant = "counted"
    get(sb, tenant)
    get(sb, tenant, headers={})
    stats = sb.stats(tenant)
    assert stats["requests_served"] == 2
    assert stats["requests_by_status"] == {"200": 1, "401": 1}


# -- CLI ----------------------------------------------------------------------------------------


def test_cli_generates_and_prints_a_key_once_and_never_logs_it():
    env = {k: v for k, v in os.environ.items() if k != "SANDBOX_INTEGRATION_KEY"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "--port", "0", "--days", "1"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        banner, key_line = proc.stdout.readline(), proc.stdout.readline()
        base = re.search(r"http://\S+?:\d+", banner).group(0)
        key = key_line.rsplit(" ", 1)[1].strip()
        response = requests.get(
            f"{base}/clinic_http/site/GetTickets",
            headers={"IDENT-Integration-Key": key},
            params={"dateTimeFrom": "2000-01-01T00:00:00Z", "dateTimeTo": "2100-01-01T00:00:00Z"},
            timeout=10,
        )
        assert response.status_code == 200
        assert len(response.json()) == LEADS_PER_DAY
        log_line = proc.stdout.readline()
        assert "GetTickets" in log_line and " 200 " in log_line
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=10)[0]
    assert key not in log_line + rest


# -- calls (GetFinishedCalls / GetOngoingCalls) ----------------------------------------------------

CALL_KEYS = {"DateAndTime", "Direction", "PhoneFrom", "PhoneTo", "WaitInSeconds", "TalkInSeconds", "LineDescription"}
OPTIONAL_CALL_KEYS = {"RecordUrl", "UtmSource", "UtmMedium", "UtmCampaign", "UtmTerm", "UtmContent", "HttpReferer"}


def calls(server, tenant="site", method="GetFinishedCalls", **kw):
    response = get_method(server, method, tenant, **kw)
    assert response.status_code == 200, response.text
    return response.json()


def get_method(server, method, tenant="site", frm=WEEK_FROM, to=WEEK_TO, headers=None, **params):
    query = {"dateTimeFrom": frm, "dateTimeTo": to, **params}
    return requests.get(
        server.url(tenant, method), params=query, headers=server.headers if headers is None else headers, timeout=10
    )


def _call_defects(call):
    found = set()
    if call["Direction"] not in ("in", "out"):
        found.add("direction_unknown")
    if (call["TalkInSeconds"] or 0) < 0:
        found.add("negative_talk")
    if call["WaitInSeconds"] < 0:
        found.add("negative_wait")
    return found


def test_finished_calls_are_ident_call_objects_in_order(sb):
    week = calls(sb)
    assert 7 * 20 <= len(week) <= 7 * 40  # a tenth of a UIS account's 300 a day
    assert all(CALL_KEYS <= set(c) <= CALL_KEYS | OPTIONAL_CALL_KEYS for c in week)
    assert "Id" not in {key for c in week for key in c}  # no Id field is known for IDENT's call object
    assert all(ISO_COLON.match(c["DateAndTime"]) for c in week)
    lo = datetime.fromisoformat(WEEK_FROM)
    assert week == sorted(week, key=moment) and all(lo <= moment(c) <= START for c in week)
    clean = [c for c in week if not _call_defects(c)]
    for c in clean:
        clinic, contact = (c["PhoneTo"], c["PhoneFrom"]) if c["Direction"] == "in" else (c["PhoneFrom"], c["PhoneTo"])
        assert re.fullmatch(r"\+7 495 \d{3}-\d{2}-\d{2}", clinic) and c["LineDescription"]
        assert contact is None or len(re.sub(r"\D", "", contact)) == 11
        assert moment(c) + timedelta(seconds=c["WaitInSeconds"] + (c["TalkInSeconds"] or 0)) <= START
        if c["TalkInSeconds"] is None:
            assert "RecordUrl" not in c  # a lost call has no talk and no recording
    lost = [c for c in clean if c["TalkInSeconds"] is None]
    assert 0.05 < len(lost) / len(clean) < 0.25
    assert any("RecordUrl" in c for c in clean) and any("UtmSource" in c for c in clean)
    assert {c["Direction"] for c in clean} == {"in", "out"}


def test_finished_calls_page_and_filter_like_tickets(sb):
    frm, to = "2025-03-04T08:00:00+03:00", "2025-03-08T20:00:00+03:00"
    full = calls(sb, frm=frm, to=to)
    pages, offset = [], 0
    while True:
        page = calls(sb, frm=frm, to=to, limit=7, offset=offset)
        pages.append(page)
        if len(page) < 7:
            break
        offset += 7
    assert [c for p in pages for c in p] == full and len(pages) > 5
    assert calls(sb, frm=frm, to=to, limit=1000) == full
    exact = full[3]["DateAndTime"]
    assert full[3] in calls(sb, frm=exact, to=exact)  # both bounds inclusive
    assert calls(sb, frm="2025-03-10T12:00:01+03:00", to="2025-04-01T00:00:00+03:00") == []


def test_the_same_seed_serves_the_same_calls():
    with (
        SandboxServer(seed=42, start_time=START, live_interval=3600, log_requests=False) as a,
        SandboxServer(seed=42, start_time=START, live_interval=3600, log_requests=False) as b,
    ):

        def strip(server, cs):  # the links name each server's port
            return [{**c, "RecordUrl": c.get("RecordUrl", "").removeprefix(server.base_url)} for c in cs]

        assert strip(a, calls(a)) == strip(b, calls(b))
        assert calls(a, "other") != calls(a)


def test_ongoing_calls_have_their_durations_so_far():
    with SandboxServer(seed=3, start_time=START, call_days=1, calls_per_day=20_000, live_interval=3600,
                       log_requests=False) as busy:  # fmt: skip
        frm, to = "2025-03-10T10:00:00+03:00", "2025-03-10T14:00:00+03:00"
        ongoing = calls(busy, method="GetOngoingCalls", frm=frm, to=to)
        finished = calls(busy, frm=frm, to=to)
        paged = calls(busy, method="GetOngoingCalls", frm=frm, to=to, limit=2, offset=1)
    assert len(ongoing) >= 3 and paged == ongoing[1:3]
    assert all(c not in finished for c in ongoing)
    for c in ongoing:
        elapsed = (START - moment(c)).total_seconds()
        assert 0 <= c["WaitInSeconds"] + c["TalkInSeconds"] <= elapsed + 1
        assert c["Direction"] in ("in", "out") and "RecordUrl" not in c


def test_a_few_calls_are_invalid_as_the_side_table_says(sb):
    month = calls(sb, frm="2025-02-10T00:00:00+03:00", to="2025-03-10T00:00:00+03:00")
    table = {(d["DateAndTime"], d["PhoneFrom"], d["PhoneTo"]): d["defect"] for d in sb.call_defects("site")}
    in_month = {key: kind for key, kind in table.items() if "2025-02-10" <= key[0] < "2025-03-10T00"}
    assert 0.005 <= len(in_month) / len(month) <= 0.05
    assert set(table.values()) == set(CALL_DEFECT_KINDS)
    for c in month:
        intended = table.get((c["DateAndTime"], c["PhoneFrom"], c["PhoneTo"]))
        assert _call_defects(c) == ({intended} if intended else set()), c


def test_a_record_url_plays(sb):
    call = next(c for c in calls(sb) if "RecordUrl" in c)
    assert call["RecordUrl"].startswith(f"{sb.base_url}/clinic_http/site/records/")
    played = requests.get(call["RecordUrl"], timeout=10)
    assert played.status_code == 200 and played.headers["content-type"] == "audio/mpeg"
    assert requests.get(call["RecordUrl"].replace(".mp3", "0.mp3"), timeout=10).status_code == 404


def test_injected_calls_are_served_as_is(sb):
    tenant = "inject-calls"
    raw = {"DateAndTime": "2025-03-06T10:00:00+03:00", "Direction": "inbound", "PhoneFrom": "звонок", "Extra": 1}
    sb.add_call(tenant, raw)
    sb.add_call(tenant, {"DateAndTime": "not a date", "Direction": "in"})
    week = calls(sb, tenant)
    assert raw in week and week[-1]["DateAndTime"] == "not a date"
    placed = week[:-1]
    assert placed == sorted(placed, key=moment)
    assert sb.stats(tenant)["calls_injected"] == 2 and sb.stats(tenant)["calls_visible"] > 0
