"""Watch mode below the triggerer: the watcher's look and the trigger's event loop against each lead
source (the sandbox over HTTP, the clinic's own tables on MariaDB; the sources as
tests/helpers.py's SourceSetup drives them) and the IDENT database on MariaDB. (The whole path
through a real triggerer and scheduler is in tests/e2e/test_demo_smoke.py, which runs the demo's
watched integration.)"""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from ident_integrations.watch import LOOKUP_MAX_AGE, RESIGNAL_AFTER, LeadWatcher, NewLeadsTrigger
from tests.helpers import connection_json, lead_source, query

WATCHED = ("clinic_http", "uis", "flexbe", "top32", "clinic_db")  # NaPopravku's own way: its test below


@pytest.fixture
def source(request, clean_sandbox, monkeypatch):
    with lead_source(request.param, clean_sandbox, monkeypatch, request) as made:
        yield made


def watched_settings(source, **leads):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [
                {
                    "name": "site",
                    "service": source.service,
                    "conn_id": source.conn_id,
                    "leads": {"mode": "watch", "watch_seconds": 1, **source.leads_block(), **leads},
                }
            ],
        },
        "test",
    )
    return config.resolve("site", "leads")


def logged_requests(conn) -> int:
    return query(conn, "SELECT COUNT(*) FROM ident_exchange_log")[0][0]


@pytest.mark.parametrize("source", WATCHED, indirect=True)
def test_a_look_finds_only_what_is_not_stored_and_signals_each_lead_once(source, ident_mysql):
    source.add_bad()  # a record to quarantine, whatever the source's own data
    settings = watched_settings(source)
    watcher = LeadWatcher(settings)
    first = watcher.look()
    visible, bad = source.visible(), source.defects()
    assert len(first) == len(visible) > len(bad)  # every lead of the window and every bad record
    assert sum(key.startswith("reject|") for key in first) == len(bad)
    assert watcher.look() == []  # signalled once, not again while the import has not stored them

    result = import_leads(settings)
    assert (result.new, result.rejected) == (len(visible - bad), len(bad))  # the look saw what the import took
    assert result.new + result.rejected == len(first)
    logged = logged_requests(ident_mysql)
    assert logged > 0
    assert LeadWatcher(settings).look() == []  # stored and quarantined: pending no more (a restarted triggerer)

    source.add_new()
    new = watcher.look()
    assert len(new) == 1 and new[0].startswith(f"{source.new_id}|")
    assert logged_requests(ident_mysql) == logged  # the looks' requests are not logged, only the import's
    assert watcher.look() == []
    later = datetime.now(UTC) + RESIGNAL_AFTER
    assert watcher.look(later) == new  # still not stored after a while (a failed run): signalled again


@pytest.mark.parametrize("source", ["uis"], indirect=True)
def test_the_uis_groups_of_exclude_groups_are_asked_once_in_a_while_not_at_every_look(source, ident_mysql):
    messages = source.messages("id", "group_name")
    excluded = messages[0]["group_name"]
    settings = watched_settings(source, exclude_groups=[excluded])

    def group_requests() -> int:
        return source.sandbox.uis_stats(source.name)["calls_by_method"].get("get.group_employees", 0)

    result = import_leads(settings)  # stores every lead but the excluded group's (it asks the groups itself)
    assert result.excluded == sum(row["group_name"] == excluded for row in messages) > 0
    asked = group_requests()
    watcher = LeadWatcher(settings)
    now = datetime.now(UTC)
    for seconds in range(0, 70, 10):  # a minute of looks, every 10 s
        assert watcher.look(now + timedelta(seconds=seconds)) == []  # the excluded leads are not pending
    assert watcher.look(now + LOOKUP_MAX_AGE - timedelta(seconds=1)) == []
    assert group_requests() == asked + 1  # one request for all those looks
    assert watcher.look(now + timedelta(minutes=10)) == []  # asked again within minutes (a group renamed, added)
    assert group_requests() == asked + 2
    source.add_new()
    new = watcher.look(now + timedelta(minutes=10, seconds=10))
    assert len(new) == 1 and new[0].startswith(f"{source.new_id}|") and group_requests() == asked + 2


@pytest.mark.parametrize("source", ["clinic_http", "clinic_db"], indirect=True)
def test_the_trigger_fires_when_a_lead_appears_and_keeps_watching(source, ident_mysql, monkeypatch):
    import ident_integrations.watch as watch

    settings = watched_settings(source)
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
            source.add_new()
            payload = await asyncio.wait_for(events.get(), 10)
            assert payload["integration"] == "site" and payload["new"] == 1
            assert payload["keys"][0].startswith(f"{source.new_id}|")
            source.add_new(3)
            payload = await asyncio.wait_for(events.get(), 10)  # the same trigger goes on watching
            assert payload["new"] == 1 and payload["keys"][0].startswith(f"{source.new_id}|")
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
