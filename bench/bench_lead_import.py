"""Benchmarks of the lead import: validation, LeadStore.save (SQLite, MariaDB) and the whole
import_leads path against the in-process sandbox. Prints figures only; nothing is asserted.

    .venv/bin/python bench/bench_lead_import.py [--leads N] [--skip-mariadb]

See bench/README.md for what each figure means and the results on the reference machine.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import logging
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
# One throw-away folder for the Airflow home and the SQLite files, removed at exit. AIRFLOW_HOME is
# set before anything imports Airflow, so the demo's .airflow/ is untouched.
WORKDIR = Path(tempfile.mkdtemp(prefix="ident-bench-"))
atexit.register(shutil.rmtree, WORKDIR, ignore_errors=True)
os.environ["AIRFLOW_HOME"] = str(WORKDIR / "airflow")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # no "GetTickets: N records so far" lines

from airflow.sdk import Connection  # noqa: E402

from ident_integrations.capabilities.leads import import_leads  # noqa: E402
from ident_integrations.config import parse_config  # noqa: E402
from ident_integrations.records.leads import validate_leads  # noqa: E402
from ident_integrations.registry import service_for  # noqa: E402
from ident_integrations.store.database import IdentDatabase  # noqa: E402
from ident_integrations.store.leads import LeadStore  # noqa: E402
from sandbox.demo_data import DEFECT_KINDS, INVALID_EVERY, build_ticket  # noqa: E402
from sandbox.testing import SandboxServer  # noqa: E402

# Memory already taken by Airflow, pydantic, FastAPI and the rest before any benchmark runs.
IMPORTS_RSS_MIB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
TZ = ZoneInfo("Europe/Moscow")
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
STEADY_RUNS = 10  # a run takes ~15 ms, so its best of a few is noisy
ROWS: list[tuple[str, str, str, str]] = []  # (benchmark, leads, wall s, leads/s) for the final table


def report(name: str, count: int, seconds: float, how: str) -> None:
    ROWS.append((name, f"{count:,}", f"{seconds:.3f}", f"{count / seconds:,.0f}" if count else "-"))
    print(f"  {name}: {count:,} leads in {seconds:.3f} s ({how})", flush=True)


def set_connection(conn_id: str, **fields) -> None:
    """Give a connection to Airflow the way the tests do: an AIRFLOW_CONN_* variable holding JSON."""
    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = Connection(conn_id=conn_id, **fields).as_json()


# --- synthetic tickets -------------------------------------------------------------------------


def make_tickets(count: int, seed: int = 1) -> list[dict]:
    """``count`` IDENT tickets, one every ~2 minutes back from now, ids growing with time.

    The field values come from the sandbox's own ticket builder (names, phones in every accepted
    notation, UTM tags, planned visits), and 1 in INVALID_EVERY carries one of its defects, so the
    mix of valid and invalid records is the one the emulator serves.
    """
    now = datetime.now(TZ).replace(microsecond=0)
    tickets = []
    for i in range(count):
        defect = DEFECT_KINDS[(i // INVALID_EVERY) % len(DEFECT_KINDS)] if i % INVALID_EVERY == 3 else None
        when = now - timedelta(minutes=2 * (count - i))
        tickets.append(build_ticket(random.Random(seed * 1_000_003 + i), str(100_000 + i), when, TZ, defect, "bench"))
    return tickets


def changed_copy(tickets: list[dict], share: float = 0.10) -> list[dict]:
    """The same tickets with ``share`` of them edited on the site (a new comment), keys unchanged."""
    step = round(1 / share)
    return [
        {**t, "Comment": f"перезвонить после {10 + i % 8}:00"} if i % step == 0 else t for i, t in enumerate(tickets)
    ]


# --- 1. validation -------------------------------------------------------------------------------


def bench_validate(tickets: list[dict]) -> None:
    """Pure CPU: pydantic model per record + phone checks; best of 3 because it is quick and noisy."""
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        leads, rejects = validate_leads(tickets, TZ)
        best = min(best, time.perf_counter() - t0)
    print(f"  {len(leads):,} valid, {len(rejects):,} rejected")
    report("validate_leads", len(tickets), best, "best of 3")


# --- 2. save_leads --------------------------------------------------------------------------------


def bench_save(label: str, db: IdentDatabase, tickets: list[dict]) -> None:
    """First load (inserts), the same load again (nothing changes), then 10% edited (updates).

    Validation is done outside the timer, so only LeadStore.save (one transaction each) is measured.
    Each step runs once: the first and the third change the database, so they cannot be repeated.
    """
    db.ensure_schema()
    store = LeadStore(db, "bench")
    # Each step validates its leads afresh just before the timer, as every run does: nothing a lead
    # caches (its key, payload JSON and hash) is carried from one step into the next.
    steps = [
        ("first load (insert)", tickets, "new"),
        ("re-load, no changes", tickets, "unchanged"),
        ("re-load, 10% changed", changed_copy(tickets), "updated"),
    ]
    window = None
    for step, step_tickets, counted in steps:
        step_leads, step_rejects = validate_leads(step_tickets, TZ)
        window = window or (min(lead.created_at for lead in step_leads), datetime.now(UTC))
        gc.collect()  # the set-up's garbage is not charged to the timed step
        t0 = time.perf_counter()
        result = store.save(len(tickets), step_leads, step_rejects, window)
        seconds = time.perf_counter() - t0
        print(f"  {label} {step}: {result.summary()}")
        report(f"save_leads {label}: {step} ({counted} {getattr(result, counted):,})", len(step_leads), seconds, "once")


def bench_save_sqlite(tickets: list[dict], workdir: Path) -> None:
    set_connection("ident_bench_sqlite", conn_type="sqlite", host=str(workdir / "ident.db"))
    bench_save("SQLite", IdentDatabase("ident_bench_sqlite"), tickets)


def bench_save_mariadb(tickets: list[dict]) -> None:
    """A database of its own, created here and dropped afterwards whatever happens."""
    import MySQLdb

    name = f"ident_bench_{uuid.uuid4().hex[:10]}"
    server = MySQLdb.connect(**MYSQL, charset="utf8mb4")
    try:
        with server.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
        set_connection(
            "ident_bench_mysql",
            conn_type="mysql",
            host=MYSQL["host"],
            port=MYSQL["port"],
            login=MYSQL["user"],
            password=MYSQL["passwd"],
            schema=name,
            extra=json.dumps({"charset": "utf8mb4"}),
        )
        bench_save("MariaDB", IdentDatabase("ident_bench_mysql"), tickets)
    finally:
        with server.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name}")
        server.close()


# --- 3. import_leads end to end ------------------------------------------------------------------------


def bench_import(workdir: Path) -> None:
    """HTTP paging from the sandbox + validation + save, as the DAG's task runs it, into SQLite.

    First run: the 30-day back catalogue (~1200 leads, 3 pages of 500), once. Then the steady state
    every 2 minutes: one new lead arrived, and the window (00:00 of the newest lead's day .. now)
    re-reads the whole day's leads; best of STEADY_RUNS, a fresh lead each time. The sandbox clock is pinned to
    23:30 clinic time so every run sees the same lead counts and that window is a full day (the
    largest it gets); live_interval is a day so the emulator adds no live leads while this runs.
    """
    clock = datetime.now(TZ).replace(hour=23, minute=30, second=0, microsecond=0)
    set_connection("ident_bench_import_db", conn_type="sqlite", host=str(workdir / "import.db"))
    with SandboxServer(seed=7, days=30, live_interval=86_400, start_time=clock, log_requests=False) as sandbox:
        set_connection(
            "clinic_bench",
            conn_type="ident_clinic_http",
            host=f"{sandbox.base_url}/clinic_http/bench",
            password=sandbox.key,
        )
        start_date = (sandbox.start_time - timedelta(days=31)).date()
        config = parse_config(
            {
                "clinic": {"ident_conn_id": "ident_bench_import_db"},
                "integrations": [
                    {
                        "name": "bench",
                        "service": "clinic_http",
                        "conn_id": "clinic_bench",
                        "leads": {"start_date": start_date.isoformat(), "page_size": 500},
                    }
                ],
            },
            "bench",
        )
        settings = config.resolve("bench", "leads")

        # The service's hook module (and the HTTP stack under it) is imported on a run's first use; a
        # task process pays that once. Imported here so the figures below are the import's own work.
        service_for(settings).hook_class()

        t0 = time.perf_counter()
        IdentDatabase("ident_bench_import_db").ensure_schema()
        report("IDENT schema created by the migrations (once per database)", 0, time.perf_counter() - t0, "once")

        gc.collect()
        t0 = time.perf_counter()
        result = import_leads(settings, now=sandbox.now())
        seconds = time.perf_counter() - t0
        print(f"  first run: {result.summary()}")
        report("import_leads SQLite: first run, 30-day catalogue", result.fetched, seconds, "once")

        best, best_result = float("inf"), None
        for n in range(STEADY_RUNS):
            moment = sandbox.now() - timedelta(seconds=5)
            sandbox.add_ticket(
                "bench",
                {
                    "Id": f"bench-new-{n}",
                    "DateAndTime": moment.isoformat(),
                    "ClientPhone": "8 (912) 345-67-89",
                    "ClientName": "Анна",
                },
            )
            gc.collect()
            t0 = time.perf_counter()
            result = import_leads(settings, now=sandbox.now())
            seconds = time.perf_counter() - t0
            if seconds < best:
                best, best_result = seconds, result
        print(f"  steady-state run (fastest): {best_result.summary()}")
        report("import_leads SQLite: steady state, 1 new lead", best_result.fetched, best, f"best of {STEADY_RUNS}")


# --- main ------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000, help="synthetic tickets for benchmarks 1-2")
    parser.add_argument("--skip-mariadb", action="store_true", help="no MariaDB save_leads benchmark")
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # the import logs every reject reason; keep the output to figures

    t0 = time.perf_counter()
    tickets = make_tickets(args.leads)
    print(f"built {len(tickets):,} synthetic tickets in {time.perf_counter() - t0:.1f} s", flush=True)

    print("1. validate_leads", flush=True)
    bench_validate(tickets)
    print("2. LeadStore.save", flush=True)
    bench_save_sqlite(tickets, WORKDIR)
    if args.skip_mariadb:
        print("  MariaDB skipped (--skip-mariadb)")
    else:
        bench_save_mariadb(tickets)
    print("3. import_leads against the sandbox", flush=True)
    bench_import(WORKDIR)

    # ru_maxrss is in KiB on Linux.
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(len(row[0]) for row in ROWS)
    print()
    print(f"{'benchmark':<{width}}  {'leads':>7}  {'wall s':>8}  {'leads/s':>8}")
    for name, count, seconds, rate in ROWS:
        print(f"{name:<{width}}  {count:>7}  {seconds:>8}  {rate:>8}")
    print(f"\npeak RSS: {peak_mib:,.0f} MiB (after the imports, before any benchmark: {IMPORTS_RSS_MIB:,.0f} MiB)")


if __name__ == "__main__":
    main()
