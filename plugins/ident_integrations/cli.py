"""The ``ident`` command: check the integrations file and manage the IDENT database's schema.

    ident config check [FILE]                  resolved settings, and where each value came from
    ident db upgrade|current [--conn-id ID]    migrate / show the schema revision
    ident db sql --dialect mysql|mssql|sqlite  the schema as SQL for a DBA
    ident demo-data [--seed N] [--days-ahead N] [--conn-id ID]
                                               a demo clinic's schedule (replaces the schedule tables)
    ident geocode "<address>" --integration NAME
                                               one address through DaData (IDENT's "Распознать")
    ident alerts check [FILE]                  the lag check of DAG ident_alerts, from cron: it
                                               alerts even when Airflow's scheduler is down

The database is reached through the same Airflow connection the DAGs use (``clinic.ident_conn_id``,
default ``ident_db``): an ``AIRFLOW_CONN_IDENT_DB`` variable or a connection stored in Airflow.
Exit codes: 0 success, 1 runtime failure (or ``db current``: behind head), 2 invalid file or usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from collections.abc import Sequence
from typing import Any

OK, FAILED, USAGE = 0, 1, 2
ITALIC, PLAIN = "\033[3m", "\033[0m"


class CommandError(Exception):
    """A failure the user can act on: printed as one line, no traceback."""

    def __init__(self, message: str, code: int = FAILED):
        super().__init__(message)
        self.code = code


def _load(path: str | None):
    from ident_integrations.config import ConfigError, config_path, load_config

    try:
        return load_config(path or config_path())
    except ConfigError as exc:
        raise CommandError(str(exc), USAGE) from None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def render_value(value: Any) -> str:
    """A setting as the file would spell it (true, 45, [a, b]), not as Python prints it."""
    if value is None:
        return "(not set)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple | list):
        return ", ".join(map(str, value)) or "(none)"
    return str(value)


def settings_table(resolved, italics: bool = False) -> list[str]:
    """One block's settings: name, value and where the value came from. ``italics`` marks inherited
    values as IDENT's settings window does (only for a terminal: piped output stays plain)."""
    from ident_integrations.config import INTEGRATION

    values = {f"{resolved.capability}.{k}": v for k, v in resolved.block.model_dump().items()}
    values.update(resolved.request.model_dump())
    values.update(resolved.task.model_dump())
    values.update({f"alerts.{k}": v for k, v in resolved.alerts.model_dump().items()})
    rows = [(name, render_value(value), resolved.sources[name]) for name, value in values.items()]
    name_width = max(len(row[0]) for row in rows)
    value_width = max(len("value"), *(len(row[1]) for row in rows))
    lines = [f"  {'setting':<{name_width}}  {'value':<{value_width}}  from"]
    for name, value, source in rows:
        shown = f"{value:<{value_width}}"
        if italics and source != INTEGRATION:
            shown = f"{ITALIC}{shown}{PLAIN}"
        lines.append(f"  {name:<{name_width}}  {shown}  {source}")
    return lines


def config_check(args: argparse.Namespace) -> int:
    from ident_integrations.alerts import DAG_ID as ALERTS_DAG
    from ident_integrations.alerts import LAG_CHECK_MINUTES
    from ident_integrations.cache_check import DAG_ID as CACHE_CHECK_DAG
    from ident_integrations.config import config_path
    from ident_integrations.dag_factory import build_dags
    from ident_integrations.maintenance import DAG_ID as MAINTENANCE
    from ident_integrations.new_leads_example import DAG_ID as NEW_LEADS_EXAMPLE

    path = args.file or str(config_path())
    config = _load(path)
    italics = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    print(f"{path}: valid")
    print(f"clinic: timezone {config.clinic.timezone}, IDENT database connection {config.clinic.ident_conn_id}")
    blocks = config.blocks()
    for resolved in blocks:
        state = f"DAG {resolved.dag_id}" if resolved.block.enabled else "disabled (no DAG)"
        print(f"\n{resolved.integration} / {resolved.capability}: {state}")
        print(f"  service {resolved.service}, connection {resolved.conn_id}")
        if resolved.description:
            print(f"  {resolved.description}")
        print("\n".join(settings_table(resolved, italics)))
    enabled = sum(1 for resolved in blocks if resolved.block.enabled)
    check = config.cache_check
    dags = build_dags(config)  # exactly what the DAG file publishes
    print()
    if ALERTS_DAG in dags:
        print(f"lag alerts: DAG {ALERTS_DAG}, every {LAG_CHECK_MINUTES} minutes (also: ident alerts check)")
    if CACHE_CHECK_DAG in dags:
        print(f"cache check: DAG {CACHE_CHECK_DAG}, daily at {check.at}, the last {_count(check.days, 'closed day')}")
    else:
        print("cache check: off" if not check.enabled else "cache check: no integration to check")
    if MAINTENANCE in dags:
        kept = config.retention
        print(f"retention: DAG {MAINTENANCE}, daily at {kept.at}, logs kept {_count(kept.days, 'day')}")
    if NEW_LEADS_EXAMPLE in dags:
        print(f"new leads: DAG {NEW_LEADS_EXAMPLE}, on every update of the Asset ident_leads")
    disabled = f", {len(blocks) - enabled} disabled" if len(blocks) > enabled else ""
    print(f"\n{_count(len(config.integrations), 'integration')}, {_count(len(dags), 'DAG')}{disabled}")
    return OK


def _database(args: argparse.Namespace):
    from ident_integrations.store.database import IdentDatabase

    conn_id = args.conn_id or _load(None).clinic.ident_conn_id
    try:
        return IdentDatabase(conn_id)
    except ValueError as exc:  # a connection of the wrong type
        raise CommandError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. the connection is not defined anywhere, a missing driver
        raise CommandError(f"cannot use the IDENT database connection {conn_id!r}: {one_line(exc)}") from None


def one_line(exc: BaseException) -> str:
    """A driver's error as one line: its args joined, bytes decoded, newlines folded (pymssql's
    args are ``((code, b"message\\n..."),)``, MySQLdb's ``(code, "message")``)."""

    def words(arg: Any) -> str:
        if isinstance(arg, tuple):
            return ": ".join(map(words, arg))
        return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)

    return " ".join(words(exc.args or str(exc)).split())


def _run_on_database(action):
    """Turn database errors into one readable line (the driver's message), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    from ident_integrations.store.migrate import SchemaLockTimeout

    try:
        return action()
    except SQLAlchemyError as exc:
        raise CommandError(f"the IDENT database answered: {one_line(getattr(exc, 'orig', None) or exc)}") from None
    except SchemaLockTimeout as exc:
        raise CommandError(f"the schema is locked: {exc}") from None


def _revision(db) -> tuple[str | None, str]:
    """The database's revision (None when unversioned) and, for an unversioned one, what it holds:
    nothing, or the foundation's tables (which an upgrade adopts with their rows)."""
    from sqlalchemy import inspect

    from ident_integrations.store import migrate, tables

    def read() -> tuple[str | None, str]:
        with db.engine.connect() as connection:
            revision = migrate.current(connection)
            if revision:
                return revision, ""
            existing = set(inspect(connection).get_table_names()) & set(tables.metadata.tables)
            return None, "foundation-era tables" if existing else "empty database"

    return _run_on_database(read)


def db_upgrade(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    db = _database(args)
    _, holds = _revision(db)
    moved_from = _run_on_database(db.ensure_schema)
    if moved_from is None:
        print(f"{db.conn_id}: already at {migrate.head()}")
    else:
        before = moved_from or ("an empty database" if holds == "empty database" else f"{holds} (no revision)")
        print(f"{db.conn_id}: upgraded from {before} to {migrate.head()}")
    return OK


def db_current(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    db = _database(args)
    (revision, holds), head = _revision(db), migrate.head()
    print(f"database: {db.conn_id} ({db.engine.url.render_as_string(hide_password=True)})")
    print(f"revision: {revision or f'none ({holds})'}")
    print(f"head:     {head}")
    if revision == head:
        print("up to date")
        return OK
    print("behind: run `ident db upgrade` (or let the next DAG run do it)")
    return FAILED


def db_sql(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    sys.stdout.write(migrate.upgrade_sql(args.dialect))
    return OK


def demo_data(args: argparse.Namespace) -> int:
    import time

    from ident_integrations import demo_data as demo
    from ident_integrations.store.schedule import ScheduleStore

    if args.days_ahead < 0:
        raise CommandError(f"--days-ahead must be 0 or more, not {args.days_ahead}", USAGE)
    started = time.perf_counter()
    network = demo.generate(seed=args.seed, days_ahead=args.days_ahead)
    db = _database(args)

    def write() -> tuple[dict[str, int], int]:
        db.ensure_schema()
        store = ScheduleStore(db)
        store.replace(
            branches=network.branches,
            doctors=network.doctors,
            doctor_branches=network.doctor_branches,
            work_intervals=network.work_intervals,
            patients=network.patients,
            appointments=network.appointments,
            added_at=network.doctors_added_at,
        )
        for doctor_id in network.excluded_doctors:
            store.set_doctor_export(doctor_id, False)
        return store.counts(), store.slot_minutes()

    counts, slot_minutes = _run_on_database(write)
    seconds = time.perf_counter() - started
    cancelled = sum(1 for a in network.appointments if a.status == "cancelled")
    zones = sorted({branch.timezone for branch in network.branches})
    excluded = ", ".join(f"{d.id} {d.name}" for d in network.doctors if d.id in network.excluded_doctors)
    print(f"{db.conn_id}: demo schedule written (seed {args.seed}), replacing the schedule tables, in {seconds:.1f} s")
    print(f"  {counts['ident_branches']} branches ({', '.join(zones)})")
    print(f"  {_count(counts['ident_doctors'], 'doctor')} at {_count(counts['ident_doctor_branches'], 'branch link')}")
    print(f"  {_count(counts['ident_work_intervals'], 'shift')} from {network.first_day} to {network.last_day}")
    print(f"  {_count(counts['ident_appointments'], 'appointment')} ({cancelled} cancelled)")
    print(f"  {_count(counts['ident_patients'], 'patient')}")
    print(f"  export rules: slots of {slot_minutes} min; excluded from the export: {excluded or 'nobody'}")
    return OK


def alerts_check(args: argparse.Namespace) -> int:
    from ident_integrations.alerts import check_lag

    result = check_lag(_load(args.file))
    for line in result.lagging:
        print(f"LAGGING {line}")
    print(f"{result.watched} DAG(s) watched, {len(result.lagging)} lagging, {len(result.alerted)} alerted now")
    for problem in result.problems:
        print(f"ident: could not send: {problem}", file=sys.stderr)
    return FAILED if result.problems else OK


def parser() -> argparse.ArgumentParser:
    from ident_integrations.store.migrate import DIALECTS

    root = argparse.ArgumentParser(
        prog="ident", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = root.add_subparsers(dest="command", required=True)

    config = commands.add_parser("config", help="the integrations file").add_subparsers(dest="action", required=True)
    check = config.add_parser("check", help="validate the file and print the resolved settings")
    check.add_argument("file", nargs="?", help="default: $IDENT_INTEGRATIONS_FILE or include/integrations.yaml")
    check.set_defaults(handler=config_check)

    db = commands.add_parser("db", help="the IDENT database's schema").add_subparsers(dest="action", required=True)
    for name, handler, text in (
        ("upgrade", db_upgrade, "bring the schema to the newest revision"),
        ("current", db_current, "show the schema revision (exit 1 when behind)"),
    ):
        sub = db.add_parser(name, help=text)
        sub.add_argument("--conn-id", help="Airflow connection of the IDENT database (default: clinic.ident_conn_id)")
        sub.set_defaults(handler=handler)
    sql = db.add_parser("sql", help="print the whole schema history as SQL for a DBA")
    sql.add_argument("--dialect", required=True, choices=DIALECTS)
    sql.set_defaults(handler=db_sql)

    from ident_integrations.demo_data import DAYS_BACK, DEFAULT_DAYS_AHEAD, DEFAULT_SEED

    demo = commands.add_parser(
        "demo-data",
        help="fill the IDENT database with a demo clinic's schedule (replaces the schedule tables)",
        description=(
            "Fill the IDENT database with a realistic, deterministic clinic network for the demo and the"
            " benchmark: 3 branches (Moscow and Yekaterinburg time), 25 doctors, their shifts from"
            f" {DAYS_BACK} days ago to --days-ahead days ahead, appointments (about two thirds of the"
            " near days booked, thinning out further ahead) and their patients; doctor 25 is excluded"
            " from the schedule export. Re-running REPLACES every row of the schedule tables"
            " (branches, doctors, shifts, appointments, patients, export rules): never point it at a"
            " real clinic's database. Leads and calls are not touched."
        ),
    )
    demo.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default {DEFAULT_SEED})")
    demo.add_argument(
        "--days-ahead",
        type=int,
        default=DEFAULT_DAYS_AHEAD,
        help=f"days of shifts after today (default {DEFAULT_DAYS_AHEAD})",
    )
    demo.add_argument("--conn-id", help="Airflow connection of the IDENT database (default: clinic.ident_conn_id)")
    demo.set_defaults(handler=demo_data)

    alerts = commands.add_parser("alerts", help="failure and lag alerts").add_subparsers(dest="action", required=True)
    lag = alerts.add_parser("check", help="alert once for each DAG without a success for too long (for cron)")
    lag.add_argument("file", nargs="?", help="default: $IDENT_INTEGRATIONS_FILE or include/integrations.yaml")
    lag.set_defaults(handler=alerts_check)

    from ident_integrations.cli_geocode import add_geocode_command

    add_geocode_command(commands)

    from ident_integrations.cli_sms import add_commands as add_sms_commands

    add_sms_commands(commands)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # argparse exits with 2 on a usage error
    # An admin command, like Airflow's API server: outside a task the Task SDK only looks up
    # connections in the metadata database in a "server" process (airflow.sdk.execution_time.
    # supervisor.ensure_secrets_backend_loaded; `airflow connections get` sets it the same way).
    # AIRFLOW_CONN_* variables work either way.
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    # The command's own lines are the output. Airflow logs (and routes warnings) to stdout through
    # structlog, which ignores logging.disable: its level is the one switch, read when Airflow loads.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "ERROR"
    logging.disable(logging.INFO)  # Alembic's "Context impl …" and "Running upgrade …" lines
    warnings.simplefilter("ignore")  # Airflow's and its libraries' deprecations are not ours to fix
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"ident: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
