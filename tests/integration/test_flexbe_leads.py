"""Leads from a Flexbe landing page (the sandbox's emulator) into the IDENT database on MariaDB:
fields found by Flexbe field type or name (IDENT's "Тип поля" / "Имя поля"), unmapped form fields
named in a warning, bad leads quarantined, a rerun changing nothing."""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import timedelta

import pytest

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from tests.helpers import connection_json, query


@pytest.fixture
def site(sandbox, monkeypatch):
    name = f"f{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv(
        "AIRFLOW_CONN_FLEXBE_T",
        connection_json(conn_type="ident_flexbe", host=f"{sandbox.base_url}/flexbe/{name}", password=sandbox.key),
    )
    yield name
    sandbox._control("DELETE", f"/flexbe/{name}/state")


def settings_for(sandbox, **leads):
    start = (sandbox.start_time - timedelta(days=4)).date().isoformat()
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {"name": "promo", "service": "flexbe", "conn_id": "flexbe_t", "leads": {"start_date": start, **leads}}
            ],
        },
        "test",
    )
    return config.resolve("promo", "leads")


def test_landing_leads_load_and_the_bad_ones_are_quarantined(sandbox, site, ident_mysql, caplog):
    caplog.set_level(logging.WARNING)
    result = import_leads(settings_for(sandbox))
    defects = sandbox._control("GET", f"/flexbe/{site}/defects")["defects"]
    assert result.new > 50 and result.rejected == len(defects) > 0
    assert {r[0] for r in query(ident_mysql, "SELECT external_id FROM ident_rejects")} == set(defects)
    phones = [r[0] for r in query(ident_mysql, "SELECT phone FROM ident_leads")]
    assert all(phone is None or phone.startswith("+7") for phone in phones)
    assert "map to no lead field and stay in the raw payload only" in caplog.text  # e.g. "Услуга"
    assert caplog.text.count("map to no lead field") == 1  # named once per run, not per lead
    again = import_leads(settings_for(sandbox))
    assert (again.new, again.updated) == (0, 0)


def test_fields_are_found_by_type_and_by_name(sandbox, site, ident_mysql, caplog):
    lead = {
        "id": 990001, "num": 1, "time": int(time.time()) - 60, "status": {"code": 0, "name": "Новая"},
        "client": [], "note": "", "form_name": "Запись к ортодонту",
        "form_data": {
            "1": {"id": "1", "name": "Ваше имя", "type": "name", "value": "Мария Петрова"},
            "2": {"id": "2", "name": "Телефон", "type": "phone", "value": "8 (916) 123-45-67"},
            "3": {"id": "3", "name": "Удобное время для звонка", "type": "text", "value": "после 18"},
            "4": {"id": "4", "name": "Врач", "type": "select", "value": "Захаров Денис Олегович"},
            "5": {"id": "5", "name": "Согласие", "type": "checkbox", "value": "да"},
        },
        "page": {"url": "promo.clinic.ru/ortho", "name": "Брекеты"},
        "utm": {"utm_source": "vk", "utm_medium": "social", "utm_campaign": "braces", "url": ""},
    }  # fmt: skip
    sandbox._control("POST", f"/flexbe/{site}/leads", json=lead)
    settings = settings_for(sandbox, field_map={"comment": "Удобное время для звонка", "doctor": "Врач"})
    caplog.set_level(logging.WARNING)
    import_leads(settings)
    ((name, phone, comment, doctor, form, source, referrer, raw),) = query(
        ident_mysql,
        "SELECT full_name, phone, comment, doctor_name, form_name, utm_source, http_referer, raw_payload"
        " FROM ident_leads WHERE external_id = '990001'",
    )
    assert (name, phone, comment, doctor) == ("Мария Петрова", "+79161234567", "после 18", "Захаров Денис Олегович")
    assert (form, source, referrer) == ("Запись к ортодонту", "vk", "https://promo.clinic.ru/ortho")
    assert json.loads(raw)["form_data"]["5"]["value"] == "да"  # unmapped: kept in the raw payload
    assert "Согласие" in caplog.text
