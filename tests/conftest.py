"""Shared test set-up: an isolated Airflow home, the sandbox over HTTP, and a fresh MariaDB database.

Environment variables are set before anything imports Airflow, so tests never touch the demo's
``.airflow/`` folder.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Remembered in the environment so that a second import of this module reuses the same home.
os.environ.setdefault("IDENT_TEST_AIRFLOW_HOME", tempfile.mkdtemp(prefix="ident-airflow-"))
os.environ["AIRFLOW_HOME"] = os.environ["IDENT_TEST_AIRFLOW_HOME"]
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "dags")
os.environ["AIRFLOW__CORE__PLUGINS_FOLDER"] = str(ROOT / "plugins")
os.environ["AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION"] = "False"
for path in (str(ROOT / "plugins"), str(ROOT)):
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest  # noqa: E402

from tests.helpers import connection_json  # noqa: E402

MYSQL_HOST = os.environ.get("IDENT_TEST_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("IDENT_TEST_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("IDENT_TEST_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("IDENT_TEST_MYSQL_PASSWORD", "")
PG_HOST = os.environ.get("IDENT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("IDENT_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("IDENT_TEST_PG_USER", "postgres")
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def sandbox():
    """The emulator of external services, on a free loopback port, quiet (no live leads)."""
    from sandbox.testing import SandboxServer

    with SandboxServer(seed=7, days=3, live_interval=3600, key=secrets.token_hex(16)) as server:
        yield server


@pytest.fixture
def clean_sandbox(sandbox):
    yield sandbox
    sandbox.reset_faults("clinic_http")


def _mysql_connect(database: str | None = None):
    import MySQLdb

    kwargs = {
        "host": MYSQL_HOST,
        "port": MYSQL_PORT,
        "user": MYSQL_USER,
        "passwd": MYSQL_PASSWORD,
        "charset": "utf8mb4",
    }
    if database:
        kwargs["db"] = database
    return MySQLdb.connect(**kwargs)


def _unavailable(what: str, message: str):
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(f"SKIPPED {what} tests: {message}")


def _mysql_server():
    """A connection to the MariaDB server, or skip (fail under CI=true) when there is none."""
    try:
        return _mysql_connect()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        _unavailable(
            "MariaDB",
            f"MariaDB is not reachable at {MYSQL_HOST}:{MYSQL_PORT} ({exc}). "
            "Run scripts/ensure_mariadb.sh or set IDENT_TEST_MYSQL_HOST/PORT/USER/PASSWORD.",
        )


@contextmanager
def _scratch_database(prefix: str):
    server = _mysql_server()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with server.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield name
    finally:
        with server.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()


def mysql_connection_json(database: str) -> str:
    return connection_json(
        conn_type="mysql",
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        login=MYSQL_USER,
        password=MYSQL_PASSWORD,
        schema=database,
        extra=json.dumps({"charset": "utf8mb4"}),
    )


@pytest.fixture(scope="session")
def mariadb_database():
    """A database created for this test run and dropped after it (shared by the tests)."""
    with _scratch_database("ident_test") as name:
        yield name


@pytest.fixture
def empty_mariadb():
    """A database of its own for one test (schema and migration tests), dropped after it."""
    with _scratch_database("ident_schema") as name:
        yield name


@pytest.fixture
def ident_mysql(mariadb_database, monkeypatch):
    """``ident_db`` pointing at the run's MariaDB database, its rows deleted before each test."""
    monkeypatch.setenv("AIRFLOW_CONN_IDENT_DB", mysql_connection_json(mariadb_database))
    conn = _mysql_connect(mariadb_database)
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        for (table,) in cur.fetchall():
            if table != "ident_alembic_version":  # the schema stays migrated; only the rows go
                cur.execute(f"DELETE FROM {table}")
    conn.commit()
    yield conn
    conn.close()


@pytest.fixture
def ident_sqlite(tmp_path, monkeypatch):
    """``ident_db`` pointing at a fresh SQLite file (the demo's embedded default)."""
    path = tmp_path / "ident.db"
    monkeypatch.setenv("AIRFLOW_CONN_IDENT_DB", connection_json(conn_type="sqlite", host=str(path)))
    return path


@pytest.fixture
def clinic_conn(monkeypatch):
    """Point connection ``clinic_<tenant>`` at the sandbox; returns a function(tenant, key=None)."""

    def make(sandbox, tenant: str, key: str | None = None, conn_id: str | None = None) -> str:
        conn_id = conn_id or f"clinic_{tenant}"
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}",
            connection_json(
                conn_type="ident_clinic_http",
                host=f"{sandbox.base_url}/clinic_http/{tenant}",
                password=sandbox.key if key is None else key,
            ),
        )
        return conn_id

    return make


@pytest.fixture(scope="session")
def airflow_metadata_db():
    """dag.test() and stored connections need a migrated metadata database: SQLite in the test's own
    AIRFLOW_HOME, migrated once per session."""
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], env=os.environ.copy(), capture_output=True, text=True
    )
    if result.returncode != 0:
        pytest.fail(f"airflow db migrate failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}", pytrace=False)


@pytest.fixture
def airflow_postgres_url():
    """A PostgreSQL database of its own for Airflow's metadata (a whole-stack run), dropped after."""
    import psycopg2

    def connect(database: str = "postgres"):
        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname=database)
        conn.autocommit = True
        return conn

    try:
        server = connect()
    except Exception as exc:  # noqa: BLE001 - any failure means "no server"
        _unavailable(
            "PostgreSQL",
            f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} as {PG_USER} ({exc}). "
            "Run scripts/ensure_postgres.sh or set IDENT_TEST_PG_HOST/PORT/USER.",
        )
    name = f"ident_airflow_{uuid.uuid4().hex[:10]}"
    with server.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with server.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        server.close()


@pytest.fixture
def smsc_account(sandbox, monkeypatch):
    """A fresh SMSC account in the sandbox (its own login) on connection smsc_test; statuses final at once."""
    login = f"rem-{uuid.uuid4().hex[:8]}"
    extra = json.dumps({"busy_retry_seconds": 0.05})
    host = f"{sandbox.base_url}/smsc"
    monkeypatch.setenv("AIRFLOW_CONN_SMSC_TEST", connection_json(
        conn_type="ident_smsc", host=host, login=login, password=sandbox.key, extra=extra))  # fmt: skip
    sandbox._control("POST", f"/smsc/{login}/timing", json={"queued_seconds": 0, "final_seconds": 0})
    yield login
    sandbox._control("DELETE", f"/smsc/{login}/state")
