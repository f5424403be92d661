"""The geocoding capability on MariaDB with DaData in the sandbox: a batch stored field by field,
only new or changed addresses on the next run, rechecks after the interval, the distance flag for a
same-named street in another city, the daily cap over two runs and two days, blank addresses
skipped and counted, 403 failing at once after one request, 429 waited out, no key in the logs;
and ``ident geocode`` through its real entry point."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from ident_hooks.exchange import ServiceAuthError
from ident_integrations.capabilities.geocoding import (
    BadAnswer,
    GeocodingSettings,
    PoorQc,
    geocode_addresses,
    haversine_km,
    interpret,
)
from ident_integrations.config import Clinic, RequestSettings, ResolvedCapability, TaskSettings
from tests.helpers import as_utc, connection_json, query

ROOT = Path(__file__).resolve().parents[2]
CLINIC = (55.7648, 37.6050)  # the Tverskaya branch
ADDRESSES = {
    1: "г. Москва, ул. Мясницкая, д. 24, кв. 7",  # exact house
    2: "мск сухонска 11/-89",  # misspelt street: qc 1
    3: "г Казань, ул Ленина, д 5",  # exact, but 700 km away
    4: "asdf qwer",  # garbage: qc 2, no coordinates
    5: "г. Москва, ул. Арбат",  # street only: qc_geo 2
    6: "   ",  # blank
    7: None,  # no address
}


def settings(**block) -> ResolvedCapability:
    block.setdefault("clinic_lat", CLINIC[0])
    block.setdefault("clinic_lon", CLINIC[1])
    return ResolvedCapability(
        capability="geocoding", integration="dadata_test", service="dadata", conn_id="dadata_test", description="",
        clinic=Clinic(), block=GeocodingSettings(**block), request=RequestSettings(request_backoff_seconds=0.01),
        task=TaskSettings(), sources={},
    )  # fmt: skip


def add_patients(conn, addresses: dict[int, str | None]) -> None:
    cur = conn.cursor()
    for pid, address in addresses.items():
        cur.execute("INSERT INTO ident_patients (id, surname, name, address) VALUES (%s, 'Иванов', 'Иван', %s)",
                    (pid, address))  # fmt: skip
    conn.commit()


@pytest.fixture
def clinic_db(ident_mysql):
    from ident_integrations.store.database import IdentDatabase

    IdentDatabase("ident_db").ensure_schema()
    return ident_mysql


@pytest.fixture
def dadata(sandbox, monkeypatch, clinic_db):
    conn = connection_json(conn_type="ident_dadata", host=f"{sandbox.base_url}/dadata", login=sandbox.key,
                           password=sandbox.key)  # fmt: skip
    monkeypatch.setenv("AIRFLOW_CONN_DADATA_TEST", conn)
    yield sandbox
    sandbox._control("DELETE", "/dadata/faults")


def my_requests(sandbox) -> int:
    stats = sandbox._control("GET", "/dadata/stats")
    return stats["requests_by_key"].get(stats["sandbox_key"], 0)


def geocodes(conn) -> dict[int, dict]:
    cols = ("patient_id integration source_address result geo_lat geo_lon qc qc_geo qc_complete qc_house distance_km"
            " needs_review review_reason checked_at raw_payload").split()  # fmt: skip
    rows = query(conn, f"SELECT {', '.join(cols)} FROM ident_geocodes ORDER BY patient_id")
    return {row[0]: dict(zip(cols, row, strict=True)) for row in rows}


def test_a_batch_stores_every_field_and_skips_blank_addresses(dadata, clinic_db, caplog):
    add_patients(clinic_db, ADDRESSES)
    before = my_requests(dadata)
    started = datetime.now(UTC)
    with caplog.at_level(logging.INFO):
        summary = geocode_addresses(settings(batch_size=2))
    assert my_requests(dadata) == before + 5
    assert summary | {"requests_today": 0} == {
        "candidates": 5, "geocoded": 5, "needs_review": 4, "rejected": 0, "skipped_blank": 2, "requests": 5,
        "limit_reached": False, "waiting": 0, "requests_today": 0}  # fmt: skip
    assert "2 patient(s) without an address: skipped" in caplog.text
    assert caplog.text.count("Batch of ") == 3  # 2 + 2 + 1, each committed
    rows = geocodes(clinic_db)
    assert set(rows) == {1, 2, 3, 4, 5}
    for pid, row in rows.items():
        raw = json.loads(row["raw_payload"])
        assert row["source_address"] == ADDRESSES[pid] == raw["source"] and row["integration"] == "dadata_test"
        assert row["result"] == raw["result"]
        assert (row["qc"], row["qc_geo"], row["qc_complete"], row["qc_house"]) == (
            raw["qc"], raw["qc_geo"], raw["qc_complete"], raw["qc_house"])  # fmt: skip
        if raw["geo_lat"] is None:
            assert row["geo_lat"] is row["geo_lon"] is row["distance_km"] is None
        else:
            assert row["geo_lat"] == Decimal(raw["geo_lat"]) and row["geo_lon"] == Decimal(raw["geo_lon"])
            expected = haversine_km(*CLINIC, float(raw["geo_lat"]), float(raw["geo_lon"]))
            assert row["distance_km"] == pytest.approx(expected, abs=0.001)
        assert started - timedelta(seconds=1) <= as_utc(row["checked_at"]) <= datetime.now(UTC)
    assert rows[1]["result"] == "г Москва, ул Мясницкая, д 24, кв 7" and rows[1]["distance_km"] < 10
    assert (rows[1]["needs_review"], rows[1]["review_reason"]) == (0, None)
    assert rows[2]["needs_review"] and rows[2]["review_reason"].startswith("qc 1:")
    assert rows[3]["needs_review"] and rows[3]["qc"] == 0 and rows[3]["distance_km"] > 600
    assert "km from the clinic (over 100 km)" in rows[3]["review_reason"]
    assert rows[4]["qc"] == 2 and rows[4]["result"] is None and "qc_geo 5" in rows[4]["review_reason"]
    assert rows[5]["qc_geo"] == 2 and rows[5]["review_reason"] == "qc_geo 2: street"
    usage = query(clinic_db, "SELECT integration, day, requests FROM ident_service_usage")
    assert usage == [("dadata_test", datetime.now(ZoneInfo("Europe/Moscow")).date(), 5)]
    log_rows = query(clinic_db, "SELECT method, url, http_status, error_text FROM ident_exchange_log"
                                " WHERE capability = 'geocoding'")  # fmt: skip
    assert len(log_rows) == 5 and {r[2] for r in log_rows} == {200}
    assert dadata.key not in caplog.text and dadata.key not in str(log_rows)


def test_a_second_run_sends_only_new_and_changed_addresses(dadata, clinic_db):
    add_patients(clinic_db, {1: ADDRESSES[1], 2: ADDRESSES[3]})
    geocode_addresses(settings())
    first = geocodes(clinic_db)
    before = my_requests(dadata)
    assert geocode_addresses(settings())["candidates"] == 0
    assert my_requests(dadata) == before  # nothing due: not one paid request
    cur = clinic_db.cursor()
    cur.execute("UPDATE ident_patients SET address = 'г. Москва, ул. Покровка, д. 3' WHERE id = 2")
    clinic_db.commit()
    add_patients(clinic_db, {3: "г. Екатеринбург, ул. 8 Марта, д. 5, кв. 2"})
    summary = geocode_addresses(settings(max_distance_km=2000))
    assert (summary["candidates"], summary["requests"]) == (2, 2) and my_requests(dadata) == before + 2
    rows = geocodes(clinic_db)
    assert rows[1]["checked_at"] == first[1]["checked_at"]  # unchanged, not rechecked
    assert rows[2]["result"] == "г Москва, ул Покровка, д 3" and not rows[2]["needs_review"]
    assert rows[3]["result"] == "г Екатеринбург, ул 8 Марта, д 5, кв 2"


def test_poor_results_are_rechecked_after_the_interval_and_good_ones_only_when_asked(dadata, clinic_db):
    add_patients(clinic_db, {1: ADDRESSES[1], 2: ADDRESSES[2], 5: ADDRESSES[5]})
    geocode_addresses(settings())
    cur = clinic_db.cursor()
    cur.execute("UPDATE ident_geocodes SET checked_at = checked_at - INTERVAL 20 DAY")
    clinic_db.commit()
    assert geocode_addresses(settings(recheck_days=30))["candidates"] == 0
    cur.execute("UPDATE ident_geocodes SET checked_at = checked_at - INTERVAL 11 DAY")  # 31 days ago now
    clinic_db.commit()
    before = my_requests(dadata)
    summary = geocode_addresses(settings(recheck_days=30))
    assert summary["candidates"] == 2 and my_requests(dadata) == before + 2  # the misspelt and the street-only
    rows = geocodes(clinic_db)
    assert as_utc(rows[1]["checked_at"]) < datetime.now(UTC) - timedelta(days=30)
    assert as_utc(rows[2]["checked_at"]) > datetime.now(UTC) - timedelta(minutes=1)
    # a looser rule: street-level coordinates are good enough, so only the misspelt one is poor
    cur.execute("UPDATE ident_geocodes SET checked_at = checked_at - INTERVAL 40 DAY")
    clinic_db.commit()
    assert geocode_addresses(settings(poor_qc=PoorQc(max_qc_geo=2)))["candidates"] == 1
    cur.execute("UPDATE ident_geocodes SET checked_at = checked_at - INTERVAL 40 DAY")
    clinic_db.commit()
    assert geocode_addresses(settings(good_results_recheck_days=35))["candidates"] == 3


def test_the_daily_limit_stops_the_run_green_and_the_rest_waits_for_the_next_day(dadata, clinic_db, caplog):
    add_patients(clinic_db, {pid: f"г. Москва, ул. Сретенка, д. {pid}" for pid in range(1, 8)})
    today = datetime.now(UTC)
    with caplog.at_level(logging.INFO):
        first = geocode_addresses(settings(daily_limit=3, batch_size=2), now=today)
    assert (first["geocoded"], first["limit_reached"], first["waiting"], first["requests_today"]) == (3, True, 4, 3)
    assert "Daily limit of 3 DaData request(s) reached" in caplog.text and "4 address(es) wait" in caplog.text
    before = my_requests(dadata)
    second = geocode_addresses(settings(daily_limit=3, batch_size=2), now=today)
    assert (second["geocoded"], second["waiting"]) == (0, 4) and my_requests(dadata) == before
    tomorrow = geocode_addresses(settings(daily_limit=3, batch_size=2), now=today + timedelta(days=1))
    assert (tomorrow["geocoded"], tomorrow["waiting"]) == (3, 1)
    usage = dict(query(clinic_db, "SELECT day, requests FROM ident_service_usage WHERE integration = 'dadata_test'"))
    tz = ZoneInfo("Europe/Moscow")
    assert usage == {today.astimezone(tz).date(): 3, (today + timedelta(days=1)).astimezone(tz).date(): 3}
    assert len(geocodes(clinic_db)) == 6


def test_the_clinic_address_is_geocoded_when_no_coordinates_are_set_and_counted(dadata, clinic_db):
    add_patients(clinic_db, {1: ADDRESSES[3]})
    summary = geocode_addresses(settings(clinic_lat=None, clinic_lon=None,
                                         clinic_address="г. Москва, ул. Тверская, д. 18, стр. 1"))  # fmt: skip
    assert summary["requests_today"] == 2  # the clinic's address and the patient's
    assert geocodes(clinic_db)[1]["distance_km"] > 600


def test_403_fails_at_once_after_one_request_with_dadatas_message(dadata, clinic_db, caplog):
    add_patients(clinic_db, {1: ADDRESSES[1], 2: ADDRESSES[2], 3: ADDRESSES[3]})
    dadata._control("PUT", "/dadata/faults", json={"forbidden": True})
    before = my_requests(dadata)
    with caplog.at_level(logging.INFO), pytest.raises(ServiceAuthError, match="Not enough money") as raised:
        geocode_addresses(settings())
    assert my_requests(dadata) == before + 1
    log_rows = query(clinic_db, "SELECT http_status, error_text FROM ident_exchange_log WHERE capability = 'geocoding'")
    assert [r[0] for r in log_rows] == [403] and "Not enough money" in log_rows[0][1]
    assert geocodes(clinic_db) == {}
    assert dadata.key not in caplog.text + str(raised.value) + str(log_rows)


def test_403_mid_run_keeps_what_was_answered(dadata, clinic_db):
    add_patients(clinic_db, {pid: f"г. Москва, ул. Покровка, д. {pid}" for pid in range(1, 6)})
    geocode_addresses(settings(daily_limit=2))  # 1 and 2 today
    dadata._control("PUT", "/dadata/faults", json={"forbidden_next": 1})
    with pytest.raises(ServiceAuthError):
        geocode_addresses(settings(daily_limit=None))
    assert set(geocodes(clinic_db)) == {1, 2}
    assert geocode_addresses(settings(daily_limit=None))["geocoded"] == 3


def test_429_waits_then_goes_on(dadata, clinic_db):
    add_patients(clinic_db, {1: ADDRESSES[1], 2: ADDRESSES[5]})
    dadata._control("PUT", "/dadata/faults", json={"rate_limited_next": 1, "retry_after": 1})
    summary = geocode_addresses(settings())
    assert summary["geocoded"] == 2 and summary["requests_today"] == 2  # the refused attempt is not paid
    statuses = [r[0] for r in query(clinic_db, "SELECT http_status FROM ident_exchange_log ORDER BY id")]
    assert statuses == [429, 200, 200]


def test_an_unusable_answer_is_quarantined_with_its_reason_and_the_rest_loads(dadata, clinic_db):
    add_patients(clinic_db, {1: ADDRESSES[1], 2: ADDRESSES[5]})
    dadata._control("PUT", "/dadata/faults", json={"bad_answer_next": 1})
    summary = geocode_addresses(settings())
    assert (summary["geocoded"], summary["rejected"], summary["requests_today"]) == (1, 1, 2)
    assert set(geocodes(clinic_db)) == {2}
    rejects = query(clinic_db, "SELECT capability, external_id, reason, raw_payload FROM ident_rejects")
    assert [(r[0], r[1]) for r in rejects] == [("geocoding", "1")]
    assert rejects[0][2] == "DaData answer unusable: geo_lat is 'north', not a number"
    assert json.loads(rejects[0][3])["address"] == ADDRESSES[1]
    # the rejected patient has no row, so the next run tries it again
    assert geocode_addresses(settings())["geocoded"] == 1 and set(geocodes(clinic_db)) == {1, 2}


def test_an_answer_in_an_unexpected_shape_is_rejected_with_its_reason():
    block = GeocodingSettings()
    with pytest.raises(BadAnswer, match="geo_lat"):
        interpret("x", {"geo_lat": "north", "geo_lon": "37.6", "qc": 0, "qc_geo": 0}, block, None)
    with pytest.raises(BadAnswer, match="qc_geo"):
        interpret("x", {"geo_lat": "55.7", "geo_lon": "37.6", "qc": 0, "qc_geo": [0]}, block, None)
    with pytest.raises(BadAnswer, match="only one"):
        interpret("x", {"geo_lat": "55.7", "geo_lon": None, "qc": 0, "qc_geo": 0}, block, None)
    good = interpret("x", {"geo_lat": "55.7", "geo_lon": "37.6", "qc": 0, "qc_geo": 1, "result": "r"}, block, CLINIC)
    assert not good.needs_review and good.distance_km == pytest.approx(haversine_km(*CLINIC, 55.7, 37.6))
    # a network with a branch in Yekaterinburg: its patients are near a branch, Kazan's street is not
    yekaterinburg = {"geo_lat": "56.8360", "geo_lon": "60.6100", "qc": 0, "qc_geo": 0}
    kazan = {"geo_lat": "55.7930", "geo_lon": "49.1120", "qc": 0, "qc_geo": 0}
    assert interpret("x", yekaterinburg, block, CLINIC).needs_review
    network = GeocodingSettings(branch_points=[[56.8389, 60.6057]])
    near = interpret("x", yekaterinburg, network, CLINIC)
    assert not near.needs_review and near.distance_km == pytest.approx(haversine_km(56.8389, 60.6057, 56.836, 60.61))
    assert interpret("x", kazan, network, CLINIC).needs_review


def run_cli(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / ".venv/bin/ident"), *args], capture_output=True, text=True, timeout=120,
                          env=env)  # fmt: skip


def test_the_geocode_command_prints_the_answer_with_meanings_and_distance(dadata, tmp_path):
    config = {"integrations": [
        {"name": "geo", "service": "dadata", "conn_id": "dadata_test",
         "geocoding": {"clinic_lat": CLINIC[0], "clinic_lon": CLINIC[1]}},
        {"name": "geo2", "service": "dadata", "conn_id": "dadata_test", "geocoding": {}},
    ]}  # fmt: skip
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config, allow_unicode=True))
    env = {**os.environ, "IDENT_INTEGRATIONS_FILE": str(path)}
    done = run_cli("geocode", "г Казань, ул Ленина, д 5", "--integration", "geo", env=env)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "result:       Респ Татарстан, г Казань, ул Ленина, д 5" in out
    assert "qc:           0  parsed with confidence" in out and "qc_geo:       0  exact coordinates (house)" in out
    assert "qc_house:     2  house found in FIAS" in out
    km = haversine_km(*CLINIC, *(float(v) for v in out.split("coordinates:")[1].split("\n")[0].split(",")))
    assert f"distance:     {km:.1f} km from the clinic" in out and "review:       needed:" in out
    assert dadata.key not in out + done.stderr

    no_clinic = run_cli("geocode", "мск сухонска 11/-89", "--integration", "geo2", env=env)
    assert no_clinic.returncode == 0 and "qc:           1  leftover" in no_clinic.stdout
    assert "no clinic coordinates" in no_clinic.stdout

    unknown = run_cli("geocode", "x", "--integration", "nope", env=env)
    assert unknown.returncode == 2 and "no integration 'nope'" in unknown.stderr and "geo, geo2" in unknown.stderr


def test_the_geocode_command_refuses_a_non_dadata_integration_and_reports_a_refused_key(dadata, tmp_path):
    config = {"integrations": [
        {"name": "site", "service": "clinic_http", "conn_id": "clinic_x", "leads": {}},
        {"name": "geo", "service": "dadata", "conn_id": "dadata_bad", "geocoding": {}},
    ]}  # fmt: skip
    path = tmp_path / "integrations.yaml"
    path.write_text(yaml.safe_dump(config))
    bad = connection_json(conn_type="ident_dadata", host=f"{dadata.base_url}/dadata", login="wrong", password="wrong")
    env = {**os.environ, "IDENT_INTEGRATIONS_FILE": str(path), "AIRFLOW_CONN_DADATA_BAD": bad}
    other = run_cli("geocode", "x", "--integration", "site", env=env)
    assert other.returncode == 2 and "uses service 'clinic_http'" in other.stderr
    refused = run_cli("geocode", "мск сухонская 11", "--integration", "geo", env=env)
    assert refused.returncode == 1 and "DaData refused the request" in refused.stderr and "403" in refused.stderr
