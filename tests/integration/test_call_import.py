"""import_calls and the cache check end to end below Airflow's scheduler: the sandbox's UIS emulator
over HTTP → validation → a real IDENT database (MariaDB; SQLite, the demo's, for the first run)."""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ident_hooks.exchange import ServiceAuthError
from ident_hooks.uis import UisHook
from ident_integrations.cache_check import run_check
from ident_integrations.capabilities.calls import check_calls, import_calls
from ident_integrations.config import parse_config
from tests.helpers import as_utc, connection_json, query, uis_call_ids


@pytest.fixture
def account(sandbox, monkeypatch):
    """A UIS account no other test used (its calls untouched), and connection ``uis_t`` to it."""
    name = f"a{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/uis/{name}/v2.0"
    monkeypatch.setenv("AIRFLOW_CONN_UIS_T", connection_json(conn_type="ident_uis", host=host, password=sandbox.key))
    yield name
    sandbox._control("DELETE", f"/uis/{name}/state")
    sandbox.reset_faults("uis")


def settings_for(**calls):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [{"name": "tel", "service": "uis", "conn_id": "uis_t", "calls": calls}],
        },
        "test",
    )
    return config.resolve("tel", "calls")


def midnight(days_ago: int, settings) -> datetime:
    today = datetime.now(settings.tz).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def defects(sandbox, account: str, start: datetime, end: datetime | None = None) -> dict[str, str]:
    """Call id -> the defect the sandbox planted, for the calls started in [start, end or now]."""
    window = {"date_from": start.strftime("%Y-%m-%d %H:%M:%S")}
    if end is not None:
        window["date_till"] = (end - timedelta(seconds=1)).strftime("%Y-%m-%d %H:%M:%S")
    return sandbox._control("GET", f"/uis/{account}/defects", params=window)["defects"]


def stored_ids(conn, start: datetime | None = None, end: datetime | None = None) -> set[str]:
    sql, params = "SELECT external_id FROM ident_calls", ()
    if start is not None:
        sql += " WHERE started_at >= %s AND started_at < %s"
        params = tuple(moment.astimezone(UTC).replace(tzinfo=None) for moment in (start, end))
    return {row[0] for row in query(conn, sql, params)}


def call_row(conn, external_id: str) -> dict:
    conn.commit()  # a fresh snapshot (MariaDB's repeatable read)
    cur = conn.cursor()
    cur.execute("SELECT * FROM ident_calls WHERE external_id = %s", (external_id,))
    names = [column[0] for column in cur.description]
    row = cur.fetchone()
    cur.close()
    return dict(zip(names, row, strict=True))


def test_first_run_loads_from_the_start_date_in_chunks_and_pages(sandbox, account, ident_mysql, caplog):
    caplog.set_level(logging.INFO)
    settings = settings_for(start_date=str(midnight(3, settings_for()).date()), max_report_days=1, page_limit=200)
    start = midnight(3, settings)

    result = import_calls(settings)

    expected = uis_call_ids(sandbox, account, start, datetime.now(UTC) - timedelta(hours=1))
    bad = set(defects(sandbox, account, start))
    loaded = stored_ids(ident_mysql)
    assert len(expected) > 3 * 150
    assert expected - bad <= loaded and not loaded & bad and result.new == len(loaded)
    assert not stored_ids(ident_mysql, start - timedelta(days=30), start)  # nothing before the start date
    # one log line per chunk: four clinic days (three closed and today), with rows so far, rate and ETA
    chunk_line = r"Chunk (\d) of (\d) \((\S+) \d\d:\d\d \.\. \S+ \S+\): (\d+) rows so far, \d+ rows/s, ETA"
    chunk_lines = re.findall(chunk_line, caplog.text)
    assert [(n, of) for n, of, *_ in chunk_lines] == [("1", "4"), ("2", "4"), ("3", "4"), ("4", "4")]
    assert chunk_lines[0][2] == str(start.date()) and int(chunk_lines[-1][3]) == result.fetched
    # pages of 200 (offsets 0, 200, …) within each one-day chunk, the token nowhere
    urls = [row[0] for row in query(ident_mysql, "SELECT url FROM ident_exchange_log WHERE url LIKE %s", ("%calls_%",))]
    assert {"offset=0", "offset=200"} <= {re.search(r"offset=\d+", url).group() for url in urls}
    assert all("limit=200" in url for url in urls)
    logged = json.dumps(query(ident_mysql, "SELECT * FROM ident_exchange_log"), default=str) + caplog.text
    assert sandbox.key not in logged and "access_token" not in logged
    # the watermark is the newest call; the window is where the next run goes on from
    watermark, window_end = query(ident_mysql, "SELECT watermark, last_window_end FROM ident_sync_state")[0]
    newest = query(ident_mysql, "SELECT MAX(started_at) FROM ident_calls")[0][0]
    assert as_utc(watermark) == as_utc(newest) and as_utc(window_end) > datetime.now(UTC) - timedelta(minutes=5)


def text_or_none(value):
    return None if value is None else str(value)


def test_every_field_of_a_call_is_stored(sandbox, account, ident_mysql):
    settings = settings_for(start_date=str(midnight(2, settings_for()).date()))
    import_calls(settings)
    raw_rows = query(ident_mysql, "SELECT external_id, raw_payload FROM ident_calls")
    answered = next(json.loads(raw) for _, raw in raw_rows if json.loads(raw).get("call_records"))
    row = call_row(ident_mysql, str(answered["id"]))
    tz = UisHook("uis_t").timezone()
    started = datetime.strptime(answered["start_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    finished = datetime.strptime(answered["finish_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    assert as_utc(row["started_at"]) == started.astimezone(UTC)  # account time on the wire, UTC stored
    assert as_utc(row["finished_at"]) == finished.astimezone(UTC)
    assert row["direction"] == answered["direction"] and bool(row["is_lost"]) == answered["is_lost"]
    assert row["contact_phone_raw"] == text_or_none(answered["contact_phone_number"])  # a hidden number is null
    assert row["contact_phone"] is None or re.fullmatch(r"\+7\d{10}", row["contact_phone"])
    assert row["virtual_phone"] == text_or_none(answered["virtual_phone_number"])
    assert (row["wait_seconds"], row["talk_seconds"], row["total_seconds"]) == (
        answered["wait_duration"], answered["talk_duration"], answered["total_duration"],
    )  # fmt: skip
    assert row["finish_reason"] == answered["finish_reason"]
    assert row["employee_name"] == answered["last_answered_employee_full_name"]
    assert row["scenario_name"] == answered["scenario_name"]
    links = json.loads(row["record_urls"])
    assert len(links) == len(answered["call_records"]) and all(
        link.endswith(f"/system/media/talk/{answered['communication_id']}/{record}/")
        for link, record in zip(links, answered["call_records"], strict=True)
    )
    for name in ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer"):
        assert row[name] == answered[name], name
    assert row["first_loaded_at"] and row["last_loaded_at"]


def test_bad_records_are_quarantined_with_the_reason_and_the_rest_loaded(sandbox, account, ident_mysql):
    day = midnight(2, settings_for())
    sandbox._control(
        "POST",
        f"/uis/{account}/calls",
        json={"id": 777000001, "start_time": day.strftime("%Y-%m-%d 10:00:00"), "finish_time": None,
              "direction": "in", "talk_duration": -5, "wait_duration": 3, "is_lost": False},
    )  # fmt: skip
    settings = settings_for(start_date=str(day.date()))
    result = import_calls(settings)
    rejects = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    planted = set(defects(sandbox, account, day))
    assert "777000001" in rejects and "talk_seconds" in rejects["777000001"]
    assert planted <= set(rejects) and all(rejects.values())
    assert result.rejected == len(rejects) and result.new > 100


def test_a_reload_of_a_range_that_has_rows_changes_nothing(sandbox, account, ident_mysql):
    settings = settings_for(start_date=str(midnight(3, settings_for()).date()))
    window = (midnight(3, settings), midnight(2, settings))
    first = import_calls(settings, window=window)
    before = query(ident_mysql, "SELECT external_id, content_hash, last_loaded_at FROM ident_calls ORDER BY 1")
    again = import_calls(settings, window=window)
    assert first.new > 100 and (again.new, again.updated, again.unchanged) == (0, 0, first.new)
    assert query(ident_mysql, "SELECT external_id, content_hash, last_loaded_at FROM ident_calls ORDER BY 1") == before
    # a range reload moves no regular window: the next regular run still starts from its start date
    assert query(ident_mysql, "SELECT last_window_end FROM ident_sync_state") == [(None,)]


def test_a_call_corrected_at_the_source_on_a_closed_day_is_updated_by_the_next_run(sandbox, account, ident_mysql):
    settings = settings_for(start_date=str(midnight(1, settings_for()).date()))
    import_calls(settings)
    yesterday = sorted(stored_ids(ident_mysql, midnight(1, settings), midnight(0, settings)))
    target = yesterday[len(yesterday) // 2]
    sandbox._control("PATCH", f"/uis/{account}/calls/{target}", json={"talk_duration": 999, "scenario_name": "Late"})
    count = len(stored_ids(ident_mysql))

    second = import_calls(settings)  # from 00:00 of yesterday: the closed day is looked at once more

    assert second.updated == 1 and second.new <= 5  # at most a few calls that finished meanwhile
    row = call_row(ident_mysql, target)
    assert (row["talk_seconds"], row["scenario_name"]) == (999, "Late")
    assert len(stored_ids(ident_mysql)) == count + second.new


def test_an_auth_failure_fails_at_once_with_the_services_message(sandbox, account, ident_mysql):
    sandbox._control("POST", f"/uis/{account}/errors", json={"mnemonic": "access_token_expired", "count": 5})
    with pytest.raises(ServiceAuthError, match=r"access_token_expired"):
        import_calls(settings_for(start_date=str(midnight(1, settings_for()).date())))
    assert not stored_ids(ident_mysql)
    ((error,),) = query(ident_mysql, "SELECT error_text FROM ident_exchange_log")
    assert "access_token_expired" in error and sandbox.key not in error


def test_the_first_run_works_on_sqlite_too(sandbox, account, ident_sqlite):
    settings = settings_for(start_date=str(midnight(1, settings_for()).date()))
    result = import_calls(settings)
    conn = sqlite3.connect(ident_sqlite)
    assert result.new > 100 and conn.execute("SELECT COUNT(*) FROM ident_calls").fetchone()[0] == result.new
    conn.close()


def test_the_cache_check_finds_and_repairs_a_planted_difference(sandbox, account, ident_mysql):
    settings = settings_for(start_date=str(midnight(4, settings_for()).date()))
    import_calls(settings)
    day_ids = sorted(stored_ids(ident_mysql, midnight(2, settings), midnight(1, settings)))
    lost, corrected = day_ids[3], day_ids[7]
    # planted: a row the database lost, a call corrected at the source, a row the service no longer has
    ident_mysql.cursor().execute("DELETE FROM ident_calls WHERE external_id = %s", (lost,))
    ident_mysql.cursor().execute("UPDATE ident_calls SET external_id = 'gone-1' WHERE external_id = %s", (day_ids[11],))
    ident_mysql.commit()
    sandbox._control("PATCH", f"/uis/{account}/calls/{corrected}", json={"utm_campaign": "fixed"})

    report = run_check(settings, check_calls, days=3)

    checked_day = midnight(2, settings).date()
    assert list(report.index) == [midnight(3, settings).date(), checked_day, midnight(1, settings).date()]
    assert report.loc[checked_day, ["missing", "extra", "changed", "repaired"]].tolist() == [2, 1, 1, 4]
    assert report.drop(index=checked_day)[["missing", "extra", "changed"]].to_numpy().sum() == 0
    assert lost in stored_ids(ident_mysql) and "gone-1" not in stored_ids(ident_mysql)
    assert call_row(ident_mysql, corrected)["utm_campaign"] == "fixed"
    rows = query(ident_mysql, "SELECT day, missing, extra, changed, repaired FROM ident_cache_check_report ORDER BY 1")
    assert [(str(day), m, e, c, r) for day, m, e, c, r in rows][1] == (str(checked_day), 2, 1, 1, 4)
    # a second check finds nothing left to repair
    assert run_check(settings, check_calls, days=3)[["missing", "extra", "changed"]].to_numpy().sum() == 0


def test_a_call_in_progress_is_kept_apart_until_it_finishes(sandbox, account, ident_mysql):
    settings = settings_for(start_date=str(midnight(0, settings_for()).date()))
    started = datetime.now(settings.tz).replace(microsecond=0) - timedelta(minutes=6)
    row = {"id": 888000001, "communication_id": 888000001, "start_time": f"{started:%Y-%m-%d %H:%M:%S}",
           "finish_time": None, "direction": "in", "is_lost": False, "contact_phone_number": "79110001122",
           "wait_duration": 8, "talk_duration": 172, "total_duration": 180, "call_records": []}  # fmt: skip
    sandbox._control("POST", f"/uis/{account}/calls", json=row)

    import_calls(settings)
    ongoing = dict(query(ident_mysql, "SELECT external_id, talk_seconds FROM ident_ongoing_calls"))
    assert ongoing["888000001"] == 172  # (the sandbox's own calls in progress may be there too)
    assert "888000001" not in stored_ids(ident_mysql)  # never counted as finished

    finished = started + timedelta(minutes=4)
    done = {"finish_time": f"{finished:%Y-%m-%d %H:%M:%S}", "talk_duration": 232, "total_duration": 240}
    sandbox._control("PATCH", f"/uis/{account}/calls/888000001", json=done)
    import_calls(settings)
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_ongoing_calls WHERE external_id = '888000001'") == [(0,)]
    assert call_row(ident_mysql, "888000001")["talk_seconds"] == 232


def test_calls_from_the_clinics_own_http_service(sandbox, clinic_conn, ident_mysql):
    """GetFinishedCalls (IDENT's call object, no Id: the key is the start, direction and numbers);
    a second run changes nothing."""
    tenant = f"c{uuid.uuid4().hex[:10]}"
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {"name": "own", "service": "clinic_http", "conn_id": clinic_conn(sandbox, tenant),
                 "calls": {"start_date": str(midnight(3, settings_for()).date()), "page_limit": 50}},
            ],
        },
        "test",
    )  # fmt: skip
    settings = config.resolve("own", "calls")
    first = import_calls(settings)
    since = midnight(3, settings)
    defects = [d for d in sandbox.call_defects(tenant) if datetime.fromisoformat(d["DateAndTime"]) >= since]
    rows = query(ident_mysql, "SELECT external_id, direction, contact_phone_raw, virtual_phone FROM ident_calls")
    assert first.new == len(rows) > 50 and first.rejected == len(defects)
    key, direction, contact, line = rows[0]
    assert key.split("|")[1] == direction and contact in key and line in key
    again = import_calls(settings)
    assert (again.new, again.updated) == (0, 0)
