"""The ``ident`` command: check the integrations file and manage the IDENT database's schema.

    ident config check [FILE]                  resolved settings, and where each value came from
    ident db upgrade|current [--conn-id ID]    migrate / show the schema revision
    ident db sql --dialect mysql|mssql|sqlite  the schema as SQL for a DBA

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


def _value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, tuple):
        return ", ".join(value) or "(none)"
    return str(value)


def config_check(args: argparse.Namespace) -> int:
    from ident_integrations.config import BUILT_IN, DEFAULTS, config_path

    path = args.file or str(config_path())
    config = _load(path)
    print(f"{path}: valid")
    print(f"clinic: timezone {config.clinic.timezone}, IDENT database connection {config.clinic.ident_conn_id}")
    blocks = config.blocks()
    for resolved in blocks:
        state = "DAG " + resolved.dag_id if resolved.block.enabled else "disabled (no DAG)"
        print(f"\n{resolved.integration} · {resolved.capability} — {state}")
        print(f"  service {resolved.service}, connection {resolved.conn_id}")
        values = {f"{resolved.capability}.{k}": v for k, v in resolved.block.model_dump().items()}
        values.update(resolved.request.model_dump())
        values.update(resolved.task.model_dump())
        width = max(len(name) for name in values)
        for name, value in values.items():
            source = resolved.sources[name]
            mark = {DEFAULTS: "  (defaults)", BUILT_IN: "  (built-in)"}.get(source, "")  # IDENT's italics
            print(f"  {name:<{width}}  {_value(value)}{mark}")
    dags = sum(1 for resolved in blocks if resolved.block.enabled)
    print(f"\n{len(config.integrations)} integration(s), {len(blocks)} capability block(s), {dags} DAG(s).")
    print("Values marked (defaults) come from the defaults block, (built-in) from the built-in defaults.")
    return OK


def _database(args: argparse.Namespace):
    from ident_integrations.store.database import IdentDatabase

    conn_id = args.conn_id or _load(None).clinic.ident_conn_id
    try:
        return IdentDatabase(conn_id)
    except ValueError as exc:  # a connection of the wrong type
        raise CommandError(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. the connection is not defined anywhere
        raise CommandError(f"cannot use the IDENT database connection {conn_id!r}: {exc}") from None


def _run_on_database(action):
    """Turn database errors into one readable line (the driver's message), not a traceback."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        return action()
    except SQLAlchemyError as exc:
        raise CommandError(f"the IDENT database answered: {getattr(exc, 'orig', None) or exc}") from None


def db_upgrade(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    db = _database(args)
    moved_from = _run_on_database(db.ensure_schema)
    if moved_from is None:
        print(f"{db.conn_id}: already at {migrate.head()}")
    else:
        print(f"{db.conn_id}: upgraded from {moved_from or 'an unversioned database'} to {migrate.head()}")
    return OK


def db_current(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    db = _database(args)

    def read() -> str | None:
        with db.engine.connect() as connection:
            return migrate.current(connection)

    current, head = _run_on_database(read), migrate.head()
    print(f"{db.conn_id}: at {current or 'no revision (empty or foundation-era database)'}; newest is {head}")
    if current == head:
        print("up to date")
        return OK
    print("behind: run `ident db upgrade` (or let the next DAG run do it)")
    return FAILED


def db_sql(args: argparse.Namespace) -> int:
    from ident_integrations.store import migrate

    sys.stdout.write(migrate.upgrade_sql(args.dialect))
    return OK


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
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # argparse exits with 2 on a usage error
    # An admin command, like Airflow's API server: outside a task the Task SDK only looks up
    # connections in the metadata database in a "server" process. (Airflow's own switch, set the
    # same way by its api_fastapi/main.py; AIRFLOW_CONN_* variables work either way.)
    os.environ.setdefault("_AIRFLOW_PROCESS_CONTEXT", "server")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # Airflow's internals, not ours to fix
    # The command's own lines are the output; Alembic's and Airflow's INFO chatter is not.
    logging.disable(logging.INFO)
    try:
        return args.handler(args)
    except CommandError as exc:
        print(f"ident: {exc}", file=sys.stderr)
        return exc.code


if __name__ == "__main__":
    sys.exit(main())
