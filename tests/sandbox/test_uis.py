"""The UIS / CoMagic Data API emulator over real HTTP (sandbox.testing.SandboxServer)."""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sandbox.__main__ import parse_args
from sandbox.testing import SandboxServer

MSK = ZoneInfo("Europe/Moscow")
START = datetime(2025, 3, 10, 12, 0, 0, tzinfo=MSK)  # a Monday, midday
ACCOUNT = "clinic"
DAY = ("2025-03-05 00:00:00", "2025-03-05 23:59:59")  # a closed Wednesday
FOUR_WEEKS = ("2025-02-10 00:00:00", "2025-03-09 23:59:59")  # Monday .. Sunday
WIRE = "%Y-%m-%d %H:%M:%S"
# The ✔ (default) fields of get.calls_report in the reference, §1.3.
DEFAULT_FIELDS = {
    "id", "start_time", "finish_time", "finish_reason", "direction", "source", "is_lost", "communication_id",
    "communication_type", "cpn_region_id", "cpn_region_name", "cpn_country_id", "cpn_country_name",
    "contact_phone_number", "virtual_phone_number", "wait_duration", "total_wait_duration", "talk_duration",
    "clean_talk_duration", "total_duration", "call_records", "wav_call_records", "full_record_file_link",
}  # fmt: skip
# What UisHook asks for (plugins/ident_hooks/uis.py, CALL_FIELDS).
HOOK_FIELDS = [
    "id", "start_time", "finish_time", "finish_reason", "direction", "is_lost", "contact_phone_number",
    "virtual_phone_number", "communication_id", "wait_duration", "total_wait_duration", "talk_duration",
    "clean_talk_duration", "total_duration", "call_records", "full_record_file_link", "utm_source", "utm_medium",
    "utm_campaign", "utm_term", "utm_content", "referrer", "entrance_page", "last_answered_employee_id",
    "last_answered_employee_full_name", "scenario_id", "scenario_name", "source",
]  # fmt: skip
ALL_FIELDS = HOOK_FIELDS + ["is_transfer", "employees", "postprocess_duration", "tags"]
DEFECT_KINDS = {"negative_talk_duration", "finish_before_start", "direction_null", "finish_time_unparseable"}
AUTH_ERRORS = [
    ("access_token_invalid", -32001, "Access token is invalid"),
    ("access_token_expired", -32001, "Access token has been expired"),
    ("access_token_blocked", -32001, "Access token has been blocked"),
    ("auth_error", -32001, "Login or password is wrong"),
    ("ip_not_whitelisted", -32003, "Your IP 127.0.0.1 is not whitelisted"),
    ("forbidden", -32003, "Permission denied"),
    ("account_inactive", -32009, "Your account has been disabled, contact the support service"),
    ("internal_error", -32603, "Internal error, contact the support service"),
]


@pytest.fixture(scope="module")
def sb():
    # A long live interval keeps this shared server's data static for the whole module.
    with SandboxServer(seed=42, start_time=START, call_days=40, live_interval=3600, log_requests=False) as server:
        yield server


@pytest.fixture(autouse=True)
def _clean(request):
    yield
    if "sb" in request.fixturenames:
        server = request.getfixturevalue("sb")
        server.uis_reset(ACCOUNT)
        server.reset_faults("uis")


def post(server, body, account=ACCOUNT) -> dict:
    """A raw POST; the emulator answers every JSON-RPC outcome with HTTP 200 and a JSON object."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = requests.post(server.uis_url(account), data=data, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def result(answer: dict) -> dict:
    assert "error" not in answer, answer
    return answer["result"]


def error(answer: dict, mnemonic: str, code: int | None = None) -> dict:
    assert "result" not in answer, answer
    err = answer["error"]
    assert err["data"]["mnemonic"] == mnemonic, err
    assert set(err["data"]) == {"mnemonic", "field", "value", "params", "extended_helper", "metadata"}
    if code is not None:
        assert err["code"] == code
    return err


def report(server, frm=DAY[0], till=DAY[1], account=ACCOUNT, **params) -> dict:
    return result(server.uis_rpc(account, "get.calls_report", date_from=frm, date_till=till, **params))


def rows(server, frm=DAY[0], till=DAY[1], **params) -> list[dict]:
    return report(server, frm, till, limit=10_000, **params)["data"]


def wall(text: str) -> datetime:
    return datetime.strptime(text, WIRE).replace(tzinfo=MSK)


# -- envelope -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "mnemonic", "code", "echoed"),
    [
        (b"{not json", "parse_error", -32700, None),
        ([{"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {}}], "batch_opreations_not_supported", -32099,
         None),
        ({"jsonrpc": "2.0", "method": "get.account", "params": {}}, "notifications_not_supported", -32099, None),
        ({"jsonrpc": "1.0", "id": 5, "method": "get.account", "params": {}}, "invalid_request", -32600, 5),
        ({"id": 6, "method": "get.account", "params": {}}, "invalid_request", -32600, 6),
        ({"jsonrpc": "2.0", "id": "x", "method": "get.nothing", "params": {}}, "method_not_found", -32601, "x"),
        ({"jsonrpc": "2.0", "id": 7, "method": "get.account", "params": [1]}, "invalid_parameter_value", -32602, 7),
    ],
)  # fmt: skip
def test_envelope_errors_are_http_200_json_rpc_errors(sb, body, mnemonic, code, echoed):
    answer = post(sb, body)
    assert answer["jsonrpc"] == "2.0" and answer["id"] == echoed
    error(answer, mnemonic, code)


def test_the_request_id_is_echoed_whatever_its_type(sb):
    for request_id in ("7f3c", 42, None):
        body = {"jsonrpc": "2.0", "id": request_id, "method": "get.account", "params": {"access_token": sb.key}}
        assert post(sb, body)["id"] == request_id


@pytest.mark.parametrize("params", [{}, {"access_token": "wrong"}, {"access_token": None}])
def test_a_missing_or_wrong_token_is_access_token_invalid_and_never_echoed(sb, params):
    answer = post(sb, {"jsonrpc": "2.0", "id": 1, "method": "get.calls_report", "params": {**params, **_day()}})
    err = error(answer, "access_token_invalid", -32001)
    assert err["message"] == "Access token is invalid"
    assert err["data"]["value"] is None and "wrong" not in json.dumps(answer)
    assert set(err["data"]["metadata"]["limits"]) == {
        "day_limit", "day_remaining", "day_reset", "minute_limit", "minute_remaining", "minute_reset",
    }  # fmt: skip


def _day() -> dict:
    return {"date_from": DAY[0], "date_till": DAY[1]}


def test_get_account_names_the_account_and_its_timezone(sb):
    res = result(sb.uis_rpc(ACCOUNT, "get.account"))
    (account,) = res["data"]
    assert account["name"] == ACCOUNT and account["timezone"] == "Europe/Moscow"
    assert isinstance(account["app_id"], int)
    assert res["metadata"]["limits"]["minute_limit"] == 1000
    error(sb.uis_rpc(ACCOUNT, "get.account", page=1), "unexpected_parameters", -32602)
    other = result(sb.uis_rpc("other.clinic-2", "get.account"))["data"][0]
    assert other["name"] == "other.clinic-2" and other["app_id"] != account["app_id"]


# -- get.calls_report: fields and parameters ------------------------------------------------------


def test_without_fields_only_the_default_fields_come_back(sb):
    data = report(sb, limit=5)["data"]
    assert len(data) == 5 and all(set(row) == DEFAULT_FIELDS for row in data)


def test_fields_cut_the_row_and_an_unknown_field_is_named(sb):
    assert all(set(row) == set(ALL_FIELDS) for row in report(sb, limit=50, fields=ALL_FIELDS)["data"])
    assert [list(row) for row in report(sb, limit=2, fields=["start_time", "id"])["data"]] == [["start_time", "id"]] * 2
    err = error(sb.uis_rpc(ACCOUNT, "get.calls_report", **_day(), fields=["id", "bogus"]), "invalid_parameter_value")
    assert (err["data"]["field"], err["data"]["value"]) == ("fields", "bogus")


@pytest.mark.parametrize(
    ("change", "mnemonic", "field"),
    [
        ({"date_from": None}, "required_parameter_missed", "date_from"),
        ({"date_till": None}, "required_parameter_missed", "date_till"),
        ({"date_from": "2025-03-05T00:00:00"}, "invalid_parameter_value", "date_from"),
        ({"date_till": "2025-02-30 00:00:00"}, "invalid_parameter_value", "date_till"),
        ({"date_from": 1741122000}, "invalid_parameter_value", "date_from"),
        ({"date_from": "2025-03-06 00:00:00"}, "invalid_parameter_value", "date_from"),  # after date_till
        ({"date_from": "2024-12-05 23:59:58"}, "date_interval_limit_reached", "date_till"),
        ({"limit": 10_001}, "invalid_parameter_value", "limit"),
        ({"limit": "100"}, "invalid_parameter_value", "limit"),
        ({"offset": 100_001}, "invalid_parameter_value", "offset"),
        ({"offset": -1}, "invalid_parameter_value", "offset"),
        ({"page": 2}, "unexpected_parameters", "page"),
        ({"user_id": "me"}, "invalid_parameter_value", "user_id"),
        ({"include_ongoing_calls": "yes"}, "invalid_parameter_value", "include_ongoing_calls"),
        ({"sort": [{"field": "id", "order": "asc"}]}, "sort_prohibited", "sort.field"),
        ({"sort": [{"field": "start_time", "order": "up"}]}, "invalid_parameter_value", "sort.order"),
        ({"sort": [{"field": "colour"}]}, "unexpected_parameters", "sort.field"),
        ({"filter": {"field": "start_time", "operator": ">", "value": "x"}}, "filter_prohibited", "filter.field"),
        ({"filter": {"field": "direction", "operator": "~", "value": "in"}}, "invalid_parameter_value",
         "filter.operator"),
        ({"filter": {"field": "id", "operator": "in", "value": 5}}, "invalid_parameter_value", "filter.value"),
    ],
)  # fmt: skip
def test_every_parameter_error_names_its_field(sb, change, mnemonic, field):
    params = {**_day(), **change}
    params = {name: value for name, value in params.items() if value is not None}
    err = error(sb.uis_rpc(ACCOUNT, "get.calls_report", **params), mnemonic, -32602)
    assert err["data"]["field"] == field
    if mnemonic == "date_interval_limit_reached":
        assert err["message"] == "Max value of requested date interval is 3 months"


def test_caps_are_accepted_up_to_the_documented_maximum(sb):
    three_months = report(sb, "2025-01-05 00:00:00", "2025-04-05 00:00:00", limit=10_000, offset=100_000)
    assert three_months["data"] == [] and three_months["metadata"]["total_items"] > 0
    error(sb.uis_rpc(ACCOUNT, "get.calls_report", date_from="2025-01-05 00:00:00", date_till="2025-04-05 00:00:01"),
          "date_interval_limit_reached")  # fmt: skip
    assert report(sb, limit=0)["data"] == []


# -- get.calls_report: the selection ----------------------------------------------------------------


def test_paging_reassembles_the_window_and_total_items_counts_it(sb):
    frm, till = "2025-03-04 08:00:00", "2025-03-05 19:30:00"
    everything = rows(sb, frm, till, fields=["id", "start_time"])
    assert 400 < len(everything) < 800
    assert sb.uis_calls(ACCOUNT, wall(frm), wall(till), fields=["id", "start_time"]) == everything
    pages, offset = [], 0
    while True:
        answer = report(sb, frm, till, limit=97, offset=offset, fields=["id", "start_time"])
        assert answer["metadata"]["total_items"] == len(everything)
        pages.append(answer["data"])
        offset += 97
        if offset >= len(everything):
            break
    assert [row for page in pages for row in page] == everything
    assert all(len(page) == 97 for page in pages[:-1])
    assert report(sb, frm, till, offset=len(everything))["data"] == []
    keys = [(wall(row["start_time"]), row["id"]) for row in everything]
    assert keys == sorted(keys) and len({row["id"] for row in everything}) == len(everything)
    assert all(wall(frm) <= moment <= wall(till) for moment, _ in keys)


def test_both_dates_are_inclusive(sb):
    day = rows(sb, fields=["id", "start_time"])
    target = day[len(day) // 2]
    exact = rows(sb, target["start_time"], target["start_time"], fields=["id", "start_time"])
    assert target in exact and all(row["start_time"] == target["start_time"] for row in exact)
    after = (wall(target["start_time"]) + timedelta(seconds=1)).strftime(WIRE)
    assert target not in rows(sb, after, DAY[1], fields=["id", "start_time"])


def test_sort_by_start_time_descending_is_the_reverse_and_other_sorts_work(sb):
    fields = ["id", "start_time", "direction"]
    ascending = rows(sb, fields=fields, sort=[{"field": "start_time", "order": "asc"}])
    assert rows(sb, fields=fields, sort=[{"field": "start_time", "order": "desc"}]) == ascending[::-1]
    assert rows(sb, fields=fields) == ascending
    by_direction = rows(sb, fields=fields, sort=[{"field": "direction", "order": "desc"}])
    rank = {"out": 0, "in": 1, None: 2}
    assert [rank[row["direction"]] for row in by_direction] == sorted(rank[row["direction"]] for row in ascending)
    assert sorted(map(str, by_direction)) == sorted(map(str, ascending))


def test_filters_select_before_paging(sb):
    fields = ["id", "direction", "is_lost", "utm_source"]
    day = rows(sb, fields=fields)
    incoming = rows(sb, fields=fields, filter={"field": "direction", "operator": "=", "value": "in"})
    assert incoming == [row for row in day if row["direction"] == "in"] and 0 < len(incoming) < len(day)
    lost = report(sb, fields=fields, limit=3, filter={"field": "is_lost", "operator": "=", "value": True})
    assert lost["metadata"]["total_items"] == sum(row["is_lost"] for row in day)
    picked = [day[3]["id"], day[40]["id"]]
    assert [
        r["id"] for r in rows(sb, fields=fields, filter={"field": "id", "operator": "in", "value": picked})
    ] == picked
    yandex_out = rows(
        sb,
        fields=fields,
        filter={
            "condition": "or",
            "filters": [
                {"field": "utm_source", "operator": "=", "value": "yandex"},
                {"field": "direction", "operator": "!=", "value": "in"},
            ],
        },
    )
    assert yandex_out == [row for row in day if row["utm_source"] == "yandex" or row["direction"] != "in"]


def test_ongoing_calls_only_with_include_ongoing_calls_and_finished_later():
    busy = {"seed": 3, "call_days": 1, "calls_per_day": 3000, "live_interval": 3600, "log_requests": False}
    frm, till = (START - timedelta(hours=1)).strftime(WIRE), (START + timedelta(hours=1)).strftime(WIRE)
    with SandboxServer(start_time=START, **busy) as now_server:
        finished = rows(now_server, frm, till, fields=ALL_FIELDS)
        started = rows(now_server, frm, till, fields=ALL_FIELDS, include_ongoing_calls=True)
    ongoing = [row for row in started if row["finish_time"] is None]
    assert len(ongoing) >= 5 and len(started) == len(finished) + len(ongoing)
    assert [row for row in started if row["finish_time"] is not None] == finished
    assert all(wall(row["start_time"]) + timedelta(seconds=row["total_duration"]) <= START for row in finished)
    for row in ongoing:
        elapsed = (START - wall(row["start_time"])).total_seconds()
        assert 0 <= row["total_duration"] <= elapsed + 1
        assert row["total_wait_duration"] + row["talk_duration"] <= row["total_duration"]
        assert row["is_lost"] is False and row["call_records"] == [] and row["full_record_file_link"] is None
    with SandboxServer(start_time=START + timedelta(hours=1), **busy) as later:
        done = {row["id"]: row for row in rows(later, frm, till, fields=ALL_FIELDS)}
    for row in ongoing:
        final = done[row["id"]]  # the same call, finished an hour later
        assert final["start_time"] == row["start_time"] and final["finish_time"] is not None
        assert final["total_duration"] >= row["total_duration"]


# -- what the data looks like -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def month(sb):
    return rows(sb, *FOUR_WEEKS, fields=ALL_FIELDS)


@pytest.fixture(scope="module")
def month_defects(sb, month):
    return sb.uis_defects(ACCOUNT, date_from=FOUR_WEEKS[0], date_till=FOUR_WEEKS[1])


def test_volume_and_rhythm_of_a_moscow_clinic(month):
    per_day = Counter(row["start_time"][:10] for row in month)
    assert len(per_day) == 28 and 285 <= len(month) / 28 <= 315
    weekday = [n for d, n in per_day.items() if datetime.fromisoformat(d).weekday() < 5]
    weekend = [n for d, n in per_day.items() if datetime.fromisoformat(d).weekday() >= 5]
    assert min(weekday) > max(weekend)
    hours = Counter(int(row["start_time"][11:13]) for row in month)
    assert 0.01 * len(month) < sum(hours[h] for h in range(0, 6)) < 0.04 * len(month) < hours[11]
    ids = [row["id"] for row in month]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # unique, growing with time


def test_calls_have_consistent_realistic_fields(month, month_defects):
    clean = [row for row in month if str(row["id"]) not in month_defects]
    share = Counter(row["direction"] for row in clean)
    assert 0.75 <= share["in"] / len(clean) <= 0.85
    lost = [row for row in clean if row["is_lost"]]
    assert 0.10 <= len(lost) / len(clean) <= 0.15
    assert all(row["talk_duration"] == 0 and row["call_records"] == [] for row in lost)
    assert {row["finish_reason"] for row in lost} <= {"timeout", "subscriber_busy", "subscriber_disconnects",
                                                      "no_operation"}  # fmt: skip
    answered = [row for row in clean if not row["is_lost"]]
    assert all(15 <= row["talk_duration"] <= 900 for row in answered)
    assert max(row["talk_duration"] for row in answered) > 600  # a long tail
    for row in clean:
        assert 0 <= row["wait_duration"] <= row["total_wait_duration"] <= 60
        assert row["total_duration"] == row["total_wait_duration"] + row["talk_duration"] + row["postprocess_duration"]
        assert wall(row["finish_time"]) == wall(row["start_time"]) + timedelta(seconds=row["total_duration"])
        assert row["communication_id"] and isinstance(row["id"], int)
    with_records = [row for row in answered if row["call_records"]]
    assert len(with_records) / len(answered) > 0.85
    for row in with_records:
        assert all(re.fullmatch(r"[0-9a-f]{12}", record) for record in row["call_records"])
        assert row["full_record_file_link"].endswith(f"/talk/{row['communication_id']}/{row['call_records'][0]}/")
        assert row["last_answered_employee_full_name"]
    phones = Counter(_phone_kind(row["contact_phone_number"]) for row in clean)
    assert set(phones) == {"mobile", "8-prefixed", "spb", "moscow", "anonymous"}
    assert phones["mobile"] / len(clean) > 0.75 and 0 < phones["anonymous"] / len(clean) < 0.02
    assert len({row["virtual_phone_number"] for row in clean}) <= 6
    assert len({row["last_answered_employee_full_name"] for row in clean}) <= 16
    tracked = [row for row in clean if row["source"] in ("call_tracking", "dynamic_call_tracking")]
    assert tracked and all(row["direction"] == "in" for row in tracked)
    tags = Counter((row["utm_source"], row["utm_medium"]) for row in tracked if row["utm_source"])
    assert {("yandex", "cpc"), ("google", "cpc"), ("vk", "social")} <= set(tags)
    assert all(row["utm_source"] is None for row in clean if row["source"] in ("va", "callapi"))
    assert any(row["referrer"] for row in tracked) and any(row["entrance_page"] for row in tracked)


def _phone_kind(phone: str | None) -> str:
    if phone is None:
        return "anonymous"
    assert re.fullmatch(r"\d{11}", phone), phone
    if phone.startswith("7812"):
        return "spb"
    if phone.startswith("7495"):
        return "moscow"
    return "8-prefixed" if phone.startswith("8") else "mobile"


def _observed_defects(row: dict) -> set[str]:
    """Defects visible in the JSON, judged without the sandbox's side table."""
    found = set()
    if row["talk_duration"] < 0:
        found.add("negative_talk_duration")
    if row["direction"] is None:
        found.add("direction_null")
    try:
        finish = wall(row["finish_time"])
    except ValueError:
        found.add("finish_time_unparseable")
    else:
        if finish < wall(row["start_time"]):
            found.add("finish_before_start")
    return found


def test_about_half_a_percent_are_invalid_one_defect_each_as_the_side_table_says(month, month_defects):
    assert 0.003 <= len(month_defects) / len(month) <= 0.008
    assert set(month_defects.values()) == DEFECT_KINDS
    for row in month:
        intended = month_defects.get(str(row["id"]))
        assert _observed_defects(row) == ({intended} if intended else set()), row
        wall(row["start_time"])  # never a defect: every start_time parses (the hook relies on it)


def test_late_corrections_appear_at_three_the_next_morning():
    # Day 2025-03-05: its corrections become visible at 03:00 on 03-06.
    calm = {"seed": 42, "call_days": 3, "live_interval": 3600, "log_requests": False}
    fields = ALL_FIELDS
    before_at, after_at = datetime(2025, 3, 6, 2, 0, tzinfo=MSK), datetime(2025, 3, 6, 4, 0, tzinfo=MSK)
    with SandboxServer(start_time=before_at, **calm) as early, SandboxServer(start_time=after_at, **calm) as late:
        day_early, day_late = _hostless(early, rows(early, fields=fields)), _hostless(late, rows(late, fields=fields))
        prev = ("2025-03-04 00:00:00", "2025-03-04 23:59:59")  # corrected at 03:00 on 03-05: before both
        assert _hostless(early, rows(early, *prev, fields=fields)) == _hostless(late, rows(late, *prev, fields=fields))
        assert late.uis_stats(ACCOUNT)["corrected_visible"] > early.uis_stats(ACCOUNT)["corrected_visible"]
    assert [row["id"] for row in day_early] == [row["id"] for row in day_late]
    changed = [(a, b) for a, b in zip(day_early, day_late, strict=True) if a != b]
    assert 0.005 <= len(changed) / len(day_early) <= 0.03
    kinds = set()
    for old, new in changed:
        diff = {name for name in fields if old[name] != new[name]}
        if "call_records" in diff:
            assert old["call_records"] == [] and new["call_records"] and diff == {"call_records",
                                                                                 "full_record_file_link"}  # fmt: skip
            kinds.add("recording_added")
        elif "talk_duration" in diff:
            assert new["talk_duration"] > old["talk_duration"]
            assert diff <= {"talk_duration", "clean_talk_duration", "total_duration", "finish_time"}
            kinds.add("talk_duration_fixed")
        else:
            assert old["last_answered_employee_full_name"] is None and new["last_answered_employee_full_name"]
            kinds.add("employee_added")
    assert len(kinds) >= 2


def _hostless(server, data: list[dict]) -> list[dict]:
    """Rows without the server's address in their links, to compare two servers."""
    for row in data:
        if row.get("full_record_file_link"):
            row["full_record_file_link"] = row["full_record_file_link"].removeprefix(server.base_url)
    return data


def test_same_seed_same_calls_other_accounts_and_seeds_differ(sb):
    fields = ["id", "start_time", "contact_phone_number", "talk_duration", "call_records"]
    mine = rows(sb, fields=fields)
    with (
        SandboxServer(seed=42, start_time=START, call_days=40, live_interval=3600, log_requests=False) as twin,
        SandboxServer(seed=7, start_time=START, call_days=40, live_interval=3600, log_requests=False) as other,
    ):
        assert twin.key != sb.key
        assert rows(twin, fields=fields) == mine
        assert rows(other, fields=fields) != mine
    landing = rows(sb, account="landing", fields=fields)
    assert {row["id"] for row in mine}.isdisjoint({row["id"] for row in landing})
    assert [row["contact_phone_number"] for row in mine[:50]] != [row["contact_phone_number"] for row in landing[:50]]


def test_a_year_of_history_by_default_and_call_days_cuts_it(sb):
    with SandboxServer(seed=42, start_time=START, live_interval=3600, log_requests=False) as year:
        old = report(year, "2024-03-12 00:00:00", "2024-03-12 23:59:59", limit=0)["metadata"]["total_items"]
        older = report(year, "2024-03-08 00:00:00", "2024-03-08 23:59:59", limit=0)["metadata"]["total_items"]
    assert old > 100 and older == 0  # 365 days before 2025-03-10 is 2024-03-10
    assert report(sb, "2025-01-28 00:00:00", "2025-01-28 23:59:59", limit=0)["metadata"]["total_items"] == 0


def test_live_calls_arrive_after_start_up():
    with SandboxServer(start_time=START, call_days=1, live_interval=3600, live_call_interval=0.2,
                       log_requests=False) as live:  # fmt: skip
        history = rows(live, "2025-03-10 00:00:00", "2025-03-10 23:59:59", fields=["id", "start_time"])
        time.sleep(1.1)
        started = rows(live, "2025-03-10 00:00:00", "2025-03-10 23:59:59", fields=["id", "start_time", "finish_time"],
                       include_ongoing_calls=True)  # fmt: skip
        now = live.now()
    new = [row for row in started if wall(row["start_time"]) >= START]
    assert 3 <= len(new) <= 1.1 / 0.2 + 2
    assert all(row["id"] > max(h["id"] for h in history) for row in new)
    assert all(wall(row["start_time"]) <= now for row in new)
    assert all(wall(row["start_time"]) < START for row in history)


# -- rate limits and forced errors ------------------------------------------------------------------


def test_limits_count_down_and_limit_exceeded_until_the_window_resets(sb):
    limits = sb.uis_set_limits(ACCOUNT, minute_limit=3, minute_reset=60)
    assert limits["minute_remaining"] == 3 and 59 <= limits["minute_reset"] <= 60
    remaining = [result(sb.uis_rpc(ACCOUNT, "get.account"))["metadata"]["limits"]["minute_remaining"] for _ in "abc"]
    assert remaining == [2, 1, 0]
    error(sb.uis_rpc(ACCOUNT, "get.account", bogus=1), "limit_exceeded")  # checked before the parameters
    err = error(sb.uis_rpc(ACCOUNT, "get.calls_report", **_day()), "limit_exceeded", -32029)
    assert err["message"] == "Limit per minute has been exceeded. Value of current limit per minute is 3"
    assert err["data"]["params"]["limit_type"] == "minute"
    assert err["data"]["metadata"]["limits"]["minute_remaining"] == 0
    assert 1 <= err["data"]["metadata"]["limits"]["minute_reset"] <= 60
    assert sb.uis_stats(ACCOUNT)["errors_by_mnemonic"]["limit_exceeded"] == 2

    sb.uis_set_limits(ACCOUNT, minute_limit=1, minute_reset=1)  # the window restarts when set
    assert "result" in sb.uis_rpc(ACCOUNT, "get.account")
    error(sb.uis_rpc(ACCOUNT, "get.account"), "limit_exceeded")
    time.sleep(1.05)
    assert "result" in sb.uis_rpc(ACCOUNT, "get.account")

    sb.uis_reset(ACCOUNT)
    limits = result(sb.uis_rpc(ACCOUNT, "get.account"))["metadata"]["limits"]
    assert (limits["minute_limit"], limits["day_limit"]) == (1000, 1_000_000)


def test_only_successful_calls_spend_points_and_the_day_budget_counts_too(sb):
    sb.uis_set_limits(ACCOUNT, day_limit=2, day_reset=3600)
    before = result(sb.uis_rpc(ACCOUNT, "get.account"))["metadata"]["limits"]
    assert before["day_remaining"] == 1 and 3590 <= before["day_reset"] <= 3600
    for bad in ({"date_from": "yesterday"}, {"access_token": "wrong"}):
        answer = sb.uis_rpc(ACCOUNT, "get.calls_report", **{**_day(), **bad})
        assert answer["error"]["data"]["metadata"]["limits"]["day_remaining"] == 1
    assert result(sb.uis_rpc(ACCOUNT, "get.account"))["metadata"]["limits"]["day_remaining"] == 0
    err = error(sb.uis_rpc(ACCOUNT, "get.account"), "limit_exceeded")
    assert err["data"]["params"]["limit_type"] == "day" and "per day" in err["message"]


@pytest.mark.parametrize(("mnemonic", "code", "message"), AUTH_ERRORS)
def test_forced_errors_answer_the_next_calls_with_their_code_and_message(sb, mnemonic, code, message):
    assert sb.uis_force_error(ACCOUNT, mnemonic, count=2)["pending"] == [mnemonic, mnemonic]
    for _ in range(2):
        err = error(sb.uis_rpc(ACCOUNT, "get.account"), mnemonic, code)
        assert err["message"] == message
    assert "result" in sb.uis_rpc(ACCOUNT, "get.account")
    assert "result" in sb.uis_rpc("another", "get.account")  # per account


def test_a_forced_limit_exceeded_and_an_unknown_mnemonic(sb):
    sb.uis_force_error(ACCOUNT, "limit_exceeded")
    err = error(sb.uis_rpc(ACCOUNT, "get.account"), "limit_exceeded", -32029)
    assert err["data"]["params"] == {"limit_type": "minute", "limit_max_value": 1000}
    refused = requests.post(f"{sb.base_url}/_sandbox/uis/{ACCOUNT}/errors", json={"mnemonic": "nope"}, timeout=10)
    assert refused.status_code == 422
    bad = requests.put(f"{sb.base_url}/_sandbox/uis/{ACCOUNT}/limits", json={"minute_limit": -1}, timeout=10)
    assert bad.status_code == 422


def test_faults_apply_to_uis_as_to_every_service(sb):
    sb.set_faults("uis", fail_next=1)
    assert requests.post(sb.uis_url(), json={}, timeout=10).status_code == 503
    sb.set_faults("uis", malformed_next=1)
    response = requests.post(
        sb.uis_url(), json={"jsonrpc": "2.0", "id": 1, "method": "get.account", "params": {}}, timeout=10
    )
    assert response.status_code == 200
    with pytest.raises(ValueError):
        json.loads(response.text)


# -- control API: edits at the source -----------------------------------------------------------------


def test_a_patched_call_is_served_with_its_new_fields(sb):
    target = rows(sb, fields=HOOK_FIELDS)[10]
    assert sb.uis_patch_call(ACCOUNT, target["id"], {"talk_duration": 999, "call_records": ["beef01"]}) == {
        "patched": 1
    }
    patched = next(row for row in rows(sb, fields=HOOK_FIELDS) if row["id"] == target["id"])
    assert patched == {**target, "talk_duration": 999, "call_records": ["beef01"]}
    assert rows(sb, fields=["id"], filter={"field": "id", "operator": "=", "value": target["id"]}) == [
        {"id": target["id"]}
    ]
    missing = requests.patch(f"{sb.base_url}/_sandbox/uis/{ACCOUNT}/calls/1", json={"a": 1}, timeout=10)
    assert missing.status_code == 404


def test_a_call_moved_by_a_patch_leaves_its_window(sb):
    target = rows(sb, fields=["id", "start_time"])[5]
    sb.uis_patch_call(ACCOUNT, target["id"], {"start_time": "2025-03-06 09:00:00"})
    assert target["id"] not in {row["id"] for row in rows(sb, fields=["id"])}
    moved = rows(sb, "2025-03-06 09:00:00", "2025-03-06 09:00:00", fields=["id", "start_time"])
    assert {"id": target["id"], "start_time": "2025-03-06 09:00:00"} in moved


def test_a_deleted_call_is_gone_and_total_items_shrinks(sb):
    before = report(sb, limit=3, fields=["id"])
    victim = before["data"][1]["id"]
    assert sb.uis_delete_call(ACCOUNT, victim) == {"deleted": 1}
    after = report(sb, limit=3, fields=["id"])
    assert after["metadata"]["total_items"] == before["metadata"]["total_items"] - 1
    assert victim not in {row["id"] for row in rows(sb, fields=["id"])}
    assert requests.delete(f"{sb.base_url}/_sandbox/uis/{ACCOUNT}/calls/{victim}", timeout=10).status_code == 404
    sb.uis_reset(ACCOUNT)
    assert report(sb, limit=3, fields=["id"]) == before


def test_raw_rows_are_served_as_is_in_order_and_unparseable_ones_last(sb):
    odd = {"id": "X-1", "start_time": "2025-03-05 10:00:00", "talk_duration": -5, "extra": [1]}
    broken = {"id": 777, "start_time": "05.03.2025 10:00", "direction": "inbound"}
    sb.uis_add_call(ACCOUNT, odd)
    sb.uis_add_call(ACCOUNT, broken)
    sb.uis_add_call(ACCOUNT, {"id": 778, "start_time": "2030-01-01 00:00:00"})  # in the future: not yet visible
    day = rows(sb, fields=["id", "start_time"])
    assert odd in day and day[-1] == broken  # as-is: not cut to `fields`
    placed = day[:-1]
    assert [row["start_time"] for row in placed] == sorted(row["start_time"] for row in placed)
    assert rows(sb, "2020-01-01 00:00:00", "2020-01-01 23:59:59") == [broken]  # cannot be placed: in every window
    assert 778 not in {row.get("id") for row in rows(sb, "2029-12-31 00:00:00", "2030-01-01 00:00:00")}
    assert sb.uis_stats(ACCOUNT)["injected"] == 3
    assert sb.uis_delete_call(ACCOUNT, 777) == {"deleted": 1}
    assert broken not in rows(sb, fields=["id", "start_time"])


def test_stats_count_requests_and_calls(sb):
    account = "counted"
    sb.uis_rpc(account, "get.account")
    sb.uis_rpc(account, "get.calls_report", **_day(), limit=1)
    sb.uis_rpc(account, "get.nothing")
    stats = sb.uis_stats(account)
    assert stats["requests_served"] == 3 and stats["requests_by_status"] == {"200": 3}
    assert stats["calls_by_method"] == {"get.account": 1, "get.calls_report": 1}
    assert stats["errors_by_mnemonic"] == {"method_not_found": 1}
    assert stats["calls_visible"] > 30 * 250 and stats["calls_ongoing"] >= 0
    assert stats["invalid_visible"] == len(sb.uis_defects(account)) > 0


# -- the other methods and recordings -------------------------------------------------------------------


def test_group_employees_pages_and_cuts_fields(sb):
    everything = result(sb.uis_rpc(ACCOUNT, "get.group_employees"))
    groups = everything["data"]
    assert 5 <= len(groups) == everything["metadata"]["total_items"] <= 7
    assert {"Администраторы", "Терапия", "Ортодонтия", "Хирургия"} <= {g["name"] for g in groups}
    for group in groups:
        assert set(group) == {"id", "name", "members", "phone_numbers", "group_phone_number", "queue_enabled",
                              "channels_count"}  # fmt: skip
        assert group["members"] and all(set(m) == {"employee_id", "employee_full_name"} for m in group["members"])
        assert 1 <= group["channels_count"] <= 199 and len(group["group_phone_number"]) <= 5
    page = result(sb.uis_rpc(ACCOUNT, "get.group_employees", limit=2, offset=2, fields=["id", "name"]))
    assert page["data"] == [{"id": g["id"], "name": g["name"]} for g in groups[2:4]]
    assert page["metadata"]["total_items"] == len(groups)
    by_name = result(sb.uis_rpc(ACCOUNT, "get.group_employees", sort=[{"field": "name", "order": "desc"}]))["data"]
    assert [g["name"] for g in by_name] == sorted((g["name"] for g in groups), reverse=True)
    one = {"field": "id", "operator": "=", "value": groups[1]["id"]}
    assert result(sb.uis_rpc(ACCOUNT, "get.group_employees", filter=one))["data"] == [groups[1]]
    error(sb.uis_rpc(ACCOUNT, "get.group_employees", date_from=DAY[0]), "unexpected_parameters")
    # The people who answer calls are the account's staff.
    people = {m["employee_full_name"] for g in groups for m in g["members"]}
    answered = {row["last_answered_employee_full_name"] for row in rows(sb, fields=HOOK_FIELDS)} - {None}
    assert len(answered & people) >= 3


# -- get.offline_messages_report (site leads) ---------------------------------------------------------

WEEK = ("2025-03-03 00:00:00", "2025-03-10 12:00:00")  # the 7 days of leads before START
# The ✔ (default) fields of get.offline_messages_report in the reference (§1.4) that the emulator serves.
MESSAGE_DEFAULT_FIELDS = {
    "id", "text", "status", "form_type", "visitor_name", "visitor_phone_number", "visitor_email", "site_id",
    "campaign_id", "communication_id",
}  # fmt: skip
# What UisHook asks for (plugins/ident_hooks/uis.py, MESSAGE_FIELDS).
HOOK_MESSAGE_FIELDS = [
    "id", "date_time", "text", "status", "form_type", "form_name", "visitor_name", "visitor_phone_number",
    "visitor_email", "group_id", "group_name", "site_id", "campaign_id", "communication_id", "utm_source",
    "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "communication_page_url",
]  # fmt: skip


def messages_report(server, frm=WEEK[0], till=WEEK[1], account=ACCOUNT, **params) -> dict:
    return result(server.uis_rpc(account, "get.offline_messages_report", date_from=frm, date_till=till, **params))


def messages(server, frm=WEEK[0], till=WEEK[1], account=ACCOUNT, **params) -> list[dict]:
    return messages_report(server, frm, till, account, limit=10_000, **params)["data"]


def test_offline_messages_come_with_the_default_fields_or_those_asked_in_their_order(sb):
    default = messages_report(sb, limit=20)["data"]
    assert len(default) == 20 and all(set(row) == MESSAGE_DEFAULT_FIELDS for row in default)
    week = messages(sb, fields=HOOK_MESSAGE_FIELDS)
    assert 200 < len(week) < 400 and all(list(row) == HOOK_MESSAGE_FIELDS for row in week)
    assert [list(row) for row in messages_report(sb, limit=2, fields=["date_time", "id"])["data"]] == [
        ["date_time", "id"]
    ] * 2
    assert [row["id"] for row in week[:20]] == [row["id"] for row in default]  # the same rows, cut
    err = error(sb.uis_rpc(ACCOUNT, "get.offline_messages_report", date_from=WEEK[0], date_till=WEEK[1],
                           fields=["id", "start_time"]), "invalid_parameter_value", -32602)  # fmt: skip
    assert (err["data"]["field"], err["data"]["value"]) == ("fields", "start_time")  # a call's field, not a message's
    moments = [wall(row["date_time"]) for row in week]
    assert moments == sorted(moments) and wall(WEEK[0]) <= moments[0] and moments[-1] <= START
    assert len({row["id"] for row in week}) == len(week)
    assert {row["status"] for row in week} == {"processing", "processed", "not_processed"}
    assert all((row["form_type"], row["form_name"] is None) in {("custom", False), ("standard", True)} for row in week)
    assert all(row["communication_id"] != row["id"] and isinstance(row["communication_id"], int) for row in week)
    # The calls' include_ongoing_calls is not a parameter of this method; include_tech_offline_messages is.
    error(sb.uis_rpc(ACCOUNT, "get.offline_messages_report", date_from=WEEK[0], date_till=WEEK[1],
                     include_ongoing_calls=True), "unexpected_parameters")  # fmt: skip
    assert messages(sb, fields=["id"], include_tech_offline_messages=True) == [{"id": row["id"]} for row in week]


def test_offline_message_phones_are_numbers_when_only_digits_and_the_defects_are_as_the_side_table_says(sb):
    week = {str(row["id"]): row["visitor_phone_number"] for row in messages(sb, fields=["id", "visitor_phone_number"])}
    numbers = [phone for phone in week.values() if isinstance(phone, int)]
    texts = [phone for phone in week.values() if isinstance(phone, str)]
    assert len(numbers) > 20 and len(texts) > 20  # the reference's type (number), and as typed
    assert all(len(str(phone)) == 11 and str(phone)[0] in "78" for phone in numbers)
    assert not any(phone.isdigit() for phone in texts)  # a phone of digits only always comes as a number
    assert all(not isinstance(phone, bool) for phone in numbers)
    defects = sb._control("GET", f"/uis/{ACCOUNT}/offline_message_defects")["defects"]
    assert set(defects.values()) == {"phone_missing", "phone_empty", "phone_with_text", "phone_plus_domestic"}
    assert set(defects) <= set(week) and 0.03 < len(defects) / len(week) < 0.1
    for message_id, defect in defects.items():
        phone = week[message_id]
        if defect == "phone_missing":
            assert phone is None
        elif defect == "phone_empty":
            assert phone == ""
        elif defect == "phone_with_text":
            assert isinstance(phone, str) and re.search(r"[а-яё]", phone)
        else:
            assert isinstance(phone, str) and phone.startswith("+8")
    assert None not in (week[key] for key in set(week) - set(defects))


@pytest.mark.parametrize(
    ("change", "mnemonic", "field"),
    [
        ({"date_from": None}, "required_parameter_missed", "date_from"),
        ({"date_till": None}, "required_parameter_missed", "date_till"),
        ({"date_till": "2025-03-10T12:00:00"}, "invalid_parameter_value", "date_till"),
        ({"date_from": "2025-03-11 00:00:00"}, "invalid_parameter_value", "date_from"),  # after date_till
        ({"date_from": "2024-12-10 11:59:59"}, "date_interval_limit_reached", "date_till"),  # 3 months and 1 s
        ({"limit": 10_001}, "invalid_parameter_value", "limit"),
        ({"limit": -1}, "invalid_parameter_value", "limit"),
        ({"offset": 100_001}, "invalid_parameter_value", "offset"),
        ({"offset": "0"}, "invalid_parameter_value", "offset"),
        ({"sort": [{"field": "visitor_name"}]}, "sort_prohibited", "sort.field"),
        ({"filter": {"field": "visitor_phone_number", "operator": "=", "value": 1}}, "filter_prohibited",
         "filter.field"),
    ],
)  # fmt: skip
def test_offline_messages_parameter_errors_and_caps_name_their_field(sb, change, mnemonic, field):
    params = {"date_from": WEEK[0], "date_till": WEEK[1], **change}
    params = {name: value for name, value in params.items() if value is not None}
    err = error(sb.uis_rpc(ACCOUNT, "get.offline_messages_report", **params), mnemonic, -32602)
    assert err["data"]["field"] == field
    if mnemonic == "date_interval_limit_reached":
        assert err["message"] == "Max value of requested date interval is 3 months"


def test_offline_messages_caps_are_accepted_up_to_the_maximum_and_pages_reassemble_the_window(sb):
    three_months = messages_report(sb, "2024-12-10 12:00:00", WEEK[1], limit=10_000, offset=100_000)
    assert three_months["data"] == [] and three_months["metadata"]["total_items"] > 200
    week = messages(sb, fields=["id", "date_time"])
    assert three_months["metadata"]["total_items"] == len(week)  # nothing older than the generated week
    assert messages_report(sb, fields=["id"])["metadata"]["total_items"] == len(week)
    assert len(messages_report(sb, fields=["id"])["data"]) == min(1000, len(week))  # the default limit
    pages, offset = [], 0
    while offset < len(week):
        answer = messages_report(sb, limit=37, offset=offset, fields=["id", "date_time"])
        assert answer["metadata"]["total_items"] == len(week)
        pages.append(answer["data"])
        offset += 37
    assert [row for page in pages for row in page] == week and all(len(page) == 37 for page in pages[:-1])
    assert messages_report(sb, offset=len(week))["data"] == []
    assert messages_report(sb, limit=0)["data"] == []
    # Both dates inclusive, as for calls.
    target = week[len(week) // 2]
    assert target in messages(sb, target["date_time"], target["date_time"], fields=["id", "date_time"])
    after = (wall(target["date_time"]) + timedelta(seconds=1)).strftime(WIRE)
    assert target not in messages(sb, after, WEEK[1], fields=["id", "date_time"])
    newest_first = messages(sb, fields=["id", "date_time"], sort=[{"field": "date_time", "order": "desc"}])
    assert [row["date_time"] for row in newest_first] == sorted((row["date_time"] for row in week), reverse=True)


def test_offline_message_groups_are_the_accounts_employee_groups(sb):
    groups = {g["id"]: g["name"] for g in result(sb.uis_rpc(ACCOUNT, "get.group_employees"))["data"]}
    week = messages(sb, fields=["id", "group_id", "group_name"])
    assert {(row["group_id"], row["group_name"]) for row in week} == set(groups.items())  # each group chosen
    chosen = week[0]["group_name"]
    one_group = {"field": "group_name", "operator": "=", "value": chosen}
    by_name = messages(sb, fields=["id", "group_name"], filter=one_group)
    assert by_name == [{"id": row["id"], "group_name": chosen} for row in week if row["group_name"] == chosen]
    other = {g["id"]: g["name"] for g in result(sb.uis_rpc("landing", "get.group_employees"))["data"]}
    assert set(other).isdisjoint(groups)  # another account has groups of its own, and its leads choose those
    landing = messages(sb, account="landing", fields=["group_id", "group_name"])
    assert {(row["group_id"], row["group_name"]) for row in landing} <= set(other.items())


def test_an_injected_offline_message_is_served_as_is_in_date_order_until_the_state_is_reset(sb):
    row = {"id": 990_000_001, "date_time": "2025-03-05 10:00:00", "visitor_phone_number": None, "odd": [1]}
    stored = sb._control("POST", f"/uis/{ACCOUNT}/offline_messages", json=row)
    assert stored == {"stored": row, "injected_total": 1}
    week = messages(sb, fields=["id", "date_time"])
    assert row in week  # as-is: not cut to the fields asked
    assert [r["date_time"] for r in week] == sorted(r["date_time"] for r in week)
    assert row not in messages(sb, "2025-03-05 10:00:01", WEEK[1], fields=["id"])
    sb.uis_reset(ACCOUNT)
    assert row not in messages(sb, fields=["id", "date_time"])


def test_live_offline_messages_arrive_while_the_sandbox_runs():
    frm, till = "2025-03-09 00:00:00", "2025-03-10 23:59:59"
    with SandboxServer(start_time=START, days=1, call_days=1, live_interval=0.2, log_requests=False) as live:
        history = messages(live, frm, till, fields=["id", "date_time"])
        time.sleep(1.1)
        later = messages(live, frm, till, fields=["id", "date_time", "visitor_phone_number"])
        now = live.now()
        groups = {(g["id"], g["name"]) for g in result(live.uis_rpc(ACCOUNT, "get.group_employees"))["data"]}
        picked = messages(live, frm, till, fields=["group_id", "group_name"])
    chosen = {(row["group_id"], row["group_name"]) for row in picked}
    assert sum(wall(row["date_time"]) < START for row in history) > 20  # a day of leads before start-up
    assert [{"id": row["id"], "date_time": row["date_time"]} for row in later[: len(history)]] == history
    new = later[len(history) :]  # what arrived while the test slept: after the history, in the same order
    assert 3 <= len(new) <= 1.1 / 0.2 + 2
    assert all(START <= wall(row["date_time"]) <= now for row in new)
    assert all(row["id"] > max(h["id"] for h in history) for row in new)
    assert chosen <= groups


def test_a_recording_link_plays_and_an_unknown_one_is_404(sb):
    row = next(row for row in rows(sb, fields=HOOK_FIELDS) if row["call_records"])
    played = requests.get(row["full_record_file_link"], timeout=10)
    assert played.status_code == 200 and played.headers["content-type"] == "audio/mpeg" and played.content
    assert row["full_record_file_link"].startswith(f"{sb.base_url}/uis/{ACCOUNT}/system/media/talk/")
    # The link UisHook.record_url builds for a non-dataapi host.
    link = f"{sb.base_url}/uis/{ACCOUNT}/system/media/talk/{row['communication_id']}/{row['call_records'][0]}/"
    assert requests.get(link, timeout=10).status_code == 200
    for comm, record in ((row["communication_id"], "ffffffffffff"), (1, row["call_records"][0])):
        assert (
            requests.get(f"{sb.base_url}/uis/{ACCOUNT}/system/media/talk/{comm}/{record}/", timeout=10).status_code
            == 404
        )


def test_the_account_timezone_is_the_sandbox_timezone():
    ekb = ZoneInfo("Asia/Yekaterinburg")
    with SandboxServer(timezone="Asia/Yekaterinburg", start_time=START.astimezone(ekb), call_days=2,
                       live_interval=3600, log_requests=False) as server:  # fmt: skip
        assert result(server.uis_rpc(ACCOUNT, "get.account"))["data"][0]["timezone"] == "Asia/Yekaterinburg"
        day = rows(server, "2025-03-09 00:00:00", "2025-03-09 23:59:59", fields=["start_time"])
    starts = [datetime.strptime(row["start_time"], WIRE) for row in day]
    assert starts and all(s.date().isoformat() == "2025-03-09" for s in starts)
    assert Counter(s.hour for s in starts)[12] > Counter(s.hour for s in starts)[3]  # local clinic hours


def test_cli_flags_for_calls():
    args = parse_args(["--call-days", "30", "--calls-per-day", "50", "--live-call-interval", "0"])
    assert (args.call_days, args.calls_per_day, args.live_call_interval) == (30, 50, 0)
    defaults = parse_args([])
    assert (defaults.call_days, defaults.calls_per_day, defaults.live_call_interval) == (365, 300, 90)
