"""Assembles the emulated services, the fault machinery and the control API into one FastAPI app."""

from __future__ import annotations

import importlib
import re
import time
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import control
from .clinic_tables import ClinicTables
from .clock import format_iso
from .context import SandboxContext, require_loopback
from .settings import Settings

# One line per emulated service: a module under sandbox/services/ whose create(ctx) returns a
# sandbox.context.Service.
SERVICE_MODULES = [
    "clinic_http",  # IDENT "clinic's own service over HTTP": /clinic_http/{tenant}/GetTickets
    "uis",  # UIS / CoMagic Data API v2.0 (JSON-RPC): /uis/{account}/v2.0
    "napopravku",  # NaPopravku RTA API: /napopravku/{account}/api/v1/appointments
    "flexbe",  # Flexbe landing pages, legacy per-site API: /flexbe/{site}/mod/api/
    "top32",  # 32top partner API, an ASSUMED contract (none is public): /top32/{account}/api/partner/v1/leads
    "prodoctorov",  # ProDoctorov via MedFlex, send_schedule: /prodoctorov/{account}/v2/doctors/send_schedule/
    "sberzdorovie",  # SberZdorovye schedule push, an ASSUMED contract: /sberzdorovie/{account}/mis/v1/schedule
    "dadata",  # DaData Cleaner (address standardisation) and balance: /dadata/api/v1/clean/address
    "smsc",  # SMSC.ru SMS and e-mail: /smsc/sys/{send,status,balance,senders}.php
    "google_calendar",  # Google Calendar v3 events and the OAuth2 token grant: /google_calendar/calendar/v3/...
]


def create_app(settings: Settings) -> FastAPI:
    ctx = SandboxContext.from_settings(settings)
    # The clinic's own database (--clinic-db): written at start-up and in the background, not served.
    tables = ClinicTables(ctx, settings.clinic_db) if settings.clinic_db else None

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if tables is not None:
            tables.start()
        yield
        if tables is not None:
            tables.stop()

    app = FastAPI(
        title="IDENT integrations sandbox",
        docs_url="/_sandbox/docs",
        openapi_url="/_sandbox/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.clinic_tables = tables
    loopback = [Depends(require_loopback)]

    for module_name in SERVICE_MODULES:
        service = importlib.import_module(f"{__package__}.services.{module_name}").create(ctx)
        ctx.faults.register(service.name)
        app.include_router(service.router, prefix=f"/{service.name}")
        if service.control_router is not None:
            app.include_router(service.control_router, prefix=f"/_sandbox/{service.name}", dependencies=loopback)
    app.include_router(control.create_router(ctx), prefix="/_sandbox", dependencies=loopback)

    @app.exception_handler(StarletteHTTPException)
    async def plain_errors(request: Request, exc: StarletteHTTPException):
        # Emulated services answer errors in plain text like the real ones; the control API keeps JSON.
        if request.url.path.startswith("/_sandbox"):
            return await http_exception_handler(request, exc)
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)

    # Registered first = inner: faults run inside the request log, so faulted answers are logged too.
    @app.middleware("http")
    async def apply_faults(request: Request, call_next):
        service = _segments(request)[0]
        if ctx.faults.get(service) is None:
            return await call_next(request)
        return await ctx.faults.apply(service, request, call_next)

    @app.middleware("http")
    async def log_requests(request: Request, call_next):
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            service, second = _segments(request)[:2]
            if ctx.faults.get(service) is not None:
                ctx.requests[(service, second)][status] += 1
            if settings.log_requests:
                ms = (time.perf_counter() - started) * 1000
                # Headers (where the integration key lives) are never printed.
                print(
                    f"{format_iso(ctx.clock.now(), ctx.tz)} {request.method} {_loggable_path(request)} "
                    f"{status} {ms:.1f}ms",
                    flush=True,
                )

    return app


def _segments(request: Request) -> list[str]:
    parts = request.url.path.strip("/").split("/")
    return parts + [""] * (2 - len(parts))


_SECRET_PARAM = re.compile(r"((?:^|&)[^=&]*(?:key|token|secret)[^=&]*=)[^&]*", re.IGNORECASE)


def _loggable_path(request: Request) -> str:
    """Path and raw query, with any query parameter that looks like a key or token masked."""
    query = request.url.query
    if not query:
        return request.url.path
    return request.url.path + "?" + _SECRET_PARAM.sub(r"\1***", query)
