"""Leads from 32top (the sandbox's emulator of the assumed partner API) into the IDENT database on
MariaDB: doctor's surname and appointment start mapped, clinic local time read in the clinic's
timezone, number-typed phones taken, bad leads quarantined with the reason, a rerun changing nothing."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from tests.helpers import as_utc, connection_json, query


@pytest.fixture
def account(sandbox, monkeypatch):
    name = f"t{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_TOP32_T",
        connection_json(
            conn_type="ident_top32", host=f"{sandbox.base_url}/top32/{name}/api/partner/v1", password=sandbox.key
        ),
    )
    yield name
    sandbox._control("DELETE", f"/top32/{name}/state")


def settings_for(sandbox, **leads):
    start = (sandbox.start_time - timedelta(days=4)).date().isoformat()
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {"name": "top", "service": "top32", "conn_id": "top32_t", "leads": {"start_date": start, **leads}}
            ],
        },
        "test",
    )
    return config.resolve("top", "leads")


def test_leads_load_with_doctor_and_slot_and_the_bad_ones_are_quarantined(sandbox, account, ident_mysql):
    result = import_leads(settings_for(sandbox))
    side = sandbox._control("GET", f"/top32/{account}/defects")
    defects = side["defects"]
    assert (result.fetched, result.rejected, result.new) == (45, len(defects), 45 - len(defects))
    rejects = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    assert set(rejects) == set(defects)
    for lead_id, kind in defects.items():
        expected = {"phone_missing": "ClientPhone", "phone_with_letters": "ClientPhone"}.get(kind, "PlanStart")
        assert expected in rejects[lead_id], (kind, rejects[lead_id])
    rows = query(
        ident_mysql, "SELECT phone, doctor_name, plan_start, form_name, utm_source, raw_payload FROM ident_leads"
    )
    assert all(phone.startswith("+7") and len(phone) == 12 for phone, *_ in rows)
    raws = [json.loads(raw) for *_, raw in rows]
    assert any(isinstance(raw["patient_phone"], int) for raw in raws)  # number-typed phones stored as text
    assert {doctor for _, doctor, *_ in rows} >= {"Смирнова", "Ахмедов"}
    assert {form for *_, form, _, _ in rows} <= {"32top: каталог", "32top: виджет на сайте", "32top: приложение"}
    assert {source for *_, source, _ in rows} == {"32top"}
    again = import_leads(settings_for(sandbox))
    assert (again.new, again.updated) == (0, 0) and again.fetched > 0  # today's leads, again
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_leads") == [(45 - len(defects),)]
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_rejects") == [(len(defects),)]  # not quarantined twice


def test_the_fields_map_to_idents_ticket_and_local_times_are_clinic_time(sandbox, account, ident_mysql):
    created = (datetime.now(UTC) - timedelta(minutes=5)).replace(microsecond=0)
    lead = {
        "id": 77001, "created_at": created.isoformat(), "updated_at": created.isoformat(), "status": "new",
        "source": "widget", "patient_name": "Мария Петрова", "patient_phone": 79161234567,
        "patient_email": "maria@example.com", "doctor_surname": "Захаров",
        "appointment_start": "2031-05-20T14:30:00", "comment": "Болит зуб", "branch": {"id": "2", "name": "Купчино"},
        "page_url": "https://denta-clinic.example/zapis/", "extra": {"kept": True},
    }  # fmt: skip
    with_offset = {**lead, "id": 77002, "appointment_start": "2031-05-20T14:30:00+05:00", "source": "mystery"}
    no_slot = {**lead, "id": 77003, "appointment_start": None, "doctor_surname": None, "source": None}
    for body in (lead, with_offset, no_slot):
        sandbox._control("POST", f"/top32/{account}/leads", json=body)
    import_leads(settings_for(sandbox))
    rows = {
        row[0]: row[1:]
        for row in query(
            ident_mysql,
            "SELECT external_id, created_at, full_name, phone, email, doctor_name, plan_start, comment, form_name,"
            " utm_source, utm_medium, http_referer, raw_payload FROM ident_leads"
            " WHERE external_id IN ('77001', '77002', '77003')",
        )
    }
    at, name, phone, email, doctor, start, comment, form, source, medium, referrer, raw = rows["77001"]
    assert as_utc(at) == created
    assert (name, phone, email, doctor, comment) == ("Мария Петрова", "+79161234567", "maria@example.com", "Захаров",
                                                     "Болит зуб")  # fmt: skip
    assert as_utc(start) == datetime(2031, 5, 20, 11, 30, tzinfo=UTC)  # 14:30 Moscow, the clinic's timezone
    assert (form, source, medium, referrer) == ("32top: виджет на сайте", "32top", "aggregator",
                                                "https://denta-clinic.example/zapis/")  # fmt: skip
    assert json.loads(raw) == lead  # the payload as sent: branch, status and unknown fields kept
    assert as_utc(rows["77002"][5]) == datetime(2031, 5, 20, 9, 30, tzinfo=UTC) and rows["77002"][7] == "32top: mystery"
    assert rows["77003"][4:6] == (None, None) and rows["77003"][7] == "32top"
