"""CLI: ``python -m sandbox --host 127.0.0.1 --port 8765``."""

from __future__ import annotations

import argparse
import os
import secrets
import sys

from .app import create_app
from .clinic_tables import TABLE, TENANT
from .serve import bind, make_server
from .settings import Settings

KEY_ENV = "SANDBOX_INTEGRATION_KEY"


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m sandbox", description="Local emulator of IDENT's external services.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--seed", type=int, default=42, help="seed of all generated data and fault randomness")
    p.add_argument("--days", type=int, default=7, help="days of back catalogue before start-up")
    p.add_argument(
        "--live-interval", type=float, default=20.0, help="seconds between new live leads after start-up (0 = none)"
    )
    p.add_argument("--call-days", type=int, default=365, help="days of call history before the start day")
    p.add_argument("--calls-per-day", type=float, default=300, help="UIS calls a day (weekly average)")
    p.add_argument(
        "--live-call-interval", type=float, default=90.0, help="seconds between new calls after start-up (0 = none)"
    )
    p.add_argument("--timezone", default="Europe/Moscow", help="zone of emitted dates and of offset-less input")
    p.add_argument("--key-file", help=f"file holding the integration key (else env {KEY_ENV}, else random)")
    p.add_argument(
        "--clinic-db", metavar="PATH", help="SQLite file to keep the clinic's own Tickets table in (default: none)"
    )
    faults = p.add_argument_group("faults at start-up (switchable later via /_sandbox/faults)")
    faults.add_argument("--latency-ms", type=int, default=0)
    faults.add_argument("--error-rate", type=_rate, default=0.0, help="probability of a 500/502/503")
    faults.add_argument("--auth-failure", action="store_true", help="answer every request 401")
    faults.add_argument("--malformed-rate", type=_rate, default=0.0, help="probability of a 200 with a non-JSON body")
    return p.parse_args(argv)


def resolve_key(args: argparse.Namespace) -> tuple[str, bool]:
    """(key, generated?): --key-file, then the environment, then a fresh random key."""
    if args.key_file:
        with open(args.key_file, encoding="utf-8") as fh:
            key = fh.read().strip()
        if not key:
            sys.exit(f"--key-file {args.key_file} is empty")
        return key, False
    if os.environ.get(KEY_ENV):
        return os.environ[KEY_ENV].strip(), False
    return secrets.token_urlsafe(24), True


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    key, generated = resolve_key(args)
    settings = Settings(
        key=key,
        seed=args.seed,
        days=args.days,
        live_interval=args.live_interval,
        call_days=args.call_days,
        calls_per_day=args.calls_per_day,
        live_call_interval=args.live_call_interval,
        timezone=args.timezone,
        latency_ms=args.latency_ms,
        error_rate=args.error_rate,
        auth_failure=args.auth_failure,
        malformed_rate=args.malformed_rate,
        clinic_db=args.clinic_db,
    )
    app = create_app(settings)
    sock = bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    base = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    print(
        f"sandbox listening on {base} (services: {', '.join(app.state.ctx.faults.services())}; "
        f"control API: {base}/_sandbox/health)",
        flush=True,
    )
    if args.clinic_db:
        print(f"clinic's own database: table {TABLE} (leads of tenant {TENANT}) in {args.clinic_db}", flush=True)
    if generated:
        # Printed once so a developer can copy it; set SANDBOX_INTEGRATION_KEY to choose it instead.
        print(f"generated integration key (header IDENT-Integration-Key): {key}", flush=True)
    make_server(app).run(sockets=[sock])


if __name__ == "__main__":
    main()
