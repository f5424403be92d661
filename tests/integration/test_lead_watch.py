"""Watch mode below the triggerer: the watcher's look and the trigger's event loop against the
sandbox over HTTP and the IDENT database on MariaDB. (The whole path through a real triggerer and
scheduler is in tests/e2e/test_demo_smoke.py, which runs the demo's watched integration.)"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from ident_integrations.watch import RESIGNAL_AFTER, LeadWatcher, NewLeadsTrigger
from tests.helpers import connection_json, query


def watched_settings(conn_id: str, start_date):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {
                    "name": "site",
                    "service": "clinic_http",
                    "conn_id": conn_id,
                    "leads": {"mode": "watch", "watch_seconds": 1, "start_date": start_date.isoformat()},
                }
            ],
        },
        "test",
    )
    return config.resolve("site", "leads")


@pytest.fixture
def tenant(clean_sandbox):
    return f"w_{uuid.uuid4().hex[:12]}"


def add_lead(sandbox, tenant: str, lead_id: str) -> None:
    when = (sandbox.now() - timedelta(seconds=5)).isoformat()
    sandbox.add_ticket(tenant, {"Id": lead_id, "DateAndTime": when, "ClientPhone": "89110000002"})


def test_a_look_finds_only_what_is_not_stored_and_signals_each_lead_once(
    clean_sandbox, clinic_conn, ident_mysql, tenant
):
    settings = watched_settings(clinic_conn(clean_sandbox, tenant), clean_sandbox.now().date())
    watcher = LeadWatcher(settings)
    first = watcher.look()
    assert first  # the leads of today (a first run's window from today), bad ones included
    assert watcher.look() == []  # signalled once, not again while the import has not stored them

    result = import_leads(settings)
    assert result.new + result.rejected == len(first)  # the look saw exactly what the import took
    assert result.rejected > 0  # a stored lead and a quarantined record are pending no more
    assert LeadWatcher(settings).look() == []  # (a restarted triggerer)

    add_lead(clean_sandbox, tenant, "watch-1")
    new = watcher.look()
    assert len(new) == 1 and new[0].startswith("watch-1|")
    assert query(ident_mysql, "SELECT COUNT(*) FROM ident_exchange_log")[0][0] == 1  # only the import's
    assert watcher.look() == []
    later = datetime.now(UTC) + RESIGNAL_AFTER
    assert watcher.look(later) == new  # still not stored after a while (a failed run): signalled again


def test_the_trigger_fires_when_a_lead_appears_and_keeps_watching(
    clean_sandbox, clinic_conn, ident_mysql, tenant, monkeypatch
):
    import ident_integrations.watch as watch

    settings = watched_settings(clinic_conn(clean_sandbox, tenant), clean_sandbox.now().date())
    import_leads(settings)  # what is there now is stored: the trigger must stay quiet until a new lead
    monkeypatch.setattr(watch, "_watcher", lambda integration: LeadWatcher(settings))  # the test's config

    async def scenario():
        events: asyncio.Queue = asyncio.Queue()

        async def collect():
            async for event in NewLeadsTrigger("site", watch_seconds=0.2).run():
                await events.put(event.payload)

        collector = asyncio.create_task(collect())
        try:
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(events.get(), 1.5)  # nothing new: no event
            add_lead(clean_sandbox, tenant, "watch-2")
            payload = await asyncio.wait_for(events.get(), 10)
            assert payload["integration"] == "site" and payload["new"] == 1
            assert payload["keys"][0].startswith("watch-2|")
            add_lead(clean_sandbox, tenant, "watch-3")
            payload = await asyncio.wait_for(events.get(), 10)  # the same trigger goes on watching
            assert payload["keys"] == [k for k in payload["keys"] if k.startswith("watch-3|")]
            assert collector.done() is False
        finally:
            collector.cancel()

    asyncio.run(scenario())


def test_for_napopravku_everything_it_lists_is_pending_until_acknowledged(clean_sandbox, ident_mysql, monkeypatch):
    from tests.e2e.test_napopravku_dag import appointment

    account = f"w{uuid.uuid4().hex[:10]}"
    host = f"{clean_sandbox.base_url}/napopravku/{account}/api/v1"
    monkeypatch.setenv("AIRFLOW_CONN_NP_WATCH", connection_json(conn_type="ident_napopravku", host=host,
                                                                  password=clean_sandbox.key))  # fmt: skip
    settings = parse_config(
        {"integrations": [{"name": "np", "service": "napopravku", "conn_id": "np_watch", "leads": {"mode": "watch"}}]},
        "test",
    ).resolve("np", "leads")
    try:
        for body in (appointment(1), appointment(2, phone=None)):  # one to store, one to refuse
            clean_sandbox._control("POST", f"/napopravku/{account}/appointments", json=body)
        watcher = LeadWatcher(settings)
        assert len(watcher.look()) == 2
        import_leads(settings)  # stores one, quarantines the other, acknowledges both
        assert watcher.look(datetime.now(UTC) + RESIGNAL_AFTER) == []  # nothing listed any more
    finally:
        clean_sandbox._control("DELETE", f"/napopravku/{account}/state")
