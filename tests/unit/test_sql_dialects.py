"""Schema files of all three dialects. SQLite runs for real here; MariaDB in tests/integration;
SQL Server cannot run on this machine (no server), so its file is checked as text."""

import re
import sqlite3

import pytest

from ident_integrations.store import SQL_DIR, schema_statements

TABLES = {"ident_leads", "ident_sync_state", "ident_rejects", "ident_exchange_log"}
LEAD_COLUMNS_REQUIRED = {
    "integration", "external_id", "created_at", "phone_raw", "phone", "full_name", "surname", "name",
    "patronymic", "email", "form_name", "doctor_id", "doctor_name", "plan_start", "plan_end", "comment",
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "http_referer", "raw_payload",
    "first_loaded_at", "last_loaded_at",
}  # fmt: skip


def test_sqlite_schema_creates_all_tables_and_is_idempotent(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db")
    for _ in range(2):
        for statement in schema_statements("sqlite"):
            conn.execute(statement)
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert TABLES <= names
    columns = {row[1] for row in conn.execute("PRAGMA table_info(ident_leads)")}
    assert LEAD_COLUMNS_REQUIRED <= columns


@pytest.mark.parametrize("dialect", ["mysql", "mssql", "sqlite"])
def test_every_dialect_defines_the_same_tables_and_lead_columns(dialect):
    text = (SQL_DIR / dialect / "schema.sql").read_text()
    tables = set(re.findall(r"CREATE TABLE (?:IF NOT EXISTS )?(?:dbo\.)?(\w+)", text))
    assert tables == TABLES
    leads_block = text.split("ident_leads (", 1)[1].split(";", 1)[0]
    columns = {m for m in re.findall(r"^\s+(\w+) ", leads_block, re.M)} - {"UNIQUE", "KEY", "CONSTRAINT", "INDEX"}
    assert LEAD_COLUMNS_REQUIRED <= columns


def test_mssql_schema_is_guarded_per_table_and_uses_unicode_types():
    statements = schema_statements("mssql")
    assert len(statements) == 4
    for statement in statements:
        assert statement.startswith("IF OBJECT_ID(N'dbo.ident_")
        assert " VARCHAR(" not in statement.replace("NVARCHAR(", "")
        assert "DATETIME2(6)" in statement
    assert "COLLATE Latin1_General_100_BIN2" in statements[0]  # case-sensitive lead ids


def test_mysql_schema_is_utf8mb4_and_lead_ids_are_case_sensitive():
    statements = schema_statements("mysql")
    assert all(s.rstrip().endswith("DEFAULT CHARSET = utf8mb4") for s in statements)
    assert "external_id VARCHAR(191) COLLATE utf8mb4_bin" in statements[0]
