"""Benchmark of a first calls run: a year of UIS call history from the sandbox into MariaDB, by our
``import_calls`` and, side by side in the same run, by a dlt pipeline over the same API into the
same MariaDB server. Prints wall time, rows, rows/s and peak RSS of each side and our throughput as
a ratio of dlt's. Prints figures only; nothing is asserted.

    .venv/bin/python bench/calls_backfill.py [--days 365] [--dlt-append] [--profile FILE]

The dlt side needs its own venv (``make bench-calls`` creates it from bench/requirements.txt); it
runs in a subprocess with that venv's python, this same file with ``--dlt-worker``. The sandbox
runs in a third process, so each side's RSS and CPU are its own. See bench/README.md.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
DLT_PYTHON = ROOT / "bench" / ".venv-dlt" / "bin" / "python"
MYSQL = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
TIMEZONE = "Europe/Moscow"  # the sandbox account's timezone (the CLI's default)
ACCOUNT = "bench"  # the UIS account (path segment) both sides read
SEED = 7
OURS = {"page_limit": 5_000, "max_report_days": 90}  # our best settings: UIS's largest page, 90-day chunks
# dlt's settings, from its performance guide (docs/reference/performance.md) and tried here: pages
# of 10 000 rows yielded whole; the intermediate files uncompressed (the fastest variant tried);
# the default buffers (5000 items), no file rotation and the normalize step in-process (larger
# buffers, rotation with parallel loads, or 2 normalize workers were no faster on 2 cores; see
# bench/README.md). Any of them can be overridden with --dlt-env KEY=VALUE.
DLT_ENV = {
    "RUNTIME__DLTHUB_TELEMETRY": "false",  # no network here but the package registries
    "DATA_WRITER__DISABLE_COMPRESSION": "true",
}
DLT_PAGE_LIMIT = 10_000
DLT_WINDOW_DAYS = 90  # the API's limit is 3 months a request


def peak_rss_mib(who: int = resource.RUSAGE_SELF) -> float:
    """The process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss of a child carries its
    parent's peak at the fork, which made the dlt worker report ours)."""
    if who == resource.RUSAGE_SELF:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(who).ru_maxrss / 1024  # KiB on Linux


def uis_time(moment: datetime) -> str:
    """UIS's wire format: naive ``YYYY-MM-DD hh:mm:ss`` in the account's timezone."""
    return moment.strftime("%Y-%m-%d %H:%M:%S")


# --- the dlt side (runs under bench/.venv-dlt/bin/python) ---------------------------------------


def dlt_worker(job: dict[str, Any]) -> dict[str, Any]:
    """Load [start, end) with a dlt resource; return the figures. Everything dlt is imported here."""
    os.environ.update(job["env"])
    t0 = time.perf_counter()
    import dlt
    from dlt.common import json as dlt_json
    from dlt.sources.helpers import requests as dlt_requests
    from dlt.sources.helpers.rest_client import RESTClient
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

    import_s = time.perf_counter() - t0
    imports_rss = peak_rss_mib()
    url, token, limit = job["url"], job["token"], job["page_limit"]
    fetched = {"rows": 0, "requests": 0}

    def rpc_body(date_from: str, date_till: str) -> dict[str, Any]:
        params = {"access_token": token, "date_from": date_from, "date_till": date_till, "limit": limit, "offset": 0}
        params.update(fields=job["fields"], sort=[{"field": "start_time", "order": "asc"}])  # what our hook asks
        return {"jsonrpc": "2.0", "id": 1, "method": "get.calls_report", "params": params}

    def raise_rpc_error(response, *args, **kwargs) -> None:
        response.raise_for_status()
        if b'"error"' in response.content[:200]:  # JSON-RPC errors come with HTTP 200
            raise RuntimeError(f"UIS error: {response.text[:300]}")

    def pages_rest_client(date_from: str, date_till: str):
        """dlt's RESTClient: offset/limit in the JSON body, the total from metadata."""
        client = RESTClient(
            base_url=url,
            paginator=OffsetPaginator(
                limit=limit,
                offset_body_path="params.offset",
                limit_body_path="params.limit",
                total_path="result.metadata.total_items",
            ),
            data_selector="result.data",
        )
        body, hooks = rpc_body(date_from, date_till), {"response": [raise_rpc_error]}
        for page in client.paginate(method="POST", json=body, hooks=hooks):
            fetched["requests"] += 1
            yield page

    def pages_requests(date_from: str, date_till: str):
        """dlt's requests wrapper (retries) and dlt's orjson parser, offset += limit up to total_items."""
        body = rpc_body(date_from, date_till)
        while True:
            response = dlt_requests.post(url, json=body, timeout=120)
            fetched["requests"] += 1
            raise_rpc_error(response)
            result = dlt_json.loadb(response.content)["result"]
            page = result["data"]
            if page:
                yield page
            body["params"]["offset"] += limit
            if not page or body["params"]["offset"] >= result["metadata"]["total_items"]:
                return

    pages = pages_rest_client if job["client"] == "rest" else pages_requests
    start, end = datetime.fromisoformat(job["start"]), datetime.fromisoformat(job["end"])

    # The idiomatic cursor: a later run would resume from the newest start_time loaded.
    cursor = dlt.sources.incremental("start_time", initial_value=uis_time(start), end_value=uis_time(end))

    @dlt.resource(name="calls", primary_key="id", write_disposition=job["write_disposition"], max_table_nesting=0)
    def calls(start_time=cursor):
        """Windows of at most DLT_WINDOW_DAYS from the incremental's start up to its end."""
        window_start = datetime.fromisoformat(start_time.last_value or start_time.initial_value)
        window_end_all = datetime.fromisoformat(start_time.end_value)
        while window_start < window_end_all:
            window_end = min(window_start + timedelta(days=DLT_WINDOW_DAYS), window_end_all)
            # date_till is inclusive at the API: the window's last second
            for page in pages(uis_time(window_start), uis_time(window_end - timedelta(seconds=1))):
                fetched["rows"] += len(page)
                yield page
            window_start = window_end

    pipeline = dlt.pipeline(
        pipeline_name=f"uis_calls_{job['dataset']}",
        pipelines_dir=job["pipelines_dir"],
        destination=dlt.destinations.sqlalchemy(job["credentials"]),
        dataset_name=job["dataset"],
    )
    stages = {}
    t0 = time.perf_counter()
    pipeline.extract(calls())
    stages["extract_s"] = time.perf_counter() - t0
    pipeline.normalize()
    stages["normalize_s"] = time.perf_counter() - t0 - stages["extract_s"]
    pipeline.load().raise_on_failed_jobs()
    wall = time.perf_counter() - t0
    stages["load_s"] = wall - stages["extract_s"] - stages["normalize_s"]
    return {
        "wall_s": wall,
        "rows": fetched["rows"],
        "requests": fetched["requests"],
        "peak_rss_mib": peak_rss_mib(),
        "children_peak_rss_mib": peak_rss_mib(resource.RUSAGE_CHILDREN),
        "imports_rss_mib": imports_rss,
        "import_s": import_s,
        "dlt_version": dlt.__version__,
        **stages,
    }


# --- the sandbox, in its own process ------------------------------------------------------------


class SandboxProcess:
    """``python -m sandbox`` on a free loopback port with a key file; stopped on exit."""

    def __init__(self, workdir: Path, call_days: int) -> None:
        self.workdir, self.call_days = workdir, call_days
        self.key = uuid.uuid4().hex
        self.proc: subprocess.Popen | None = None
        self.base_url = ""

    def __enter__(self) -> SandboxProcess:
        key_file = self.workdir / "sandbox.key"
        key_file.write_text(self.key)
        log = self.workdir / "sandbox.log"
        command = [sys.executable, "-m", "sandbox", "--port", "0", "--key-file", str(key_file)]
        command += ["--seed", str(SEED), "--live-interval", "0", "--timezone", TIMEZONE]
        command += ["--call-days", str(self.call_days)]
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not self.base_url:
            match = re.search(r"listening on (\S+)", log.read_text(errors="replace"))
            if match:
                self.base_url = match.group(1)
            elif self.proc.poll() is not None or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"the sandbox did not start:\n{log.read_text(errors='replace')[-2000:]}")
            else:
                time.sleep(0.1)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def uis_url(self) -> str:
        return f"{self.base_url}/uis/{ACCOUNT}/v2.0"

    def cpu_seconds(self) -> float:
        """user + system CPU time the sandbox process has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0


# --- MariaDB -------------------------------------------------------------------------------------


def mysql_connect():
    import MySQLdb

    return MySQLdb.connect(**MYSQL, charset="utf8mb4", autocommit=True)


def query_one(sql: str) -> tuple:
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()
    finally:
        conn.close()


def drop_databases(names: list[str]) -> None:
    conn = mysql_connect()
    try:
        with conn.cursor() as cur:
            for name in names:
                cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        conn.close()


# --- our side (in this process) ------------------------------------------------------------------


def set_connection(conn_id: str, **fields: Any) -> None:
    """An Airflow connection as an AIRFLOW_CONN_* variable holding JSON, the way the tests do."""
    from airflow.sdk import Connection

    os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = Connection(conn_id=conn_id, **fields).as_json()


def run_ours(sandbox: SandboxProcess, database: str, start_day: date, end: datetime, profile: str | None) -> dict:
    """import_calls' first run (no state): start_day 00:00 up to ``end``, chunks and pages."""
    import gc

    from ident_integrations.capabilities.calls import import_calls
    from ident_integrations.config import parse_config
    from ident_integrations.registry import service_for

    set_connection(
        "ident_bench_calls_db",
        conn_type="mysql",
        host=MYSQL["host"],
        port=MYSQL["port"],
        login=MYSQL["user"],
        password=MYSQL["passwd"],
        schema=database,
        extra=json.dumps({"charset": "utf8mb4"}),
    )
    set_connection("uis_bench", conn_type="ident_uis", host=sandbox.uis_url, password=sandbox.key)
    config = parse_config(
        {
            "clinic": {"ident_conn_id": "ident_bench_calls_db", "timezone": TIMEZONE},
            "integrations": [
                {
                    "name": "bench",
                    "service": "uis",
                    "conn_id": "uis_bench",
                    "calls": {"start_date": start_day.isoformat(), **OURS},
                }
            ],
        },
        "bench",
    )
    settings = config.resolve("bench", "calls")
    # The hook module (and the HTTP stack under it) is imported on a task's first use; imported
    # here so the figure is the run's own work, as in bench_lead_import.py.
    service_for(settings).hook_class()
    imports_rss = peak_rss_mib()
    gc.collect()
    cpu0 = sandbox.cpu_seconds()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    t0 = time.perf_counter()
    result = import_calls(settings, now=end)
    wall = time.perf_counter() - t0
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    return {
        "wall_s": wall,
        "rows": result.fetched,
        "summary": result.summary(),
        "rejected": result.rejected,
        "peak_rss_mib": peak_rss_mib(),
        "imports_rss_mib": imports_rss,
        "sandbox_cpu_s": sandbox.cpu_seconds() - cpu0,
    }


def run_dlt(sandbox: SandboxProcess, job: dict[str, Any], python: Path) -> dict:
    cpu0 = sandbox.cpu_seconds()
    proc = subprocess.run(
        [str(python), str(Path(__file__).resolve()), "--dlt-worker", json.dumps(job)],
        cwd=job["pipelines_dir"],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the dlt worker failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    figures = json.loads(proc.stdout.strip().splitlines()[-1])
    figures["sandbox_cpu_s"] = sandbox.cpu_seconds() - cpu0
    return figures


# --- main ------------------------------------------------------------------------------------------


def print_table(rows: list[tuple[str, dict]]) -> None:
    print(f"\n{'side':<34} {'rows':>9} {'wall s':>8} {'rows/s':>8} {'peak RSS MiB':>13} {'sandbox CPU s':>14}")
    for name, f in rows:
        rate = f["rows"] / f["wall_s"] if f["wall_s"] else 0.0
        print(
            f"{name:<34} {f['rows']:>9,} {f['wall_s']:>8.2f} {rate:>8,.0f} {f['peak_rss_mib']:>13,.0f}"
            f" {f['sandbox_cpu_s']:>14.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--days", type=int, default=365, help="days of history to load (default 365)")
    parser.add_argument("--dlt-append", action="store_true", help="also load with write_disposition=append")
    parser.add_argument(
        "--dlt-client", choices=("requests", "rest"), default="requests", help="dlt side's HTTP paging (see README)"
    )
    parser.add_argument("--dlt-env", action="append", default=[], metavar="KEY=VALUE", help="a dlt config override")
    parser.add_argument("--dlt-first", action="store_true", help="run the dlt side before ours")
    parser.add_argument("--skip-dlt", action="store_true", help="our side only")
    parser.add_argument("--profile", metavar="FILE", help="run our side under cProfile; stats to FILE")
    parser.add_argument("--dlt-worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dlt_worker:
        print(json.dumps(dlt_worker(json.loads(args.dlt_worker))))
        return

    workdir = Path(tempfile.mkdtemp(prefix="ident-bench-calls-"))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    # Set before anything imports Airflow, so the demo's .airflow/ is untouched.
    os.environ["AIRFLOW_HOME"] = str(workdir / "airflow")
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"  # no per-chunk progress lines
    sys.path[:0] = [str(ROOT / "plugins"), str(ROOT)]
    from ident_hooks.uis import UisHook

    if not args.skip_dlt and not DLT_PYTHON.exists():
        sys.exit(f"{DLT_PYTHON} is missing: run `make bench-calls`, or --skip-dlt")

    tz = ZoneInfo(TIMEZONE)
    name = f"ident_bench_calls_{uuid.uuid4().hex[:8]}"
    ours_db, dlt_db, dlt_append_db = name, f"{name}_dlt", f"{name}_dlta"
    dlt_env = {**DLT_ENV, **dict(item.split("=", 1) for item in args.dlt_env)}
    databases = [ours_db, dlt_db, f"{dlt_db}_staging", dlt_append_db, f"{dlt_append_db}_staging"]
    results: list[tuple[str, dict]] = []
    conn = mysql_connect()
    with conn.cursor() as cur:
        for db in (ours_db, dlt_db, dlt_append_db):
            cur.execute(f"CREATE DATABASE `{db}` CHARACTER SET utf8mb4")
    conn.close()
    try:
        with SandboxProcess(workdir, call_days=args.days + 2) as sandbox:
            # A fixed end for both sides, an hour ago on the hour, so every call in it is finished
            # and both see the same rows; the start is 00:00 clinic time `days` days before.
            end = (datetime.now(tz) - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
            start_day = end.date() - timedelta(days=args.days)
            start = datetime.combine(start_day, datetime.min.time())
            print(f"sandbox {sandbox.base_url}; window {start:%Y-%m-%d %H:%M} .. {end:%Y-%m-%d %H:%M} {TIMEZONE}")
            print(f"ours: page_limit {OURS['page_limit']}, max_report_days {OURS['max_report_days']}")
            print(f"dlt: {args.dlt_client} client, page {DLT_PAGE_LIMIT}, env {dlt_env}", flush=True)

            def dlt_job(dataset: str, disposition: str) -> dict:
                pipelines_dir = workdir / f"dlt-{dataset}"
                pipelines_dir.mkdir()
                return {
                    "url": sandbox.uis_url,
                    "token": sandbox.key,
                    "timezone": TIMEZONE,
                    "start": start.isoformat(),
                    "end": end.replace(tzinfo=None).isoformat(),
                    "page_limit": DLT_PAGE_LIMIT,
                    "fields": list(UisHook.CALL_FIELDS),
                    "client": args.dlt_client,
                    "credentials": f"mysql://{MYSQL['user']}:{MYSQL['passwd']}@{MYSQL['host']}:{MYSQL['port']}/{dataset}",
                    "dataset": dataset,
                    "write_disposition": disposition,
                    "pipelines_dir": str(pipelines_dir),
                    "env": dlt_env,
                }

            def ours() -> None:
                print("ours: import_calls ...", flush=True)
                figures = run_ours(sandbox, ours_db, start_day, end.astimezone(UTC), args.profile)
                print(f"  {figures['summary']}")
                results.append(("ours (import_calls)", figures))

            def theirs() -> None:
                print("dlt: merge ...", flush=True)
                results.append(("dlt merge", run_dlt(sandbox, dlt_job(dlt_db, "merge"), DLT_PYTHON)))

            steps = [ours] if args.skip_dlt else ([theirs, ours] if args.dlt_first else [ours, theirs])
            for step in steps:
                step()
            if args.dlt_append and not args.skip_dlt:
                print("dlt: append ...", flush=True)
                figures = run_dlt(sandbox, dlt_job(dlt_append_db, "append"), DLT_PYTHON)
                results.append(("dlt append (not in the ratio)", figures))
            sandbox_rss = sandbox.rss_mib()

        report(results, ours_db, None if args.skip_dlt else dlt_db, sandbox_rss)
        if args.profile:
            import pstats

            print(f"\nprofile of our side ({args.profile}; wall time above includes the profiler):")
            pstats.Stats(args.profile).sort_stats("cumulative").print_stats(25)
            pstats.Stats(args.profile).sort_stats("tottime").print_stats(25)
    finally:
        drop_databases(databases)


def report(results: list[tuple[str, dict]], ours_db: str, dlt_db: str | None, sandbox_rss: float) -> None:
    print_table(results)
    figures = dict(results)
    ours = figures["ours (import_calls)"]
    print(f"\nours: RSS after the imports (Airflow, SQLAlchemy, pydantic, ...) {ours['imports_rss_mib']:,.0f} MiB")
    if "dlt merge" in figures:
        theirs = figures["dlt merge"]
        print(
            f"dlt merge: extract {theirs['extract_s']:.2f} s, normalize {theirs['normalize_s']:.2f} s,"
            f" load {theirs['load_s']:.2f} s; {theirs['requests']} requests; dlt {theirs['dlt_version']},"
            f" import {theirs['import_s']:.2f} s, RSS after the imports {theirs['imports_rss_mib']:,.0f} MiB"
            + (f", children {theirs['children_peak_rss_mib']:,.0f} MiB" if theirs["children_peak_rss_mib"] > 1 else "")
        )
        ratio = (ours["rows"] / ours["wall_s"]) / (theirs["rows"] / theirs["wall_s"])
        print(f"\nratio ours / dlt merge (rows/s): {ratio:.2f}  (target >= 1.5)")
    print(f"sandbox peak RSS {sandbox_rss:,.0f} MiB (its own process)")

    stored, id_sum = query_one(
        f"SELECT COUNT(*), COALESCE(SUM(CAST(external_id AS UNSIGNED)), 0) FROM `{ours_db}`.ident_calls"
    )
    rejected = query_one(f"SELECT COUNT(*) FROM `{ours_db}`.ident_rejects")[0]
    print(f"\nrows in the databases: ours ident_calls {stored:,} (+ {rejected:,} in ident_rejects)")
    if dlt_db is None:
        return
    dlt_rows, dlt_id_sum = query_one(f"SELECT COUNT(*), COALESCE(SUM(id), 0) FROM `{dlt_db}`.calls")
    print(f"                       dlt calls {dlt_rows:,} (it validates nothing, so the defective ones too)")
    rejected_id_sum = query_one(
        f"SELECT COALESCE(SUM(CAST(external_id AS UNSIGNED)), 0) FROM `{ours_db}`.ident_rejects"
    )[0]
    ours = (stored + rejected, int(id_sum) + int(rejected_id_sum))
    if ours != (dlt_rows, int(dlt_id_sum)):
        print(f"WARNING: MISMATCH: ours {ours[0]:,} calls stored or rejected (id sum {ours[1]}), "
              f"dlt {dlt_rows:,} (id sum {dlt_id_sum})")  # fmt: skip
    else:
        print("the same calls on both sides: ours stored + rejected = dlt's rows (count and sum of call ids)")


if __name__ == "__main__":
    main()
