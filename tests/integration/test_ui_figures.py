"""The Integrations page's figures (plugins/ident_ui/figures.py) on MariaDB and SQLite (the demo's):
clinic days, not UTC days; only the DAGs a viewer may read; the exchange log's status filter; masking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.tables import calls, exchange_log, leads, rejects

MOSCOW = ZoneInfo("Europe/Moscow")
# Half past midnight in Moscow: 21:30 UTC of the day before, so clinic days and UTC days differ.
NOW = datetime(2026, 3, 10, 0, 30, tzinfo=MOSCOW).astimezone(UTC)
ALL_DAGS = ("ident_leads__site", "ident_leads__telephony", "ident_calls__telephony")


def catalog():
    from ident_ui.catalog import Catalog, CatalogRow

    rows = [
        CatalogRow(dag_id.split("__")[1], "svc", dag_id[6:].split("__")[0], dag_id, 2, False) for dag_id in ALL_DAGS
    ]
    return Catalog(rows=tuple(rows), timezone=MOSCOW, ident_conn_id="ident_db")


def viewer(*dags: str, personal: bool = False):
    from ident_ui.access import Viewer

    return Viewer(user=None, readable_dags=frozenset(dags or ALL_DAGS), sees_personal_data=personal)


def lead(n: int, integration: str, at: datetime, **fields) -> dict:
    return {
        "integration": integration, "external_id": f"L{n}", "created_at": at, "phone_raw": "+79161234567",
        "phone": "+79161234567", "full_name": "Иванов Пётр", "raw_payload": "{}", "content_hash": f"{n:064d}",
        "first_loaded_at": at, "last_loaded_at": at, "utm_source": None, "utm_campaign": None, **fields,
    }  # fmt: skip


def call(n: int, at: datetime, lost: bool) -> dict:
    return {
        "integration": "telephony", "external_id": f"C{n}", "started_at": at, "finished_at": at, "direction": "in",
        "is_lost": lost, "contact_phone": "+79031112233", "raw_payload": "{}", "content_hash": f"{n:064d}",
        "first_loaded_at": at, "last_loaded_at": at,
    }  # fmt: skip


@pytest.fixture(params=[pytest.param("ident_mysql", marks=pytest.mark.mariadb), "ident_sqlite"])
def db(request):
    request.getfixturevalue(request.param)  # points ident_db at a fresh database of that kind
    database = IdentDatabase("ident_db")
    database.ensure_schema()
    before_midnight, after_midnight = NOW - timedelta(minutes=31), NOW - timedelta(minutes=29)
    with database.begin() as conn:
        conn.execute(
            leads.insert(),
            [
                lead(1, "site", after_midnight, utm_source="google", utm_campaign="implants"),
                lead(2, "site", before_midnight, utm_source="google", utm_campaign="implants"),
                lead(3, "telephony", after_midnight),
                lead(4, "site", NOW - timedelta(days=31)),  # before the charts' 30 days
            ],
        )
        conn.execute(calls.insert(), [call(1, after_midnight, True), call(2, after_midnight, False)])
        conn.execute(
            rejects.insert(),
            [
                {"integration": "site", "capability": "leads", "record_hash": "1" * 64, "raw_payload": "{}",
                 "reason": "ClientPhone '8 (916) 123-45-67 доб. 2' is not one number", "seen_at": after_midnight},
                {"integration": "site", "capability": "leads", "record_hash": "2" * 64, "raw_payload": "{}",
                 "reason": "DateTime is missing", "seen_at": before_midnight},
            ],
        )  # fmt: skip
        conn.execute(
            exchange_log.insert(),
            [
                {"integration": "site", "capability": "leads", "method": "GET", "url": f"https://x/T?page={n}",
                 "http_status": status, "duration_ms": 5, "error_text": error, "logged_at": NOW - timedelta(minutes=n)}
                for n, status, error in ((1, 200, None), (2, 503, "busy"), (3, None, "timed out"), (4, 200, None))
            ],
        )  # fmt: skip
    with database.engine.connect() as conn:
        yield conn


def test_today_is_the_clinics_day_and_only_readable_dags_are_shown(db):
    from ident_ui import figures

    rows = figures.overview(db, catalog(), viewer(), NOW)
    shown = {row["dag_id"]: (row["loaded_today"], row["rejects_today"]) for row in rows}
    assert shown == {"ident_leads__site": (1, 1), "ident_leads__telephony": (1, 0), "ident_calls__telephony": (2, 0)}
    site = next(row for row in rows if row["dag_id"] == "ident_leads__site")
    assert site["last_service_error"]["error"] == "busy"  # the newest failed exchange

    only_site = figures.overview(db, catalog(), viewer("ident_leads__site"), NOW)
    assert [row["dag_id"] for row in only_site] == ["ident_leads__site"]


def test_charts_bucket_by_clinic_day_over_30_days_for_readable_sources(db):
    from ident_ui import figures

    charts = figures.charts(db, catalog(), viewer(), NOW)
    assert len(charts["days"]) == 30 and charts["days"][-1] == "2026-03-10"
    assert charts["leads_per_day"]["site"][-2:] == [1, 1]  # 23:59 on the 9th, 00:01 on the 10th
    assert charts["leads_per_day"]["telephony"][-1] == 1
    assert charts["calls_per_day"][-1] == 2 and charts["lost_calls_per_day"][-1] == 1
    assert charts["leads_by_utm"][0] == {"source": "google", "campaign": "implants", "leads": 2}

    leads_only = figures.charts(db, catalog(), viewer("ident_leads__site"), NOW)
    assert set(leads_only["leads_per_day"]) == {"site"} and sum(leads_only["calls_per_day"]) == 0


@pytest.mark.parametrize(
    ("status", "expected"), [("all", [200, 503, None, 200]), ("ok", [200, 200]), ("error", [503, None]), ("503", [503])]
)
def test_the_exchange_log_is_newest_first_and_filtered_by_status(db, status, expected):
    from ident_ui import figures

    rows = figures.exchange_log_rows(db, "site", ["leads"], viewer(), status, limit=10)
    assert [row["http_status"] for row in rows] == expected
    assert figures.exchange_log_rows(db, "site", ["calls"], viewer(), status, limit=10) == []


def test_personal_data_is_masked_unless_the_viewer_may_read_connections(db):
    from ident_ui import figures

    masked = figures.reject_rows(db, "site", ["leads"], viewer(), limit=10)
    assert masked[0]["reason"] == "ClientPhone '8 *** ***-45-67 доб. 2' is not one number"
    full = figures.reject_rows(db, "site", ["leads"], viewer(personal=True), limit=10)
    assert full[0]["reason"] == "ClientPhone '8 (916) 123-45-67 доб. 2' is not one number"
    assert [(row["name"], row["phone"]) for row in figures.recent_leads(db, "telephony", viewer())] == [
        ("И*** П***", "+7 *** ***-45-67")
    ]
    assert figures.recent_calls(db, "telephony", viewer(personal=True))[0]["phone"] == "+79031112233"
