"""import_leads end to end below Airflow's scheduler: sandbox over HTTP → validation → a real IDENT
database (MariaDB, and SQLite as the demo uses)."""

import json
import sqlite3
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_hooks.exchange import ServiceAuthError
from ident_integrations.capabilities.leads import import_leads
from ident_integrations.config import parse_config
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.leads import LeadStore
from tests.helpers import as_utc, query


def settings_for(conn_id: str, name: str = "site", **leads):
    config = parse_config(
        {
            "defaults": {"request_backoff_seconds": 0.01},
            "integrations": [{"name": name, "service": "clinic_http", "conn_id": conn_id, "leads": leads}],
        },
        "test",
    )
    return config.resolve(name, "leads")


@pytest.fixture(params=["mariadb", "sqlite"])
def ident_db(request):
    """A DB-API connection to the IDENT database the code under test writes."""
    if request.param == "mariadb":
        yield request.getfixturevalue("ident_mysql")
    else:
        conn = sqlite3.connect(request.getfixturevalue("ident_sqlite"))
        yield conn
        conn.close()


@pytest.fixture
def fresh_tenant(clean_sandbox):
    """A tenant name no other test used, so its leads start untouched."""
    return f"t_{uuid.uuid4().hex[:12]}"


def start_date_covering_catalogue(sandbox) -> date:
    return (sandbox.start_time - timedelta(days=4)).date()


def test_first_run_loads_the_back_catalogue_and_quarantines_invalid_leads(
    clean_sandbox, clinic_conn, ident_db, fresh_tenant
):
    settings = settings_for(
        clinic_conn(clean_sandbox, fresh_tenant), start_date=start_date_covering_catalogue(clean_sandbox)
    )
    stats = clean_sandbox.stats(fresh_tenant)
    defects = clean_sandbox.defects(fresh_tenant)

    result = import_leads(settings)

    assert result.fetched == stats["total_visible"] > 50
    assert result.rejected == len(defects) > 0
    assert result.new == result.fetched - result.rejected
    stored = {row[0] for row in query(ident_db, "SELECT external_id FROM ident_leads")}
    assert len(stored) == result.new
    assert not stored & set(defects)  # no invalid lead slipped in
    rejected = dict(query(ident_db, "SELECT external_id, reason FROM ident_rejects"))
    assert set(rejected) == set(defects)
    assert all(reason for reason in rejected.values())
    # raw payload kept, phones normalised, original kept
    raw, phone, phone_raw = query(ident_db, "SELECT raw_payload, phone, phone_raw FROM ident_leads LIMIT 1")[0]
    assert json.loads(raw)["ClientPhone"] in (phone_raw, int(phone_raw) if phone_raw.isdigit() else None)
    assert phone is None or (phone.startswith("+7") and len(phone) == 12)
    # watermark is the newest stored lead, the exchange log has the requests without the key
    (watermark,) = query(ident_db, "SELECT watermark FROM ident_sync_state WHERE integration = 'site'")[0]
    assert watermark is not None
    urls = [row[0] for row in query(ident_db, "SELECT url FROM ident_exchange_log")]
    assert urls and all(clean_sandbox.key not in url and "GetTickets" in url for url in urls)


def test_rerun_changes_nothing_then_loads_only_new_and_changed(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(
        clinic_conn(clean_sandbox, fresh_tenant), start_date=start_date_covering_catalogue(clean_sandbox)
    )
    first = import_leads(settings)
    snapshot = query(ident_db, "SELECT external_id, last_loaded_at FROM ident_leads ORDER BY external_id")

    again = import_leads(settings)
    assert (again.new, again.updated) == (0, 0)
    assert query(ident_db, "SELECT external_id, last_loaded_at FROM ident_leads ORDER BY external_id") == snapshot
    assert query(ident_db, "SELECT COUNT(*) FROM ident_rejects")[0][0] == first.rejected

    # a lead inside the next window (which starts at 00:00 of the newest lead's date)
    newest_id = query(ident_db, "SELECT external_id FROM ident_leads ORDER BY created_at DESC LIMIT 1")[0][0]
    moment = clean_sandbox.now() - timedelta(minutes=1)
    clean_sandbox.add_ticket(
        fresh_tenant,
        {"Id": "fresh-1", "DateAndTime": moment.isoformat(), "ClientPhone": "8 (912) 345-67-89", "ClientName": "Анна"},
    )
    clean_sandbox.patch_ticket(fresh_tenant, newest_id, {"Comment": "перезвонить вечером"})
    third = import_leads(settings)
    assert (third.new, third.updated) == (1, 1)
    assert query(ident_db, "SELECT phone FROM ident_leads WHERE external_id = 'fresh-1'") == [("+79123456789",)]
    assert query(ident_db, f"SELECT comment FROM ident_leads WHERE external_id = '{newest_id}'") == [
        ("перезвонить вечером",)
    ]
    assert query(ident_db, "SELECT COUNT(*) FROM ident_leads")[0][0] == first.new + 1


def test_window_starts_at_midnight_of_newest_stored_lead(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(
        clinic_conn(clean_sandbox, fresh_tenant), start_date=start_date_covering_catalogue(clean_sandbox)
    )
    import_leads(settings)
    import_leads(settings)
    start, watermark = query(ident_db, "SELECT last_window_start, watermark FROM ident_sync_state")[0]
    start, watermark = as_utc(start), as_utc(watermark)
    msk = settings.tz
    assert start.astimezone(msk).date() == watermark.astimezone(msk).date()
    assert start.astimezone(msk).time().isoformat() == "00:00:00"


def test_first_run_without_start_date_starts_today(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(clinic_conn(clean_sandbox, fresh_tenant))
    result = import_leads(settings)
    enabled_on, start = query(ident_db, "SELECT enabled_on, last_window_start FROM ident_sync_state")[0]
    today = datetime.now(settings.tz).date()
    assert str(enabled_on) == today.isoformat()
    assert as_utc(start).astimezone(settings.tz).date() == today
    assert result.fetched < clean_sandbox.stats(fresh_tenant)["total_visible"]  # the older catalogue is not loaded


def test_auth_failure_loads_nothing_but_logs_the_exchange(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(clinic_conn(clean_sandbox, fresh_tenant))
    clean_sandbox.set_faults("clinic_http", auth_failure=True)
    with pytest.raises(ServiceAuthError, match="Integration key revoked"):
        import_leads(settings)
    assert query(ident_db, "SELECT COUNT(*) FROM ident_leads")[0][0] == 0
    assert query(ident_db, "SELECT http_status, error_text FROM ident_exchange_log") == [
        (401, "Integration key revoked by the clinic administrator")
    ]


def test_from_date_repulls_an_earlier_day(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(clinic_conn(clean_sandbox, fresh_tenant))
    today_only = import_leads(settings)
    repull = import_leads(settings, from_date=start_date_covering_catalogue(clean_sandbox))
    assert repull.new > 0 and repull.fetched > today_only.fetched


def test_store_rejects_a_connection_of_the_wrong_type(monkeypatch):
    from tests.helpers import connection_json

    monkeypatch.setenv("AIRFLOW_CONN_IDENT_DB", connection_json(conn_type="http", host="example"))
    with pytest.raises(ValueError, match="must be one of"):
        IdentDatabase("ident_db")


def test_all_datetimes_are_stored_in_utc(clean_sandbox, clinic_conn, ident_db, fresh_tenant):
    settings = settings_for(clinic_conn(clean_sandbox, fresh_tenant))
    clean_sandbox.add_ticket(
        fresh_tenant,
        {
            "Id": "tz-1",
            "DateAndTime": (clean_sandbox.now() - timedelta(minutes=5)).replace(microsecond=0).isoformat(),
            "ClientPhone": "+7 911 000 00 01",
            "PlanStart": "2030-01-10T10:00:00+03:00",
            "PlanEnd": "2030-01-10T10:30:00+03:00",
        },
    )
    import_leads(settings)
    (plan_start,) = query(ident_db, "SELECT plan_start FROM ident_leads WHERE external_id = 'tz-1'")[0]
    assert as_utc(plan_start) == datetime(2030, 1, 10, 7, 0, tzinfo=UTC)


def test_a_lead_dated_in_the_future_does_not_push_the_watermark_past_now(ident_db):
    from ident_integrations.records.leads import validate_leads

    now = datetime.now(UTC)
    leads, _ = validate_leads(
        [{"Id": "typo", "DateAndTime": "2031-01-01T10:00:00+03:00", "ClientPhone": "89110000002"}], ZoneInfo("UTC")
    )
    db = IdentDatabase("ident_db")
    db.ensure_schema()
    result = LeadStore(db, "future").save(1, leads, [], (now - timedelta(hours=1), now))
    assert result.new == 1  # the lead itself is kept
    (watermark,) = query(ident_db, "SELECT watermark FROM ident_sync_state WHERE integration = 'future'")[0]
    assert as_utc(watermark) <= now


def test_a_state_row_another_run_created_meanwhile_is_read_not_a_failure(ident_db, monkeypatch):
    """Two DAGs of a new integration start together: both find no state row, one inserts first. The
    race is forced (the losing run's insert replayed once), since two threads would hit it rarely."""
    from ident_integrations.store.base import CapabilityStore
    from ident_integrations.store.tables import sync_state

    db = IdentDatabase("ident_db")
    db.ensure_schema()
    first = LeadStore(db, "raced").sync_state(enabled_today=date(2026, 1, 5))  # the winning run's row
    original, raced = CapabilityStore._read_or_create_state, []

    def losing_run(self, conn, enabled_on):
        if not raced:  # it read nothing a moment ago and now inserts: the row is there by then
            raced.append(enabled_on)
            conn.execute(sync_state.insert().values(integration=self.integration, capability=self.capability,
                                                    enabled_on=enabled_on))  # fmt: skip
        return original(self, conn, enabled_on)

    monkeypatch.setattr(CapabilityStore, "_read_or_create_state", losing_run)
    assert LeadStore(db, "raced").sync_state(enabled_today=date(2026, 1, 6)) == first
    assert raced == [date(2026, 1, 6)]
    assert query(ident_db, "SELECT COUNT(*) FROM ident_sync_state WHERE integration = 'raced'") == [(1,)]
