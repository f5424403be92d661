"""The Integrations page (plugins/ident_ui) in a real Airflow API server: its own AIRFLOW_HOME
(SQLite metadata: the API server alone, and the CLI before it), SimpleAuthManager users admin and
viewer, the DAGs of a small integrations file serialized, runs made and marked through the REST API,
and an IDENT database on MariaDB filled with known leads, calls, rejects and exchange-log rows.

Anonymous requests are refused; then headless Chromium (Debian's, driven by Playwright) logs in
through Airflow's login form, opens the page from the UI's navigation and compares what it shows
with the database, as admin (full personal data) and as viewer (masked). 30 to 60 seconds.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from tests.conftest import (
    MYSQL_HOST,
    MYSQL_PASSWORD,
    MYSQL_PORT,
    MYSQL_USER,
    _mysql_connect,
    _scratch_database,
    _unavailable,
)
from tests.helpers import free_port, query, start_group, stop_group, wait_until_up

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
MOSCOW = ZoneInfo("Europe/Moscow")
USERS = {"admin": "admin", "viewer": "viewer"}  # SimpleAuthManager roles of the same names
SECRET = "s3cr3t-token-value"  # in a stored error text: must never reach the page
pytestmark = pytest.mark.e2e

CONFIG = {
    "clinic": {"timezone": "Europe/Moscow", "ident_conn_id": "ident_db"},
    "cache_check": {"enabled": False},
    "integrations": [
        {"name": "site", "service": "clinic_http", "conn_id": "clinic_site", "leads": {}, "schedule": {}},
        {"name": "telephony", "service": "uis", "conn_id": "uis_main", "leads": {}, "calls": {}},
    ],
}


# --- the IDENT database's known rows ----------------------------------------------------------------


def seed(engine, now: datetime) -> None:
    """Leads, calls, rejects, exchange log and a schedule push: some today (clinic time), some on
    earlier days of the charts' 30, one outside them."""
    from ident_integrations.store.tables import calls, exchange_log, leads, rejects, schedule_pushes

    midnight = datetime.combine(now.astimezone(MOSCOW).date(), datetime.min.time(), tzinfo=MOSCOW).astimezone(UTC)

    def today(minutes: int) -> datetime:
        """``minutes`` (at most 60) ago, or proportionally less just after the clinic's midnight: always
        today, and in the same order."""
        return now - min(timedelta(minutes=minutes), (now - midnight) * minutes / 61)

    def lead(n, integration, at, name, phone, utm=(None, None)):
        return {
            "integration": integration, "external_id": f"L{n}", "created_at": at, "phone_raw": phone,
            "phone": phone, "full_name": name, "form_name": "Запись", "utm_source": utm[0], "utm_campaign": utm[1],
            "raw_payload": "{}", "content_hash": f"{n:064d}", "first_loaded_at": at, "last_loaded_at": at,
        }  # fmt: skip

    def call(n, at, lost):
        return {
            "integration": "telephony", "external_id": f"C{n}", "started_at": at,
            "finished_at": at + timedelta(minutes=2), "direction": "in", "is_lost": lost,
            "contact_phone": f"+7903000{n:04d}", "talk_seconds": 0 if lost else 95,
            "employee_name": "Оператор", "raw_payload": "{}", "content_hash": f"{n:064d}",
            "first_loaded_at": at, "last_loaded_at": at,
        }  # fmt: skip

    day = timedelta(days=1)
    lead_rows = [
        lead(1, "site", today(5), "Иванов Пётр Сергеевич", "+79161234567", ("google", "implants")),
        lead(2, "site", today(6), "Смирнова Анна", "+79167654321", ("yandex", "brand")),
        lead(3, "site", today(7), "Кузнецов Илья", "+79160000003", ("yandex", "brand")),
        lead(4, "site", now - 3 * day, "Попова Ольга", "+79160000004", ("yandex", "brand")),
        lead(5, "site", now - 3 * day, "Васильев Олег", "+79160000005"),
        lead(6, "telephony", today(8), "Новиков Павел", "+79160000006"),
        lead(7, "telephony", now - 5 * day, "Фёдорова Мария", "+79160000007", ("vk", "promo")),
        lead(8, "telephony", now - 5 * day, "Морозов Артём", "+79160000008", ("vk", "promo")),
        lead(9, "site", now - 40 * day, "Волков Иван", "+79160000009", ("old", "old")),  # outside the 30 days
    ]
    call_rows = [call(n, today(10 + n), n == 0) for n in range(4)]
    call_rows += [call(10 + n, now - day, n < 3) for n in range(10)]
    call_rows += [call(30 + n, now - 10 * day, False) for n in range(5)]

    def reject(n, integration, capability, at, reason):
        return {
            "integration": integration, "capability": capability, "record_hash": f"{n:064d}",
            "external_id": f"R{n}", "raw_payload": '{"phone": "+79169999999"}', "reason": reason, "seen_at": at,
        }  # fmt: skip

    reject_rows = [
        reject(1, "site", "leads", today(3), "ClientPhone '+7 916 765-43-21 звонить' must be a single number"),
        reject(2, "site", "leads", today(4), "DateTime is missing"),
        reject(3, "site", "leads", now - day, "DateTime is missing"),
        reject(4, "telephony", "calls", today(5), "finish_time before start_time"),
    ]

    def exchange(n, integration, capability, at, status, error=None, url=None):
        return {
            "integration": integration, "capability": capability, "method": "GET",
            "url": url or f"https://clinic.example/GetTickets?page={n}", "http_status": status,
            "duration_ms": 100 + n, "error_text": error, "logged_at": at,
        }  # fmt: skip

    exchange_rows = [
        exchange(1, "site", "leads", today(9), 200),
        exchange(2, "site", "leads", today(8), 200, url="https://clinic.example/GetTickets?key=plain-key&phone=%2B79161234567"),
        exchange(3, "site", "leads", today(7), 503, "Service Unavailable"),
        exchange(4, "site", "leads", today(6), 401, f"Invalid credentials: Authorization: Bearer {SECRET}"),
        exchange(5, "site", "leads", today(5), 200),
        exchange(6, "telephony", "calls", today(4), None, "timed out after 45 s"),
        exchange(7, "telephony", "calls", today(3), 200),
    ]  # fmt: skip
    push = {"integration": "site", "part": "slots", "payload_hash": "0" * 64, "pushed_at": today(2), "items": 120}
    with engine.begin() as conn:
        conn.execute(leads.insert(), lead_rows)
        conn.execute(calls.insert(), call_rows)
        conn.execute(rejects.insert(), reject_rows)
        conn.execute(exchange_log.insert(), exchange_rows)
        conn.execute(schedule_pushes.insert(), [push])


def clinic_day(column: str) -> str:
    """SQL for a UTC column's clinic day, worked out apart from the page's code (Moscow has no DST)."""
    return f"DATE({column} + INTERVAL 3 HOUR)"


# --- Airflow: its API server with the project's plugins -----------------------------------------------


class ApiServer:
    """`airflow api-server` in its own home, with the project's environment (scripts/airflow-env.sh)."""

    def __init__(self, home: Path, env: dict[str, str]):
        self.home, self.port = home, free_port()
        self.base = f"http://localhost:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "IDENT_TEST"))}
        self.env.update(env, DEMO_HOME=str(home), DEMO_AIRFLOW_PORT=str(self.port))
        self.proc: subprocess.Popen | None = None
        self.tokens: dict[str, str] = {}
        home.mkdir(parents=True)
        (home / "demo-passwords.json").write_text(json.dumps(USERS))

    def _shell(self, command: str) -> str:
        users = ",".join(f"{name}:{name}" for name in USERS)  # name:role
        return f"source scripts/airflow-env.sh && export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS={users} && {command}"

    def airflow(self, *args: str) -> None:
        command = self._shell("exec airflow " + " ".join(f"'{a}'" for a in args))
        result = subprocess.run(["bash", "-c", command], cwd=ROOT, env=self.env, capture_output=True, text=True)
        assert result.returncode == 0, f"airflow {args[:2]}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"

    def __enter__(self) -> ApiServer:
        self.proc = start_group(self._shell("exec airflow api-server"), ROOT, self.env, self.home / "api-server.log")

        def logged_in() -> bool:
            self.tokens = {user: self.login(user) for user in USERS}
            return True

        if not wait_until_up(logged_in, self.proc, seconds=120, interval=1):
            self.__exit__()
            pytest.fail("airflow api-server did not start:\n" + self.log_tail(), pytrace=False)
        return self

    def __exit__(self, *exc: object) -> None:
        stop_group(self.proc, timeout=30)

    def log_tail(self) -> str:
        return (self.home / "api-server.log").read_text(errors="replace")[-3000:]

    def login(self, user: str) -> str:
        return self.request("POST", "/auth/token", {"username": user, "password": USERS[user]})["access_token"]

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None) -> dict:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)

    def status(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
        """The status and body of a GET, whatever the status."""
        request = urllib.request.Request(self.base + path, headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def run(self, dag_id: str, run_id: str, state: str, ago: timedelta) -> None:
        """A run of ``dag_id`` made through the REST API and marked ``state`` (no scheduler runs it)."""
        admin = self.tokens["admin"]
        run_after = (datetime.now(UTC) - ago).isoformat()
        body = {"dag_run_id": run_id, "logical_date": None, "run_after": run_after}
        self.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body, admin)
        self.request("PATCH", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}", {"state": state}, admin)


@pytest.fixture(scope="module")
def page_stack(tmp_path_factory):
    """(the API server, the IDENT database's DB-API connection) with the known rows and runs."""
    from sqlalchemy import create_engine

    if not Path(CHROMIUM).exists():
        _unavailable("browser", f"no Chromium at {CHROMIUM}: run scripts/setup.sh (it installs Debian's chromium)")

    from ident_integrations.store import migrate

    tmp = tmp_path_factory.mktemp("integrations-page")
    config_file = tmp / "integrations.yaml"
    config_file.write_text(yaml.safe_dump(CONFIG))
    with _scratch_database("ident_page") as database:
        url = f"mysql+mysqldb://{MYSQL_USER}:{MYSQL_PASSWORD}@{MYSQL_HOST}:{MYSQL_PORT}/{database}?charset=utf8mb4"
        engine = create_engine(url)
        migrate.upgrade(engine)
        seed(engine, datetime.now(UTC))
        engine.dispose()
        server = ApiServer(tmp / "airflow", {"IDENT_INTEGRATIONS_FILE": str(config_file)})
        server.airflow("db", "migrate")
        # ident_db stored in Airflow (as the demo stores it), not in this process's environment
        server.airflow("connections", "add", "ident_db", "--conn-type", "mysql", "--conn-host", MYSQL_HOST,
                       "--conn-port", str(MYSQL_PORT), "--conn-login", MYSQL_USER, "--conn-password", MYSQL_PASSWORD,
                       "--conn-schema", database, "--conn-extra", '{"charset": "utf8mb4"}')  # fmt: skip
        server.airflow("dags", "reserialize")
        with server:
            # site's leads: green; telephony's leads: failed after its last success; site's schedule: no run
            server.run("ident_leads__site", "ok_1", "success", timedelta(minutes=3))
            server.run("ident_leads__telephony", "ok_1", "success", timedelta(minutes=30))
            server.run("ident_leads__telephony", "failed_1", "failed", timedelta(minutes=4))
            server.run("ident_calls__telephony", "ok_1", "success", timedelta(minutes=50))
            conn = _mysql_connect(database)
            try:
                yield server, conn
            finally:
                conn.close()


# --- the checks ---------------------------------------------------------------------------------------

DATA_ENDPOINTS = ("/ident/api/overview", "/ident/api/integrations/site", "/ident/api/integrations/site/exchange-log")


def test_anonymous_and_forged_requests_are_refused(page_stack):
    server, _ = page_stack
    for path in DATA_ENDPOINTS + ("/ident/static/page.js",):
        assert server.status(path)[0] == 401, path
        assert server.status(path, {"Authorization": "Bearer not-a-jwt"})[0] == 403, path
    status, body = server.status("/ident/")
    assert status == 401 and "/auth/login" in body  # the page itself says where to log in
    # a logged-in viewer gets 404 for an integration the file does not have, and for the static folder's other files
    viewer = {"Authorization": f"Bearer {server.tokens['viewer']}"}
    assert server.status("/ident/api/integrations/nope", viewer)[0] == 404
    assert server.status("/ident/static/index.html", viewer)[0] == 404
    assert server.status("/ident/api/overview", viewer)[0] == 200


def expected_overview(conn, now: datetime) -> dict[tuple[str, str], tuple[int, int]]:
    """(loaded today, rejects today) per integration and capability, straight from the database."""
    today = now.astimezone(MOSCOW).date().isoformat()

    def today_by_integration(capability: str, table: str, at: str, value: str = "COUNT(*)") -> dict:
        sql = f"SELECT integration, {value} FROM {table} WHERE {clinic_day(at)} = %s GROUP BY integration"
        return {(integration, capability): int(n) for integration, n in query(conn, sql, (today,))}

    loaded = {
        **today_by_integration("leads", "ident_leads", "first_loaded_at"),
        **today_by_integration("calls", "ident_calls", "first_loaded_at"),
        **today_by_integration("schedule", "ident_schedule_pushes", "pushed_at", "SUM(items)"),
    }
    sql = (
        f"SELECT integration, capability, COUNT(*) FROM ident_rejects WHERE {clinic_day('seen_at')} = %s GROUP BY 1, 2"
    )
    rejected = {(integration, capability): n for integration, capability, n in query(conn, sql, (today,))}
    keys = [(i["name"], c) for i in CONFIG["integrations"] for c in ("leads", "calls", "schedule") if c in i]
    return {key: (loaded.get(key, 0), rejected.get(key, 0)) for key in keys}


def open_page(browser, server: ApiServer, user: str):
    """Log in through Airflow's own form, open the page from the UI's navigation; its frame."""
    context = browser.new_context(viewport={"width": 1400, "height": 1800})
    page = context.new_page()
    page.goto(f"{server.base}/auth/login?next={server.base}/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", USERS[user])
    page.click("button[type=submit]")
    page.get_by_role("link", name="Integrations").click()  # the plugin's entry in the UI's navigation
    page.wait_for_url("**/plugin/ident-integrations")
    frame = page.frame_locator("iframe").first
    frame.locator("body[data-state=ready]").wait_for(timeout=30000)
    return page, frame


def cells(frame, table: str, field: str) -> list[str]:
    return frame.locator(f"#{table} tbody [data-field={field}]").all_inner_texts()


def test_page_shows_the_database_figures_and_masks_patients_for_viewers(page_stack):
    from playwright.sync_api import expect, sync_playwright

    server, conn = page_stack
    now = datetime.now(UTC)
    expected = expected_overview(conn, now)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page, frame = open_page(browser, server, "admin")

            # one row per integration and capability, its figures as the database has them
            rows = frame.locator("#overview tbody tr")
            shown = {}
            for i in range(rows.count()):
                row = rows.nth(i)
                key = (row.get_attribute("data-integration"), row.get_attribute("data-dag-id").split("__")[0][6:])
                loaded = row.locator("[data-field=loaded_today]").get_attribute("data-value")
                rejected = row.locator("[data-field=rejects_today]").get_attribute("data-value")
                shown[key] = (int(loaded), int(rejected))
            assert shown == expected
            assert expected[("site", "leads")] == (3, 2) and expected[("site", "schedule")] == (120, 0)

            # the runs' health, from the REST API: green, failing (with the failed run linked), never run
            health = {
                "ident_leads__site": "ok",
                "ident_leads__telephony": "failing",
                "ident_schedule__site": "never",
                "ident_calls__telephony": "ok",
            }
            assert {
                dag: frame.locator(f"tr[data-dag-id={dag}]").get_attribute("data-state") for dag in health
            } == health
            failed = frame.locator("tr[data-dag-id=ident_leads__telephony] [data-field=last_error] a")
            assert failed.get_attribute("href").endswith("/dags/ident_leads__telephony/runs/failed_1")
            site_error = frame.locator("tr[data-dag-id=ident_leads__site] [data-field=service_error]").inner_text()
            assert "401" in site_error and SECRET not in site_error  # the newest failed exchange, credential hidden

            check_charts(frame, conn, now)
            check_detail(frame, conn)
            check_personal_data(frame, full=True)
            show_site_and_save(page, frame, "integrations-page.png")
            assert SECRET not in frame.locator("body").inner_text()
            failed.click()  # opens in the UI itself, around the page's frame
            page.wait_for_url("**/dags/ident_leads__telephony/runs/failed_1")
            expect(page.locator("iframe")).to_have_count(0)

            page, frame = open_page(browser, server, "viewer")
            check_personal_data(frame, full=False)
            show_site_and_save(page, frame, "integrations-page-viewer.png")
            assert frame.locator("#viewer").get_attribute("data-personal-data") == "masked"
            frame.locator("#overview tbody tr").first.wait_for()
            assert frame.locator("#overview tbody tr").count() == len(expected)  # viewers read DAGs too
        finally:
            browser.close()


def show_site_and_save(page, frame, name: str) -> None:
    frame.locator("#integration").select_option("site")
    frame.locator("#detail[data-state=ready]").wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name), full_page=True)


def check_charts(frame, conn, now: datetime) -> None:
    """Each chart's marks against the database, per clinic day of the last 30."""
    first_day = (now.astimezone(MOSCOW) - timedelta(days=29)).date().isoformat()
    for source in ("site", "telephony"):
        marks = frame.locator(f"#chart-leads rect[data-series={source}]")
        shown = {marks.nth(i).get_attribute("data-label"): int(marks.nth(i).get_attribute("data-value"))
                 for i in range(marks.count())}  # fmt: skip
        in_db = query(conn, f"SELECT {clinic_day('created_at')} d, COUNT(*) FROM ident_leads WHERE integration = %s"
                      " GROUP BY d HAVING d >= %s", (source, first_day))  # fmt: skip
        assert shown == {day.isoformat(): n for day, n in in_db}, source

    bars = frame.locator("#chart-utm rect")
    shown_utm = Counter({bars.nth(i).get_attribute("data-label"): int(bars.nth(i).get_attribute("data-value"))
                         for i in range(bars.count())})  # fmt: skip
    in_db = query(conn, "SELECT COALESCE(utm_source, '(none)'), COALESCE(utm_campaign, '(none)'), COUNT(*)"
                  f" FROM ident_leads WHERE {clinic_day('created_at')} >= %s GROUP BY 1, 2", (first_day,))  # fmt: skip
    assert shown_utm == Counter({f"{source} / {campaign}": n for source, campaign, n in in_db})

    calls = {}
    for mark in ("rect", "circle"):
        found = frame.locator(f"#chart-calls {mark}")
        calls[mark] = {found.nth(i).get_attribute("data-label"): found.nth(i) for i in range(found.count())}
    in_db = query(conn, f"SELECT {clinic_day('started_at')} d, COUNT(*), SUM(is_lost) FROM ident_calls"
                  " GROUP BY d HAVING d >= %s", (first_day,))  # fmt: skip
    assert len(calls["rect"]) == 30 and in_db
    for day, total, lost in in_db:
        assert int(calls["rect"][day.isoformat()].get_attribute("data-value")) == total
        point = calls["circle"][day.isoformat()]
        assert int(point.get_attribute("data-part")) == lost
        assert float(point.get_attribute("data-value")) == round(100 * lost / total, 1)
    assert {label for label, rect in calls["rect"].items() if rect.get_attribute("data-value") != "0"} == {
        day.isoformat() for day, *_ in in_db
    }


def check_detail(frame, conn) -> None:
    """site's exchange log (newest first, filtered by status, no credential) and its rejects."""
    frame.locator("#integration").select_option("site")
    frame.locator("#detail[data-state=ready]").wait_for()
    in_db = query(conn, "SELECT http_status FROM ident_exchange_log WHERE integration = 'site' ORDER BY logged_at DESC")
    assert cells(frame, "exchange-log", "http_status") == [str(status) for (status,) in in_db]
    requests = cells(frame, "exchange-log", "request")
    assert any("key=***" in text for text in requests) and not any("plain-key" in text for text in requests)

    frame.locator("#status").select_option("error")
    frame.locator("#detail[data-state=ready]").wait_for()
    assert cells(frame, "exchange-log", "http_status") == ["401", "503"]
    errors = cells(frame, "exchange-log", "error")
    assert errors[0] == "Invalid credentials: Authorization: ***" and errors[1] == "Service Unavailable"

    reasons = query(conn, "SELECT reason FROM ident_rejects WHERE integration = 'site' ORDER BY seen_at DESC")
    assert len(cells(frame, "rejects", "reason")) == len(reasons) == 3
    frame.locator("#status").select_option("all")
    frame.locator("#detail[data-state=ready]").wait_for()


def check_personal_data(frame, full: bool) -> None:
    """Patients' names and phones in full for who may read connections (admin), masked otherwise."""
    frame.locator("#integration").select_option("site")
    frame.locator("#detail[data-state=ready]").wait_for()
    leads = dict(zip(cells(frame, "recent-leads", "name"), cells(frame, "recent-leads", "phone"), strict=True))
    reasons = cells(frame, "rejects", "reason")
    requests = " ".join(cells(frame, "exchange-log", "request"))
    if full:
        assert leads["Иванов Пётр Сергеевич"] == "+79161234567"
        assert "ClientPhone '+7 916 765-43-21 звонить' must be a single number" in reasons
        assert "phone=+79161234567" in requests
    else:
        assert leads["И*** П*** С***"] == "+7 *** ***-45-67"
        assert "ClientPhone '+7 *** ***-43-21 звонить' must be a single number" in reasons
        assert "phone=+7 *** ***-45-67" in requests and "79161234567" not in frame.locator("body").inner_text()
    frame.locator("#integration").select_option("telephony")
    frame.locator("#detail[data-state=ready]").wait_for()
    phones = cells(frame, "recent-calls", "phone")
    assert phones and all(phone.startswith("+7 *** ***-") != full for phone in phones)
