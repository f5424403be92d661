"""The `ident` command through its real entry points (the console script and `python -m`), against
SQLite and a MariaDB database of its own, with connections as variables or stored in Airflow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import _mysql_connect, mysql_connection_json
from tests.helpers import connection_json, query

ROOT = Path(__file__).resolve().parents[2]
IDENT = str(Path(sys.executable).with_name("ident"))


def ident(*args: str, env: dict | None = None, module: bool = False) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ident_integrations"] if module else [IDENT]
    return subprocess.run([*command, *args], env=env or dict(os.environ), capture_output=True, text=True, timeout=120)


def with_db(connection: str) -> dict:
    return {**os.environ, "AIRFLOW_CONN_IDENT_DB": connection}


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
    site = out.split("site · leads — DAG ident_leads__site\n", 1)[1].split("\n\n", 1)[0]
    lines = {line.split()[0]: line for line in site.splitlines()}
    assert lines["leads.interval_minutes"].split()[1:] == ["7"]  # the integration's own: no mark
    assert lines["leads.start_date"].split()[1:] == ["2026-11-01"]
    assert lines["task_retries"].split()[1:] == ["5"]
    assert lines["timeout_seconds"].split()[1:] == ["30.0", "(defaults)"]
    assert lines["request_attempts"].split()[1:] == ["4", "(built-in)"]
    assert "old · leads — disabled (no DAG)" in out
    assert "2 integration(s), 2 capability block(s), 1 DAG(s)." in out


def test_config_check_reads_the_file_the_dags_read(tmp_path):
    default = ident("config", "check", module=True)
    assert default.returncode == 0 and "include/integrations.yaml: valid" in default.stdout
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump({"integrations": [{"name": "x", "service": "clinic_http", "conn_id": "c"}]}))
    chosen = ident("config", "check", env={**os.environ, "IDENT_INTEGRATIONS_FILE": str(path)})
    assert chosen.returncode == 0 and f"{path}: valid" in chosen.stdout and "0 DAG(s)" in chosen.stdout


def test_an_invalid_file_exits_2_naming_file_integration_and_field(tmp_path):
    path = tmp_path / "integrations.yaml"
    path.write_text(
        yaml.safe_dump(
            {"integrations": [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {"page_size": 0}}]}
        )
    )
    result = ident("config", "check", str(path))
    assert result.returncode == 2
    assert f"Invalid integrations file {path}: integration 'site', field 'leads.page_size'" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_and_current_on_sqlite(tmp_path):
    env = with_db(connection_json(conn_type="sqlite", host=str(tmp_path / "ident.db")))
    behind = ident("db", "current", env=env)
    assert behind.returncode == 1 and "behind" in behind.stdout
    first = ident("db", "upgrade", env=env)
    assert first.returncode == 0 and "upgraded from an unversioned database to" in first.stdout, first.stderr
    again = ident("db", "upgrade", env=env, module=True)
    assert again.returncode == 0 and "already at" in again.stdout
    current = ident("db", "current", env=env)
    assert current.returncode == 0 and "up to date" in current.stdout
    assert "INFO" not in current.stdout + current.stderr  # only the command's own lines


@pytest.mark.mariadb
def test_db_upgrade_and_current_on_mariadb(empty_mariadb):
    env = with_db(mysql_connection_json(empty_mariadb))
    assert ident("db", "current", env=env).returncode == 1
    result = ident("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert ident("db", "current", env=env).returncode == 0
    tables = {row[0] for row in query(_mysql_connect(empty_mariadb), "SHOW TABLES")}
    assert {"ident_leads", "ident_sync_state", "ident_rejects", "ident_exchange_log", "ident_alembic_version"} <= tables


def test_a_connection_stored_in_airflow_works(airflow_metadata_db, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_IDENT_DB"}
    env["IDENT_INTEGRATIONS_FILE"] = str(tmp_path / "integrations.yaml")
    (tmp_path / "integrations.yaml").write_text(yaml.safe_dump({"clinic": {"ident_conn_id": "cli_stored_db"}}))
    subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "delete", "cli_stored_db"], env=env, capture_output=True
    )
    added = subprocess.run(
        [sys.executable, "-m", "airflow", "connections", "add", "cli_stored_db", "--conn-type", "sqlite",
         "--conn-host", str(tmp_path / "stored.db")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr[-2000:]
    result = ident("db", "upgrade", env=env)
    assert result.returncode == 0, result.stderr
    assert "cli_stored_db: upgraded" in result.stdout and (tmp_path / "stored.db").exists()


def test_db_errors_are_one_line_with_exit_1(tmp_path):
    wrong_type = ident("db", "current", env=with_db(connection_json(conn_type="http", host="example")))
    assert wrong_type.returncode == 1
    assert "the IDENT database must be one of ['mssql', 'mysql', 'sqlite']" in wrong_type.stderr
    env = {k: v for k, v in os.environ.items() if k != "AIRFLOW_CONN_IDENT_DB"}
    missing = ident("db", "upgrade", "--conn-id", "no_such_connection", env=env)
    assert missing.returncode == 1 and "no_such_connection" in missing.stderr and "Traceback" not in missing.stderr


@pytest.mark.parametrize("dialect", ["mysql", "mssql", "sqlite"])
def test_db_sql_prints_the_schema_for_a_dba(dialect):
    result = ident("db", "sql", "--dialect", dialect)
    assert result.returncode == 0
    assert "CREATE TABLE ident_leads" in result.stdout and "CREATE TABLE ident_alembic_version" in result.stdout
    assert result.stdout == (ROOT / "include" / "sql" / dialect / "schema.sql").read_text()


def test_usage_errors_exit_2():
    assert ident("db", "sql", "--dialect", "oracle").returncode == 2
    assert ident("nonsense").returncode == 2
