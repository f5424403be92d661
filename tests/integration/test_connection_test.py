"""IDENT's "Проверить" for every service: the connection form's Test button and
`airflow connections test <id>` against the sandbox, good credentials and bad.

Each case is one service: a connection with the sandbox's key must test green, the same connection
with a wrong secret red with the service's own refusal in the message (never the secret itself).
The Test button is emulated as Airflow's API does it (``POST /connections/test``: the form's fields
as a transient ``AIRFLOW_CONN_…`` URI, then ``Connection.test_connection()``, so the URI round trip
of a JSON key or a host with a path is covered too); the CLI runs once for every connection, in one
process through Airflow's own entry point. A guard fails when a connection type of the local
provider, or a service of the registry, has no case here.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from tests.conftest import MYSQL_HOST, MYSQL_PASSWORD, MYSQL_PORT, MYSQL_USER
from tests.helpers import connection_json

BAD_SECRET = "bad-secret-4711"
ACCOUNT = "conntest"  # the sandbox makes an account of any name on first use


@dataclass(frozen=True)
class Env:
    base: str  # the sandbox's URL
    key: str  # the sandbox's key: the good secret of every service
    google_key: dict  # the sandbox's Google service-account key
    mysql_database: Callable[[], str]  # MariaDB's scratch database (asked only by clinic_db)


@dataclass(frozen=True)
class Case:
    conn_type: str
    good: dict  # the connection's fields
    bad: dict  # what differs in the connection with bad credentials
    success: str  # in the message of the good connection
    refusal: str  # the service's own text, in the message of the bad one
    faults: str | None = None  # the sandbox's fault-switch name (a revoked key), for HTTP services
    secrets: tuple[str, ...] = field(default=(BAD_SECRET,))  # never in any message


def _google_bad(env: Env) -> dict:
    # A key of an account the token endpoint does not know (Google: invalid_grant).
    other = "someone-else@ident-sandbox.iam.gserviceaccount.com"
    return {"password": json.dumps({**env.google_key, "client_email": other})}


CASES: dict[str, Callable[[Env], Case]] = {
    "clinic_http": lambda env: Case(
        "ident_clinic_http",
        {"host": f"{env.base}/clinic_http/{ACCOUNT}", "password": env.key},
        {"password": BAD_SECRET},
        success="GetTickets answered with",
        refusal="Wrong IDENT-Integration-Key: access denied",
        faults="clinic_http",
    ),
    "uis": lambda env: Case(
        "ident_uis",
        {"host": f"{env.base}/uis/clinic/v2.0", "password": env.key},
        {"password": BAD_SECRET},
        success="UIS account 'clinic'",
        refusal="Access token is invalid (access_token_invalid, code -32001)",
        faults="uis",
    ),
    "napopravku": lambda env: Case(
        "ident_napopravku",
        {"host": f"{env.base}/napopravku/{ACCOUNT}/api/v1", "password": env.key},
        {"password": BAD_SECRET},
        success="clinic(s) known",
        refusal="Unauthenticated.",
        faults="napopravku",
    ),
    "flexbe": lambda env: Case(
        "ident_flexbe",
        {"host": f"{env.base}/flexbe/{ACCOUNT}", "password": env.key},
        {"password": BAD_SECRET},
        success="accepted the key (checkConnection)",
        refusal="Invalid API key (code 0)",
        faults="flexbe",
    ),
    "top32": lambda env: Case(
        "ident_top32",
        {"host": f"{env.base}/top32/{ACCOUNT}/api/partner/v1", "password": env.key},
        {"password": BAD_SECRET},
        success=f"clinic 'Стоматология «Дента» ({ACCOUNT})'",
        refusal="Invalid API key (unauthorized, HTTP 401)",
        faults="top32",
    ),
    "sberzdorovie": lambda env: Case(
        "ident_sberzdorovie",
        {"host": f"{env.base}/sberzdorovie/{ACCOUNT}/mis/v1", "login": "partner.77", "password": env.key},
        {"password": BAD_SECRET},
        success=f"clinic 'Стоматология «Дента» ({ACCOUNT})'",
        refusal="Wrong login or password (HTTP 401)",
        faults="sberzdorovie",
    ),
    "prodoctorov": lambda env: Case(
        "ident_prodoctorov",
        {"host": f"{env.base}/prodoctorov/{ACCOUNT}/v2", "password": env.key},
        {"password": BAD_SECRET},
        success="token accepted",
        refusal="with 401: Invalid token.",
        faults="prodoctorov",
    ),
    "dadata": lambda env: Case(
        "ident_dadata",
        {"host": f"{env.base}/dadata", "login": env.key, "password": env.key},
        {"password": BAD_SECRET},
        success="keys accepted, balance",
        refusal="Invalid API key or secret key",
        faults="dadata",
    ),
    "smsc": lambda env: Case(
        "ident_smsc",
        {"host": f"{env.base}/smsc", "login": ACCOUNT, "password": env.key},
        {"password": BAD_SECRET},
        success="credentials accepted, balance",
        refusal="authorise error",
        faults="smsc",
    ),
    "google_calendar": lambda env: Case(
        "ident_google_calendar",
        {"host": f"{env.base}/google_calendar/", "password": json.dumps(env.google_key)},
        _google_bad(env),
        success=f"key of {env.google_key['client_email']} accepted",
        refusal="invalid_grant: Invalid grant: account not found",
        faults="google_calendar",
        secrets=("PRIVATE KEY", env.google_key["private_key_id"]),
    ),
    # The clinic's own tables: a stock SQL connection (MySQL here; MSSQL in a clinic, SQLite in the
    # demo), whose Test is the common-sql hook's SELECT 1 — the driver's own refusal on a bad login.
    "clinic_db": lambda env: Case(
        "mysql",
        dict(
            host=MYSQL_HOST,
            port=MYSQL_PORT,
            login=MYSQL_USER,
            password=MYSQL_PASSWORD,
            schema=env.mysql_database(),
            extra=json.dumps({"charset": "utf8mb4"}),
        ),
        {"login": "ident_no_such_user", "password": BAD_SECRET},
        success="Connection successfully tested",
        refusal="Access denied for user 'ident_no_such_user'",
    ),
}


# Stand-ins, for what the cases say before the sandbox runs (their types, which have fault switches).
PLACEHOLDER = Env("http://sandbox", "key", {"client_email": "x@sandbox", "private_key_id": "id"}, lambda: "db")
REVOCABLE = sorted(name for name, make in CASES.items() if make(PLACEHOLDER).faults)


@pytest.fixture(scope="module")
def env(sandbox, request) -> Env:
    return Env(
        base=sandbox.base_url,
        key=sandbox.key,
        google_key=sandbox._control("GET", "/google_calendar/service-account"),
        mysql_database=lambda: request.getfixturevalue("mariadb_database"),
    )


def test_every_connection_type_and_service_has_a_case():
    """A new service cannot skip "Проверить": its connection type and its registry entry need a
    case above, and its hook a test_connection of its own (HttpHook's default is an anonymous GET)."""
    import importlib

    import ident_hooks
    from ident_integrations.registry import SERVICES

    types = ident_hooks.get_provider_info()["connection-types"]
    covered = {make(PLACEHOLDER).conn_type for make in CASES.values()}
    assert {t["connection-type"] for t in types} - covered == set()
    assert set(SERVICES) - set(CASES) == set()
    for service in SERVICES.values():
        assert "test_connection" in vars(service.hook_class()), service.name
    for entry in types:
        module, _, name = entry["hook-class-name"].rpartition(".")
        assert "test_connection" in vars(getattr(importlib.import_module(module), name)), entry["hook-class-name"]


def _test_button(monkeypatch, conn_type: str, fields: dict) -> tuple[bool, str]:
    """What the form's Test button does (airflow.api_fastapi…routes.public.connections.test_connection)."""
    from airflow.models.connection import Connection

    conn = Connection(conn_id=f"test_{uuid.uuid4().hex[:8]}", conn_type=conn_type, **fields)
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn.conn_id.upper()}", conn.get_uri())
    return conn.test_connection()


def _assert_refused(case: Case, ok: bool, message: str) -> None:
    assert ok is False, message
    assert case.refusal in message, message
    assert all(secret not in message for secret in case.secrets if secret), message


@pytest.mark.parametrize("service", sorted(CASES))
def test_the_test_button_with_good_and_bad_credentials(service, env, monkeypatch):
    case = CASES[service](env)
    ok, message = _test_button(monkeypatch, case.conn_type, case.good)
    assert ok is True and case.success in message, message
    _assert_refused(case, *_test_button(monkeypatch, case.conn_type, {**case.good, **case.bad}))


@pytest.mark.parametrize("service", REVOCABLE)
def test_a_revoked_key_shows_the_services_own_text(service, env, sandbox, monkeypatch):
    from sandbox.faults import AUTH_FAILURE_TEXT

    case = CASES[service](env)
    sandbox.set_faults(case.faults, auth_failure=True)
    try:
        ok, message = _test_button(monkeypatch, case.conn_type, case.good)
    finally:
        sandbox.reset_faults(case.faults)
    assert ok is False and AUTH_FAILURE_TEXT in message, message


def test_the_clinic_db_hook_checks_the_login_and_the_tables(env, monkeypatch, tmp_path):
    """``ClinicDbHook.test_connection`` (what a clinic_db integration would check): SELECT 1, then
    each of the integration's tables; a refused login quotes the server."""
    from ident_hooks.clinic_db import ClinicDbHook

    case = CASES["clinic_db"](env)
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_DB_CONNTEST", connection_json(conn_type="mysql", **case.good))
    ok, message = ClinicDbHook("clinic_db_conntest").test_connection()
    assert ok and f"database {case.good['schema']!r}" in message, message
    ok, message = ClinicDbHook("clinic_db_conntest").test_connection(tables=("NoSuchTickets",))
    assert not ok and "has no table 'NoSuchTickets'" in message, message
    tables = tmp_path / "clinic.db"  # the demo's kind: SQLite, with the table an integration reads
    with sqlite3.connect(tables) as conn:
        conn.execute("CREATE TABLE Tickets (Id TEXT PRIMARY KEY, DateAndTime TEXT NOT NULL)")
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_DB_CONNTEST_SQLITE", connection_json(conn_type="sqlite", host=str(tables)))
    ok, message = ClinicDbHook("clinic_db_conntest_sqlite").test_connection(tables=("Tickets",))
    assert ok and message.startswith("connected to sqlite database") and "table(s) Tickets found" in message, message
    bad = connection_json(conn_type="mysql", **{**case.good, **case.bad})
    monkeypatch.setenv("AIRFLOW_CONN_CLINIC_DB_CONNTEST_BAD", bad)
    ok, message = ClinicDbHook("clinic_db_conntest_bad", request_attempts=1).test_connection()
    assert not ok and "refused the login" in message and case.refusal in message and BAD_SECRET not in message


# The CLI, once for every connection: Airflow's own entry point (`airflow connections test <id>`)
# called per connection in one process, so the 22 tests cost one interpreter start.
_CLI_DRIVER = """
import sys
from airflow.__main__ import main
for conn_id in sys.argv[1:]:
    print(f"@@@ begin {conn_id}", flush=True)
    sys.argv = ["airflow", "connections", "test", conn_id]
    try:
        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    sys.stdout.flush()
    print(f"@@@ end {conn_id} rc={code}", flush=True)
"""


def test_airflow_connections_test_for_every_service(env):
    cases = {service: make(env) for service, make in sorted(CASES.items())}
    cli_env = {**os.environ, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled", "COLUMNS": "100000"}
    conn_ids = []
    for service, case in cases.items():
        for label, fields in (("good", case.good), ("bad", {**case.good, **case.bad})):
            conn_id = f"conntest_{service}_{label}"
            cli_env[f"AIRFLOW_CONN_{conn_id.upper()}"] = connection_json(conn_type=case.conn_type, **fields)
            conn_ids.append(conn_id)
    run = subprocess.run(
        [sys.executable, "-c", _CLI_DRIVER, *conn_ids], env=cli_env, capture_output=True, text=True, timeout=300
    )
    blocks = {
        match["id"]: (int(match["rc"]), " ".join(match["out"].split()))
        for match in re.finditer(r"@@@ begin (?P<id>\S+)\n(?P<out>.*?)@@@ end (?P=id) rc=(?P<rc>\d+)", run.stdout, re.S)
    }
    assert set(blocks) == set(conn_ids), run.stdout[-3000:] + run.stderr[-3000:]
    for service, case in cases.items():
        rc, out = blocks[f"conntest_{service}_good"]
        assert rc == 0 and "Connection success!" in out, (service, out)
        rc, out = blocks[f"conntest_{service}_bad"]
        assert rc == 1 and "Connection failed!" in out and case.refusal in out, (service, out)
        assert all(secret not in out for secret in case.secrets if secret), (service, out)
