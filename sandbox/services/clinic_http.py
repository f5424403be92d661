"""IDENT "clinic's own service over HTTP" (reference §2.1–2.5): GetTickets and empty call lists.

The method names, query parameters and ticket fields come from third-party implementations of the
protocol ([S] in the reference), not from IDENT itself.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..clock import format_iso, parse_iso
from ..context import SandboxContext, Service
from ..demo_data import LeadGenerator

NAME = "clinic_http"
MAX_LIMIT = 1000
KEY_HEADER = "IDENT-Integration-Key"
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass
class _Tenant:
    generator: LeadGenerator
    injected: list[dict] = field(default_factory=list)  # raw tickets from the control API, served as-is
    patches: dict[str, dict] = field(default_factory=dict)  # Id -> fields merged over a generated lead


@dataclass
class _Entry:
    ticket: dict
    moment: datetime | None  # parsed DateAndTime; None = unparseable
    defect: str | None
    order: tuple


class ClinicHttp:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._tenants: dict[str, _Tenant] = {}

    def tenant(self, name: str) -> _Tenant:
        state = self._tenants.get(name)
        if state is None:
            s = self.ctx.settings
            generator = LeadGenerator(s.seed, name, self.ctx.clock.start_time, self.ctx.tz, s.days, s.live_interval)
            state = self._tenants[name] = _Tenant(generator)
        return state

    def entries(self, name: str) -> list[_Entry]:
        """Every ticket visible now, in the stable (DateAndTime, Id) order; unparseable dates last."""
        now = self.ctx.clock.now()
        state = self.tenant(name)
        entries = []
        for lead in state.generator.visible(now):
            patch = state.patches.get(lead.id)
            ticket = {**lead.ticket, **patch} if patch else lead.ticket
            entries.append(self._entry(ticket, lead.defect, 0, lead.index))
        for seq, ticket in enumerate(state.injected):
            entries.append(self._entry(ticket, None, 1, seq))
        # Only what already happened is visible; an unparseable date cannot be judged, so it is kept.
        visible = [e for e in entries if e.moment is None or e.moment <= now]
        return sorted(visible, key=lambda e: e.order)

    def _entry(self, ticket: dict, defect: str | None, source: int, seq: int) -> _Entry:
        moment = parse_iso(ticket.get("DateAndTime"), self.ctx.tz)
        order = (0, moment, str(ticket.get("Id")), source, seq) if moment else (1, source, seq)
        return _Entry(ticket, moment, defect, order)

    def check_key(self, request: Request) -> Response | None:
        """401 without the key, 403 with a wrong one; plain text that IDENT copies to its exchange log."""
        key = request.headers.get(KEY_HEADER)
        if not key:
            return PlainTextResponse(f"{KEY_HEADER} header is missing", status_code=401)
        if not hmac.compare_digest(key.encode(), self.ctx.settings.key.encode()):
            return PlainTextResponse(f"Wrong {KEY_HEADER}: access denied", status_code=403)
        return None


def _bad_request(text: str) -> PlainTextResponse:
    return PlainTextResponse(text, status_code=400)


def _unknown_tenant(tenant: str) -> PlainTextResponse | None:
    if _TENANT.fullmatch(tenant):
        return None
    return PlainTextResponse("Unknown tenant", status_code=404)


def _int_param(params: dict[str, str], name: str, minimum: int) -> int | None | PlainTextResponse:
    raw = params.get(name.lower(), "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        return _bad_request(f"{name} must be an integer, got {raw!r}")
    if value < minimum:
        return _bad_request(f"{name} must be >= {minimum}, got {value}")
    return value


def create(ctx: SandboxContext) -> Service:
    service = ClinicHttp(ctx)
    router = APIRouter()
    control = APIRouter()

    @router.get("/{tenant}/GetTickets")
    async def get_tickets(tenant: str, request: Request) -> Response:
        if error := _unknown_tenant(tenant) or service.check_key(request):
            return error
        # Parameter names matched case-insensitively: cheap leniency towards hand-written clients.
        params = {k.lower(): v for k, v in request.query_params.items()}
        bounds = []
        for name in ("dateTimeFrom", "dateTimeTo"):
            raw = params.get(name.lower())
            if not raw:
                return _bad_request(f"Query parameter {name} is required (ISO 8601, e.g. 2025-01-05T14:45:37+03:00)")
            moment = parse_iso(raw, ctx.tz)
            if moment is None:
                return _bad_request(f"Query parameter {name} is not an ISO 8601 date-time: {raw!r}")
            bounds.append(moment)
        start, end = bounds
        if start > end:
            return _bad_request("dateTimeFrom is later than dateTimeTo")
        limit = _int_param(params, "limit", 1)
        offset = _int_param(params, "offset", 0)
        for value in (limit, offset):
            if isinstance(value, Response):
                return value
        if limit is not None and limit > MAX_LIMIT:
            return _bad_request(f"limit must not exceed {MAX_LIMIT}, got {limit}")

        # Filter before slicing, so a short page reliably means "no more" (reference §2.3).
        selected = [e.ticket for e in service.entries(tenant) if e.moment is None or start <= e.moment <= end]
        offset = offset or 0
        page = selected[offset:] if limit is None else selected[offset : offset + limit]
        return JSONResponse(page)

    async def no_calls(tenant: str, request: Request) -> Response:
        # A clinic service without telephony answers an empty array rather than 404 (reference §2.5).
        if error := _unknown_tenant(tenant) or service.check_key(request):
            return error
        return JSONResponse([])

    router.add_api_route("/{tenant}/GetFinishedCalls", no_calls, methods=["GET"])
    router.add_api_route("/{tenant}/GetOngoingCalls", no_calls, methods=["GET"])

    @control.post("/{tenant}/tickets", status_code=201)
    async def add_ticket(tenant: str, ticket: Annotated[dict[str, Any], Body()]) -> dict:
        if error := _unknown_tenant(tenant):
            return error
        state = service.tenant(tenant)
        state.injected.append(ticket)
        return {"stored": ticket, "injected_total": len(state.injected)}

    @control.patch("/{tenant}/tickets/{ticket_id}")
    async def patch_ticket(tenant: str, ticket_id: str, fields: Annotated[dict[str, Any], Body()]) -> Response:
        if error := _unknown_tenant(tenant):
            return error
        state = service.tenant(tenant)
        patched = 0
        for ticket in state.injected:
            if str(ticket.get("Id")) == ticket_id:
                ticket.update(fields)
                patched += 1
        generator = state.generator
        if ticket_id.isdigit() and 0 <= int(ticket_id) - generator.id_base < generator.visible_count(ctx.clock.now()):
            state.patches[ticket_id] = {**state.patches.get(ticket_id, {}), **fields}
            patched += 1
        if not patched:
            return JSONResponse({"detail": f"No ticket with Id {ticket_id!r}"}, status_code=404)
        return JSONResponse({"patched": patched})

    @control.get("/{tenant}/stats")
    async def stats(tenant: str) -> dict:
        entries = service.entries(tenant)
        counts = ctx.requests.get((NAME, tenant), {})
        return {
            "tenant": tenant,
            "now": format_iso(ctx.clock.now(), ctx.tz),
            "total_visible": len(entries),
            "invalid_visible": sum(1 for e in entries if e.defect),
            "injected": len(service.tenant(tenant).injected),
            "requests_served": sum(counts.values()),
            "requests_by_status": {str(k): v for k, v in sorted(counts.items())},
        }

    @control.get("/{tenant}/defects")
    async def defects(tenant: str) -> dict:
        """Intended defect of every visible generated lead (the side table; injected tickets excluded)."""
        entries = service.entries(tenant)
        return {"tenant": tenant, "defects": {str(e.ticket.get("Id")): e.defect for e in entries if e.defect}}

    return Service(NAME, router, control)
