"""The SQL the store sends to SQL Server, recorded instead of executed.

There is no SQL Server on this machine, so this is the one place with a stand-in for a database:
a recording DB-API connection. The same statements run for real on MariaDB and SQLite in
tests/integration; here we check they stay within what T-SQL accepts and are parametrised.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from ident_hooks.exchange import Exchange
from ident_integrations.leads import validate_leads
from ident_integrations.store import IdentStore, schema_statements

NOT_TSQL = re.compile(r"\bLIMIT\b|`|ON DUPLICATE KEY|INSERT OR|ON CONFLICT|\bRETURNING\b|\?", re.I)


class RecordingConnection:
    def __init__(self):
        self.statements: list[tuple[str, object]] = []
        self.committed = 0

    def cursor(self):
        conn = self

        class Cursor:
            def execute(self, sql, params=None):
                conn.statements.append((sql, params))

            def executemany(self, sql, rows):
                conn.statements.append((sql, list(rows)))

            def fetchone(self):
                return None

            def fetchall(self):
                return []

            def close(self):
                pass

        return Cursor()

    def commit(self):
        self.committed += 1

    def rollback(self):
        pass

    def close(self):
        pass


class RecordingMsSqlHook:
    def __init__(self):
        self.connection = RecordingConnection()

    def get_connection(self, conn_id):
        return SimpleNamespace(conn_type="mssql")

    def get_conn(self):
        return self.connection


def test_everything_the_store_sends_to_sql_server_is_parametrised_tsql():
    hook = RecordingMsSqlHook()
    store = IdentStore("ident_db", hook=hook)
    assert store.dialect == "mssql" and store.p == "%s"
    leads, rejects = validate_leads(
        [
            {"Id": "1", "DateAndTime": "2026-11-20T10:00:00+03:00", "ClientPhone": "89110000001"},
            {"Id": "2", "DateAndTime": "2026-11-20T11:00:00+03:00"},
        ],
        ZoneInfo("Europe/Moscow"),
    )
    now = datetime.now(UTC)
    store.ensure_schema()
    store.sync_state("site", "leads", enabled_today=now.date())
    store.save_leads("site", 2, leads, rejects, (now - timedelta(days=1), now))
    store.log_exchanges("site", "leads", [Exchange("GET", "http://x/GetTickets", 200, 5, None)])

    sent = hook.connection.statements
    dml = [(sql, params) for sql, params in sent if sql not in schema_statements("mssql")]
    assert {sql.split()[0] for sql, _ in dml} == {"SELECT", "INSERT", "UPDATE"}
    for sql, params in dml:
        assert not NOT_TSQL.search(sql), sql
        rows = params if isinstance(params, list) else [params]
        for row in rows:
            assert sql.count("%s") == len(row), sql
            assert not any(isinstance(v, datetime) and v.tzinfo for v in row), "pass naive UTC to pymssql"
    inserted_tables = {re.search(r"INSERT INTO (\w+)", sql).group(1) for sql, _ in dml if sql.startswith("INSERT")}
    assert inserted_tables == {"ident_sync_state", "ident_leads", "ident_rejects", "ident_exchange_log"}
    assert hook.connection.committed == 4  # schema, state, the load (one transaction), the exchange log
