"""Site leads from UIS / CoMagic (``get.offline_messages_report``) into the IDENT database on MariaDB,
with IDENT's branch exclusions ("Список исключений") by employee group."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta

import pytest

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from tests.helpers import as_utc, connection_json, query


@pytest.fixture
def account(sandbox, monkeypatch):
    name = f"l{uuid.uuid4().hex[:10]}"
    host = f"{sandbox.base_url}/uis/{name}/v2.0"
    monkeypatch.setenv("AIRFLOW_CONN_UIS_L", connection_json(conn_type="ident_uis", host=host, password=sandbox.key))
    yield name
    sandbox._control("DELETE", f"/uis/{name}/state")


def settings_for(sandbox, **leads):
    start = (sandbox.start_time - timedelta(days=4)).date().isoformat()
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {"name": "site", "service": "uis", "conn_id": "uis_l", "leads": {"start_date": start, **leads}}
            ],
        },
        "test",
    )
    return config.resolve("site", "leads")


def messages(sandbox, account: str) -> list[dict]:
    now = datetime.now(sandbox.start_time.tzinfo)
    params = {"access_token": sandbox.key, "date_from": (now - timedelta(days=5)).strftime("%Y-%m-%d %H:%M:%S"),
              "date_till": now.strftime("%Y-%m-%d %H:%M:%S"), "limit": 10_000}  # fmt: skip
    params["fields"] = ["id", "date_time", "visitor_name", "visitor_phone_number", "visitor_email", "text",
                        "form_name", "form_type", "group_name", "utm_source", "utm_campaign", "referrer"]  # fmt: skip
    body = {"jsonrpc": "2.0", "id": 1, "method": "get.offline_messages_report", "params": params}
    return sandbox.http.post(f"{sandbox.base_url}/uis/{account}/v2.0", json=body, timeout=30).json()["result"]["data"]


def test_site_leads_load_with_every_field_and_the_defective_ones_quarantined(sandbox, account, ident_mysql):
    result = import_leads(settings_for(sandbox))
    sent = {str(m["id"]): m for m in messages(sandbox, account)}
    defects = sandbox._control("GET", f"/uis/{account}/offline_message_defects")["defects"]
    assert result.fetched == len(sent) > 50 and result.rejected == len(defects) > 0
    stored = {row[0]: row[1:] for row in query(
        ident_mysql, "SELECT external_id, created_at, full_name, phone, email, comment, form_name, utm_source, "
        "utm_campaign, http_referer, raw_payload FROM ident_leads")}  # fmt: skip
    assert set(stored) == set(sent) - set(defects)
    message = next(m for key, m in sent.items() if key in stored and m["text"] and m["visitor_email"])
    created, name, phone, email, comment, form, source, campaign, referrer, raw = stored[str(message["id"])]
    tz = sandbox.start_time.tzinfo
    assert as_utc(created) == datetime.strptime(message["date_time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz)
    assert (name, email, comment) == (message["visitor_name"], message["visitor_email"], message["text"])
    assert phone.startswith("+7") and len(phone) == 12
    assert form == (message["form_name"] or message["form_type"])
    assert (source, campaign, referrer) == (message["utm_source"], message["utm_campaign"], message["referrer"])
    assert json.loads(raw)["group_name"] == message["group_name"]  # kept as sent
    reasons = dict(query(ident_mysql, "SELECT external_id, reason FROM ident_rejects"))
    assert set(reasons) == set(defects) and all(
        "Client" in reason or "phone" in reason.lower() for reason in reasons.values()
    )
    again = import_leads(settings_for(sandbox))
    assert (again.new, again.updated) == (0, 0)


def test_leads_of_excluded_groups_are_left_out_and_an_unknown_name_is_a_warning(sandbox, account, ident_mysql, caplog):
    caplog.set_level(logging.INFO)
    sent = messages(sandbox, account)
    excluded_group = sent[0]["group_name"]
    result = import_leads(settings_for(sandbox, exclude_groups=[excluded_group, "Филиал на Луне"]))
    of_group = {str(m["id"]) for m in sent if m["group_name"] == excluded_group}
    stored = {row[0] for row in query(ident_mysql, "SELECT external_id FROM ident_leads")}
    rejected = {row[0] for row in query(ident_mysql, "SELECT external_id FROM ident_rejects")}
    assert of_group and not stored & of_group and not rejected & of_group  # not taken, and not a reject
    assert result.excluded == len(of_group) and f"excluded by the integration's rules {len(of_group)}" in caplog.text
    assert "names 'Филиал на Луне', which is not a group of this UIS account" in caplog.text
    assert sandbox.key not in caplog.text
    urls = [row[0] for row in query(ident_mysql, "SELECT url FROM ident_exchange_log")]
    assert any("get.group_employees" in url for url in urls) and all(sandbox.key not in url for url in urls)
