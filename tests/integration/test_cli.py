"""The `ident` command through its real entry points (the console script and `python -m`), against
SQLite and a MariaDB database of its own, with connections as variables or stored in Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from ident_integrations.store.migrate import head
from tests.conftest import _mysql_connect, mysql_connection_json
from tests.helpers import connection_json, query

ROOT = Path(__file__).resolve().parents[2]
IDENT = str(Path(sys.executable).with_name("ident"))
HEAD = head()


def ident(*args: str, env: dict | None = None, module: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ident_integrations"] if module else [IDENT]
    return subprocess.run([*command, *args], env=env or dict(os.environ), capture_output=True, text=True, timeout=120)


def with_db(connection: str) -> dict:
    return {**os.environ, "AIRFLOW_CONN_IDENT_DB": connection}


def without(name: str) -> dict:
    return {key: value for key, value in os.environ.items() if key != name}


def settings(out: str, header: str) -> dict[str, tuple[str, str]]:
    """The table under one block's header line: setting -> (value, where it came from)."""
    block = out.split(header + "\n", 1)[1].split("\n\n", 1)[0]
    lines = [line.split() for line in block.splitlines()]
    rows = lines[lines.index(["setting", "value", "from"]) + 1 :]
    return {row[0]: (" ".join(row[1:-1]), row[-1]) for row in rows}


def test_config_check_prints_each_value_and_where_it_came_from(tmp_path):
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "defaults": {"timeout_seconds": 30, "leads": {"page_size": 200}},
                "integrations": [
                    {
                        "name": "site",
                        "service": "clinic_http",
                        "conn_id": "clinic_site",
                        "task_retries": 5,
                        "leads": {"interval_minutes": 7, "start_date": "2026-11-01"},
                    },
                    {"name": "old", "service": "clinic_http", "conn_id": "c", "leads": {"enabled": False}},
                ],
            }
        )
    )
    result = ident("config", "check", str(path))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"{path}: valid\n")
    site = settings(out, "site / leads: DAG ident_leads__site")
    assert site["leads.interval_minutes"] == ("7", "integration")
    assert site["leads.start_date"] == ("2026-11-01", "integration")
    assert site["task_retries"] == ("5", "integration")
    assert site["leads.page_size"] == ("200", "defaults")
    assert site["timeout_seconds"] == ("30", "defaults")
    assert site["request_attempts"] == ("4", "built-in")
    assert site["leads.enabled"] == ("true", "built-in")
    assert site["alerts.email_to"] == ("(none)", "built-in")
    old = settings(out, "old / leads: disabled (no DAG)")
    assert old["leads.enabled"] == ("false", "integration")
    # the lead DAG, the lag alerts, the cache check, the maintenance and the new-leads example
    assert out.endswith("\n2 integrations, 5 DAGs, 1 disabled\n")
    assert "\033[" not in out  # not a terminal: plain text


def test_config_check_reads_the_file_the_dags_read(tmp_path):
    shipped = ident("config", "check", env=without("IDENT_INTEGRATIONS_FILE"), module=True)
    assert shipped.returncode == 0, shipped.stderr
    assert shipped.stdout.startswith(f"{ROOT / 'include' / 'integrations.yaml'}: valid\n")
    for name in ("site", "landing"):
        table = settings(shipped.stdout, f"{name} / leads: DAG ident_leads__{name}")
        assert table["leads.enabled"] == ("true", "integration")
        assert table["leads.interval_minutes"] == ("2", "defaults")
        assert table["leads.start_date"] == ("(not set)", "built-in")
    calls = settings(shipped.stdout, "telephony / calls: DAG ident_calls__telephony")
    assert calls["calls.interval_minutes"] == ("180", "defaults")
    assert calls["calls.start_date"] == (str(date.today() - timedelta(days=30)), "integration")  # "30 days ago"
    assert "\ncache check: DAG ident_cache_check, daily at 05:30, the last 7 closed days\n" in shipped.stdout
    assert "\nnew leads: DAG ident_new_leads_example, on every update of the Asset ident_leads\n" in shipped.stdout
    assert "\nretention: DAG ident_maintenance, daily at 04:30, logs kept 30 days\n" in shipped.stdout
    # 7 lead DAGs, 1 of calls, 6 of free slots, 1 of geocoding, 3 of messages, 1 of calendar, the four shared
    assert shipped.stdout.endswith("\n12 integrations, 23 DAGs\n")
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{"name": "x", "service": "clinic_http", "conn_id": "c"}]}))
    chosen = ident("config", "check", env={**os.environ, "IDENT_INTEGRATIONS_FILE": str(path)})
    assert chosen.returncode == 0 and chosen.stdout.startswith(f"{path}: valid\n")
    assert "\ncache check: no integration to check\n" in chosen.stdout
    assert chosen.stdout.endswith("\n1 integration, 0 DAGs\n")


def test_an_invalid_file_exits_2_naming_file_integration_and_field(tmp_path):
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {"integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {"page_size": 0}}]}
        )
    )
    result = ident("config", "check", str(path))
    assert (result.returncode, result.stdout) == (2, "")
    named = f"ident: Invalid integrations file {path}: integration 'site', field 'leads.page_size': "
    assert result.stderr.startswith(named)
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_db_upgrade_and_current_on_sqlite(tmp_path):
    path = tmp_path / "ident.db"
    env = with_db(connection_json(conn_type="sqlite", host=str(path)))
    behind = ident("db", "current", env=env)
    assert (behind.returncode, behind.stderr) == (1, "")
    assert behind.stdout == (
        f"database: ident_db (sqlite:///{path})\nrevision: none (empty database)\nhead:     {HEAD}\n"
        "behind: run `ident db upgrade` (or let the next DAG run do it)\n"
    )
    first = ident("db", "upgrade", env=env)
    assert (first.returncode, first.stdout) == (0, f"ident_db: upgraded from an empty database to {HEAD}\n")
    again = ident("db", "upgrade", env=env, module=True)
    assert (again.returncode, again.stdout) == (0, f"ident_db: already at {HEAD}\n")
    current = ident("db", "current", env=env)
    assert (current.returncode, current.stderr) == (0, "")  # no Airflow or Alembic chatter either
    assert current.stdout == f"database: ident_db (sqlite:///{path})\nrevision: {HEAD}\nhead:     {HEAD}\nup to date\n"


@pytest.mark.mariadb
def test_db_upgrade_and_current_on_mariadb(empty_mariadb):
    env = with_db(mysql_connection_json(empty_mariadb))
    first = ident("db", "upgrade", env=env)
    assert (first.returncode, first.stdout) == (0, f"ident_db: upgraded from an empty database to {HEAD}\n")
    again = ident("db", "upgrade", env=env)
    assert (again.returncode, again.stdout) == (0, f"ident_db: already at {HEAD}\n")
    current = ident("db", "current", env=env)
    assert current.returncode == 0 and f"/{empty_mariadb}?" in current.stdout and "up to date" in current.stdout
    tables = {row[0] for row in query(_mysql_connect(empty_mariadb), "SHOW TABLES")}
    assert {"ident_leads", "ident_sync_state", "ident_rejects", "ident_exchange_log", "ident_alembic_version"} <= tables


def test_a_connection_stored_in_airflow_works(airflow_metadata_db, tmp_path):
    """Outside a task the Task SDK reads only variables unless the process says it is a server: the
    command does, so a connection added with `airflow connections add` is found."""
    conn_id = f"cli_stored_{uuid.uuid4().hex[:8]}"  # new to this session's metadata database
    env = without("AIRFLOW_CONN_IDENT_DB")
    env["IDENT_INTEGRATIONS_FILE"] = str(tmp_path / "integrations.yaml")
    (tmp_path / "integrations.yaml").write_text(yaml.safe_dump({"clinic": {"ident_conn_id": conn_id}}))
    added = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "add", conn_id, "--conn-type", "sqlite",
         "--conn-host", str(tmp_path / "stored.db")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr[-2000:]
    result = ident("db", "upgrade", env=env)
    assert (result.returncode, result.stderr) == (0, "")
    # Only the command's line: Airflow's deprecation warning on this path would go to stdout.
    assert result.stdout == f"{conn_id}: upgraded from an empty database to {HEAD}\n"
    current = ident("db", "current", env=env, module=True)
    assert current.returncode == 0 and current.stdout.endswith("up to date\n")


@pytest.mark.parametrize(
    "connection, message",
    [
        (
            connection_json(conn_type="http", host="example"),
            "ident: Connection 'ident_db' has type 'http'; the IDENT database must be one of"
            " ['mssql', 'mysql', 'sqlite']",
        ),
        (
            connection_json(conn_type="mysql", host="127.0.0.1", port=1, login="root", schema="x"),
            "ident: the IDENT database answered: 2002: Can't connect to server on '127.0.0.1'",
        ),
        (None, "ident: cannot use the IDENT database connection 'ident_db': The conn_id `ident_db` isn't defined"),
    ],
    ids=["wrong-type", "unreachable", "undefined"],
)
def test_db_errors_are_one_line_with_exit_1(connection, message):
    env = without("AIRFLOW_CONN_IDENT_DB")
    if connection:
        env["AIRFLOW_CONN_IDENT_DB"] = connection
    result = ident("db", "upgrade", env=env)
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1, result.stderr


@pytest.mark.parametrize("dialect", ["mysql", "mssql", "sqlite"])
def test_db_sql_prints_the_schema_for_a_dba(dialect):
    result = ident("db", "sql", "--dialect", dialect)
    assert result.returncode == 0
    assert "CREATE TABLE ident_leads" in result.stdout and "CREATE TABLE ident_alembic_version" in result.stdout
    assert result.stdout == (ROOT / "include" / "sql" / dialect / "schema.sql").read_text()


def test_usage_errors_exit_2():
    unknown = ident("db", "sql", "--dialect", "oracle")
    assert unknown.returncode == 2 and "invalid choice: 'oracle'" in unknown.stderr
    assert ident("nonsense").returncode == 2
    assert ident("db", "upgrade", env={**os.environ, "IDENT_INTEGRATIONS_FILE": "/nonexistent.yaml"}).returncode == 2


def test_alerts_check_from_cron_lists_lagging_dags(tmp_path, ident_mysql, monkeypatch):
    """`ident alerts check`: the lag check outside Airflow (a DAG first seen now does not lag yet)."""
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump({"integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {}}]})
    )
    from ident_integrations.store.database import IdentDatabase

    IdentDatabase("ident_db").ensure_schema()
    result = ident("alerts", "check", str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.endswith("1 DAG(s) watched, 0 lagging, 0 alerted now\n")
    assert query(ident_mysql, "SELECT dag_id FROM ident_alert_state") == [("ident_leads__site",)]
