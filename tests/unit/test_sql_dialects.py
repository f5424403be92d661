"""The IDENT database's DDL per dialect, as generated from the table definitions and migrations.

``include/sql/<dialect>/schema.sql`` is what a DBA reviews or applies by hand; it must equal
``ident db sql --dialect <dialect>``. SQLite runs it for real here; MariaDB runs the migrations for
real in tests/integration; SQL Server cannot run on this machine, so its DDL is checked as text.
"""

import re
import sqlite3

import pytest

from ident_integrations.config import PROJECT_ROOT
from ident_integrations.store import migrate

SQL_DIR = PROJECT_ROOT / "include" / "sql"
TABLES = {
    "ident_leads", "ident_sync_state", "ident_rejects", "ident_exchange_log", "ident_calls", "ident_ongoing_calls",
    "ident_cache_check_report", "ident_branches", "ident_doctors", "ident_doctor_branches", "ident_work_intervals",
    "ident_appointments", "ident_patients", "ident_schedule_rules", "ident_doctor_export", "ident_schedule_pushes",
    "ident_geocodes", "ident_service_usage", "ident_messages", "ident_message_visits", "ident_calendar_events",
    "ident_alert_state",
}  # fmt: skip
WITHOUT_DATETIMES = {
    "ident_doctor_branches", "ident_branches", "ident_patients", "ident_service_usage", "ident_message_visits",
}  # fmt: skip
SCHEDULE_TABLES = {
    "ident_branches", "ident_doctors", "ident_doctor_branches", "ident_work_intervals", "ident_appointments",
    "ident_patients", "ident_schedule_rules", "ident_doctor_export",
}  # fmt: skip
LEAD_COLUMNS_REQUIRED = {
    "integration", "external_id", "created_at", "phone_raw", "phone", "full_name", "surname", "name",
    "patronymic", "email", "form_name", "doctor_id", "doctor_name", "plan_start", "plan_end", "comment",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "http_referer", "raw_payload",
    "first_loaded_at", "last_loaded_at",
}  # fmt: skip
DIALECTS = ["mysql", "mssql", "sqlite"]


def table_blocks(sql: str) -> dict[str, str]:
    """CREATE TABLE statements by table name (the version table left out)."""
    blocks = re.findall(r"CREATE TABLE (\w+) \((.*?)\n\)([^;\n]*)", sql, re.S)
    return {name: body + tail for name, body, tail in blocks if name != migrate.VERSION_TABLE}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_schema_file_is_generated_from_the_migrations(dialect):
    path = SQL_DIR / dialect / "schema.sql"
    assert path.read_text() == migrate.upgrade_sql(dialect), (
        f"{path} is out of date; regenerate it with: .venv/bin/ident db sql --dialect {dialect} > {path}"
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_every_dialect_defines_the_same_tables_and_lead_columns(dialect):
    sql = migrate.upgrade_sql(dialect)
    tables = table_blocks(sql)
    assert set(tables) == TABLES
    columns = set(re.findall(r"^\s+(\w+) ", tables["ident_leads"], re.M)) - {"CONSTRAINT"}
    assert LEAD_COLUMNS_REQUIRED <= columns
    # The script ends by recording the newest revision, so the DAGs find the database up to date.
    last_version = re.findall(rf"(?:INSERT INTO|UPDATE) {migrate.VERSION_TABLE}\b.*?'(\w+)'", sql)[-1]
    assert last_version == migrate.head()


def test_sql_server_uses_unicode_text_precise_utc_times_and_case_sensitive_ids():
    tables = table_blocks(migrate.upgrade_sql("mssql"))
    for name, block in tables.items():
        assert not re.search(r"(?<!N)VARCHAR\(|\bNTEXT\b|\bTEXT\b", block), name  # NVARCHAR only
        assert " DATETIME " not in block, name  # never the 3 ms DATETIME
        assert ("DATETIME2(6)" in block) == (name not in WITHOUT_DATETIMES), name
    for name in ("ident_leads", "ident_calls", "ident_ongoing_calls"):
        assert "external_id NVARCHAR(191) COLLATE Latin1_General_100_BIN2 NOT NULL" in tables[name], name
    assert "is_lost BIT NOT NULL" in tables["ident_calls"]
    assert "raw_payload NVARCHAR(max) NOT NULL" in tables["ident_leads"]
    assert "id BIGINT NOT NULL IDENTITY" in tables["ident_leads"]
    assert "enabled_on DATE NOT NULL" in tables["ident_sync_state"]


def test_sql_server_schedule_tables_take_idents_own_ids_and_index_the_exports_reads():
    sql = migrate.upgrade_sql("mssql")
    tables = table_blocks(sql)
    for name in SCHEDULE_TABLES:
        assert "IDENTITY" not in tables[name], name  # rows keep the ids IDENT gave them
    assert "id BIGINT NOT NULL, \n    name NVARCHAR(255) NOT NULL" in tables["ident_doctors"]
    assert "active BIT NOT NULL" in tables["ident_doctors"]
    assert "created_at DATETIME2(6) NOT NULL" in tables["ident_doctors"]
    assert "timezone NVARCHAR(64) NOT NULL" in tables["ident_branches"]
    assert "PRIMARY KEY (doctor_id, branch_id, starts_at)" in tables["ident_work_intervals"]
    assert "exported BIT NOT NULL" in tables["ident_doctor_export"]
    assert "slot_minutes INTEGER NOT NULL" in tables["ident_schedule_rules"]
    assert "new_doctors_excluded_since DATETIME2(6) NULL" in tables["ident_schedule_rules"]
    for index in (
        "ix_ident_work_intervals_time ON ident_work_intervals (starts_at, ends_at)",
        "ix_ident_appointments_doctor ON ident_appointments (doctor_id, branch_id, starts_at)",
        "ix_ident_appointments_time ON ident_appointments (starts_at, ends_at)",
    ):
        assert f"CREATE INDEX {index};\n\nGO" in sql, index


def test_mysql_tables_are_utf8mb4_with_case_sensitive_lead_ids():
    tables = table_blocks(migrate.upgrade_sql("mysql"))
    for name, block in tables.items():
        assert block.rstrip().endswith("CHARSET=utf8mb4"), name
        assert ("DATETIME(6)" in block) == (name not in WITHOUT_DATETIMES), name
    for name in ("ident_leads", "ident_calls", "ident_ongoing_calls"):
        assert "external_id VARCHAR(191) COLLATE utf8mb4_bin NOT NULL" in tables[name], name
    assert "raw_payload LONGTEXT NOT NULL" in tables["ident_leads"]


def test_the_sqlite_schema_file_runs_and_creates_a_database_at_head(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db")
    conn.executescript((SQL_DIR / "sqlite" / "schema.sql").read_text())
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES | {migrate.VERSION_TABLE} <= names
    assert LEAD_COLUMNS_REQUIRED <= {row[1] for row in conn.execute("PRAGMA table_info(ident_leads)")}
    assert conn.execute(f"SELECT version_num FROM {migrate.VERSION_TABLE}").fetchall() == [(migrate.head(),)]


def test_an_unknown_dialect_is_refused():
    with pytest.raises(ValueError, match="unknown dialect 'oracle'"):
        migrate.upgrade_sql("oracle")
