"""Retention (``retention:``): the daily ``ident_maintenance`` DAG deletes exchange-log and reject
rows older than ``retention.days``, in batches, on MariaDB and on SQLite; the SQL it sends to SQL
Server; the DAG's shape."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.dialects import mssql

from ident_integrations.config import parse_config
from ident_integrations.maintenance import DAG_ID, build_dag, run_retention
from ident_integrations.store.database import IdentDatabase
from ident_integrations.store.retention import PRUNED, batch_delete, batch_end
from ident_integrations.store.tables import exchange_log, rejects
from tests.helpers import as_utc

NOW = datetime(2026, 12, 2, 1, 30, tzinfo=UTC)  # 04:30 in Moscow
OLD_LOGS, RECENT_LOGS, OLD_REJECTS, RECENT_REJECTS = 23, 7, 12, 5


def _ages(old: int, recent: int) -> list[timedelta]:
    """Old and recent rows interleaved by id (times are not in id order), one just inside the window."""
    old_ages = [timedelta(days=30, hours=1 + n) for n in range(old)]
    recent_ages = [timedelta(days=30) - timedelta(seconds=1), *(timedelta(days=n % 29) for n in range(recent - 1))]
    ages = []
    while old_ages or recent_ages:
        ages.extend(old_ages[:3])
        del old_ages[:3]
        ages.extend(recent_ages[:1])
        del recent_ages[:1]
    return ages


def _fill(db: IdentDatabase, now: datetime = NOW) -> None:
    db.ensure_schema()
    logs = [
        {
            "integration": "site", "capability": "leads", "method": "GET", "url": f"https://clinic.example/GetTickets?n={n}",
            "http_status": 200, "duration_ms": 12, "error_text": None, "logged_at": now - age,
        }
        for n, age in enumerate(_ages(OLD_LOGS, RECENT_LOGS))
    ]  # fmt: skip
    bad = [
        {
            "integration": "site", "capability": "leads", "record_hash": hashlib.sha256(str(n).encode()).hexdigest(),
            "external_id": str(n), "raw_payload": "{}", "reason": "phone is required", "seen_at": now - age,
        }
        for n, age in enumerate(_ages(OLD_REJECTS, RECENT_REJECTS))
    ]  # fmt: skip
    with db.begin() as conn:
        conn.execute(exchange_log.insert(), logs)
        conn.execute(rejects.insert(), bad)


def _times(db: IdentDatabase, table, column) -> list[datetime]:
    with db.begin() as conn:
        return [as_utc(value) for value in conn.scalars(table.select().with_only_columns(column))]


@pytest.fixture(params=["mariadb", "sqlite"])
def ident_db(request):
    request.getfixturevalue("ident_mysql" if request.param == "mariadb" else "ident_sqlite")
    return IdentDatabase("ident_db")


def test_old_rows_go_in_batches_recent_ones_stay_and_the_log_counts_them(ident_db, caplog):
    from ident_integrations.config import Retention

    _fill(ident_db)
    retention = Retention(days=30, batch_size=5)
    with caplog.at_level(logging.INFO, logger="ident_integrations.maintenance"):
        removed = run_retention("ident_db", retention, "Europe/Moscow", now=NOW)
    assert removed == {"ident_exchange_log": OLD_LOGS, "ident_rejects": OLD_REJECTS}
    cutoff = NOW - timedelta(days=30)
    for (table, column), recent in zip(PRUNED, (RECENT_LOGS, RECENT_REJECTS), strict=True):
        kept = _times(ident_db, table, column)
        assert len(kept) == recent and all(moment >= cutoff for moment in kept), table.name
        assert min(kept) == cutoff + timedelta(seconds=1)  # the youngest row past the cutoff is kept
    text = caplog.text
    shown = "2026-11-02 04:30:00 MSK (2026-11-02 01:30:00 UTC)"
    assert f"ident_exchange_log: removed {OLD_LOGS} row(s) older than {shown} in 5 batch(es)" in text
    assert f"ident_rejects: removed {OLD_REJECTS} row(s) older than {shown} in 3 batch(es)" in text
    assert len(re.findall(r"ident_exchange_log: a batch of \d+ row\(s\) deleted", text)) == 5

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="ident_integrations.maintenance"):
        again = run_retention("ident_db", retention, "Europe/Moscow", now=NOW)
    assert again == {"ident_exchange_log": 0, "ident_rejects": 0}
    assert f"ident_rejects: removed 0 row(s) older than {shown} in 0 batch(es)" in caplog.text


def test_a_batch_as_large_as_what_is_old_ends_on_an_empty_one(ident_sqlite, caplog):
    db = IdentDatabase("ident_db")
    _fill(db)
    from ident_integrations.config import Retention

    with caplog.at_level(logging.INFO, logger="ident_integrations.maintenance"):
        removed = run_retention("ident_db", Retention(days=30, batch_size=OLD_REJECTS), now=NOW)
    assert removed == {"ident_exchange_log": OLD_LOGS, "ident_rejects": OLD_REJECTS}
    assert f"ident_rejects: removed {OLD_REJECTS} row(s) older than" in caplog.text
    assert re.search(r"ident_rejects: removed 12 row\(s\) .* in 1 batch\(es\)", caplog.text)


def test_sql_server_gets_top_in_a_derived_table_and_a_key_range_delete():
    cutoff = NOW - timedelta(days=30)
    for table, column in PRUNED:
        end = str(batch_end(table, column, cutoff, 5000).compile(dialect=mssql.dialect()))
        assert re.search(r"SELECT max\(anon_1\.id\).*FROM \(SELECT TOP __\[POSTCOMPILE_param_1\] ", end, re.S), end
        assert "LIMIT" not in end and f"ORDER BY {table.name}.id" in end
        gone = str(batch_delete(table, column, cutoff, 42).compile(dialect=mssql.dialect()))
        assert gone.startswith(f"DELETE FROM {table.name} WHERE {table.name}.id <= ") and "LIMIT" not in gone


def _config(**retention):
    integrations = [{"name": "site", "service": "clinic_http", "conn_id": "c", "leads": {}}]
    return parse_config({"retention": retention, "integrations": integrations, "defaults": {"owner": "dba"}}, "test")


def test_the_dag_runs_daily_at_retention_at_in_clinic_time():
    from ident_integrations.alerts import log_failure

    dag = build_dag(_config(at="03:15", days=90))
    assert dag.dag_id == DAG_ID and [task.task_id for task in dag.tasks] == ["prune_logs"]
    assert (dag.timetable.expression, str(dag.timetable.timezone)) == ("15 3 * * *", "Europe/Moscow")
    assert dag.max_active_runs == 1 and dag.catchup is False and dag.tags >= {"ident", "maintenance"}
    assert "ident_exchange_log" in dag.doc_md and "ident_rejects" in dag.doc_md and "90 day(s)" in dag.doc_md
    (task,) = dag.tasks
    assert task.owner == "dba" and task.retries >= 1 and log_failure in task.on_failure_callback
    assert build_dag(_config(enabled=False)) is None
    assert build_dag(parse_config({}, "empty")) is None  # no integration: nothing writes the logs


def test_the_settings_have_their_defaults_and_bounds():
    from ident_integrations.config import ConfigError

    retention = parse_config({}, "empty").retention
    assert (retention.enabled, retention.days, retention.at, retention.batch_size) == (True, 30, "04:30", 5000)
    for wrong in ({"days": 0}, {"at": "4:30"}, {"batch_size": 0}, {"keep": 1}):
        with pytest.raises(ConfigError, match=r"field 'retention\."):
            parse_config({"retention": wrong}, "test")


def test_a_dag_run_prunes_the_ident_database(airflow_metadata_db, ident_sqlite):
    db = IdentDatabase("ident_db")
    _fill(db, now=datetime.now(UTC) + timedelta(minutes=5))  # the run's clock: a little later
    run = build_dag(_config(batch_size=10)).test()
    assert run.state == "success"
    assert len(_times(db, exchange_log, exchange_log.c.logged_at)) == RECENT_LOGS
    assert len(_times(db, rejects, rejects.c.seen_at)) == RECENT_REJECTS
