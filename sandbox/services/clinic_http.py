"""IDENT "clinic's own service over HTTP" (reference §2.1–2.6): GetTickets, GetFinishedCalls,
GetOngoingCalls, and the receiving end of PostTimeTable (the schedule IDENT pushes), validated
strictly and kept for ``GET /_sandbox/clinic_http/{tenant}/received``.

The method names, query parameters, ticket and call fields come from third-party implementations of
the protocol ([S] in the reference), not from IDENT itself. Calls come from the same generator as
the UIS emulator's (``sandbox/call_data.py``), rendered as IDENT's call object (§2.5).
"""

from __future__ import annotations

import hmac
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..call_data import (
    COMMUNICATION_OFFSET,
    FIX_RECORDING,
    FIX_TALK,
    LIVE_OFFSET,
    CallGenerator,
    LruCache,
    Selection,
    Stub,
    WallClock,
    midnight,
)
from ..clock import format_iso, parse_iso
from ..context import SandboxContext, Service
from ..demo_data import LeadGenerator
from ..received import BodyError, ReceivedLog, is_int, nonempty_text, parse_offset_time, read_json, received_index

NAME = "clinic_http"
MAX_LIMIT = 1000
KEY_HEADER = "IDENT-Integration-Key"
_TENANT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# A clinic with its own telephony behind this service is smaller than a UIS account: a tenth of the
# calls (and of the live ones), and a larger share of defects so a week of them has a few.
CALL_SHARE = 0.1
CALL_DEFECT_RATE = 0.02
CALL_DEFECT_KINDS = ("negative_talk", "direction_unknown", "negative_wait")
SILENT_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413


@dataclass
class _Tenant:
    generator: LeadGenerator
    calls: CallGenerator
    injected: list[dict] = field(default_factory=list)  # raw tickets from the control API, served as-is
    patches: dict[str, dict] = field(default_factory=dict)  # Id -> fields merged over a generated lead
    injected_calls: list[dict] = field(default_factory=list)  # raw call objects, served as-is
    timetables: ReceivedLog = field(default_factory=ReceivedLog)  # PostTimeTable pushes accepted


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
        self.wall = WallClock(ctx.tz)
        self._stubs = LruCache(1000)
        self._calls = LruCache(200)  # days of rendered calls (small: a tenth of a UIS account's)

    def tenant(self, name: str) -> _Tenant:
        state = self._tenants.get(name)
        if state is None:
            s = self.ctx.settings
            generator = LeadGenerator(s.seed, name, self.ctx.clock.start_time, self.ctx.tz, s.days, s.live_interval)
            calls = CallGenerator(
                s.seed,
                name,
                self.ctx.tz,
                self.ctx.clock.start_time,
                call_days=s.call_days,
                calls_per_day=s.calls_per_day * CALL_SHARE,
                live_interval=s.live_call_interval / CALL_SHARE,
                defect_rate=CALL_DEFECT_RATE,
                stub_cache=self._stubs,
            )
            state = self._tenants[name] = _Tenant(generator, calls)
        return state

    # -- calls --------------------------------------------------------------------------------------
    def history_start(self, name: str) -> datetime:
        return datetime.fromtimestamp(midnight(self.tenant(name).calls.first_day, self.ctx.tz), self.ctx.tz)

    def call_stubs(self, name: str, start: datetime, end: datetime, ongoing: bool) -> Selection:
        """Generated calls with DateAndTime in [start, end]: finished ones, or (``ongoing``) those in progress."""
        now = self.ctx.clock.now().timestamp()
        lo, hi = math.ceil(start.timestamp()), math.floor(end.timestamp())
        return self.tenant(name).calls.select(lo, hi, now, finished=not ongoing, ongoing=ongoing)

    def call_object(self, name: str, stub: Stub, base: str) -> dict:
        """A finished call as IDENT's call object: the original, or its correction from 03:00 next day."""
        gen = self.tenant(name).calls
        if stub.index >= LIVE_OFFSET:
            pair = self._render_pair(name, stub, gen.live_details(stub))
        else:
            day = self._calls.get((name, stub.day))
            if day is None:
                day = self._calls.put((name, stub.day), [self._render_pair(name, *c) for c in gen.day_calls(stub.day)])
            pair = day[stub.index]
        original, corrected = pair
        now = self.ctx.clock.now().timestamp()
        call = corrected if corrected is not None and now >= gen.fix_time(stub.day) else original
        if "RecordUrl" in call:
            call = {**call, "RecordUrl": base + call["RecordUrl"]}
        return call

    def _render_pair(self, name: str, stub: Stub, details) -> tuple[dict, dict | None]:
        if stub.fix < 0:
            return self._render(name, stub, details, corrected=True), None
        return self._render(name, stub, details, corrected=False), self._render(name, stub, details, corrected=True)

    def _render(self, name: str, stub: Stub, d, *, corrected: bool) -> dict:
        gen = self.tenant(name).calls
        fix = -1 if corrected else stub.fix
        number, description, _ = gen.lines[d.line]
        line = f"+7 {number[1:4]} {number[4:7]}-{number[7:9]}-{number[9:]}"
        contact = _ident_phone(d.contact, stub.id)
        phone_from, phone_to = (contact, line) if stub.direction == "in" else (line, contact)
        talk = stub.talk - d.talk_delta if fix == FIX_TALK else stub.talk
        call: dict = {
            "DateAndTime": self.wall.iso(stub.start),
            "Direction": stub.direction,
            "PhoneFrom": phone_from,
            "PhoneTo": phone_to,
            "WaitInSeconds": stub.wait,
            "TalkInSeconds": None if stub.lost else talk,
            "LineDescription": description,
        }
        if d.records and fix != FIX_RECORDING:
            comm = stub.id + COMMUNICATION_OFFSET
            call["RecordUrl"] = f"/clinic_http/{name}/records/{comm}/{d.records[0]}.mp3"  # made absolute per request
        if d.utm:
            for key, value in zip(
                ("UtmSource", "UtmMedium", "UtmCampaign", "UtmTerm", "UtmContent"), d.utm, strict=True
            ):
                if value is not None:
                    call[key] = value
        if d.referrer:
            call["HttpReferer"] = d.referrer
        kind = call_defect(stub)
        if kind == "negative_talk":
            call["TalkInSeconds"] = -max(talk, 1 + stub.id % 30)
        elif kind == "direction_unknown":
            call["Direction"] = "incoming"
        elif kind == "negative_wait":
            call["WaitInSeconds"] = -max(stub.wait, 1)
        return call

    def ongoing_object(self, name: str, stub: Stub, base: str) -> dict:
        """A call in progress: WaitInSeconds/TalkInSeconds so far (reference §2.5), no recording yet."""
        now = int(self.ctx.clock.now().timestamp())
        call = dict(self.call_object(name, stub, base))
        elapsed = max(0, now - stub.start)
        call["Direction"] = stub.direction  # defects are only ever in finished calls
        call["WaitInSeconds"] = min(elapsed, stub.wait)
        call["TalkInSeconds"] = max(0, min(stub.talk, elapsed - stub.wait))
        call.pop("RecordUrl", None)
        return call

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


def call_defect(stub: Stub) -> str | None:
    return CALL_DEFECT_KINDS[stub.defect % len(CALL_DEFECT_KINDS)] if stub.defect >= 0 else None


def _ident_phone(digits: str | None, call_id: int) -> str | None:
    """IDENT accepts any notation (§2.4): mostly +7…, sometimes 8 (9xx) xxx-xx-xx or as the PBX gave it."""
    if digits is None or len(digits) != 11:
        return digits
    if digits[0] == "8" or call_id % 5 == 0:
        return f"8 ({digits[1:4]}) {digits[4:7]}-{digits[7:9]}-{digits[9:]}"
    return f"+{digits}"


TIMETABLE_KEYS = {"Doctors", "Branches", "Intervals"}
NAMED_KEYS = {"Id", "Name"}
INTERVAL_KEYS = {"DoctorId", "BranchId", "StartDateTime", "LengthInMinutes", "IsBusy"}
MAX_LENGTH_MINUTES = 24 * 60


def _objects(errors: list[str], items: Any, key: str, allowed: set[str]) -> Iterator[tuple[str, dict]]:
    """The objects of the array ``items`` (the body's ``key``) with their paths, one at a time, so
    each item's own errors follow those found here: not an array, an item not an object, its
    unknown fields."""
    if not isinstance(items, list):
        errors.append(f"{key}: must be an array")
        return
    for n, item in enumerate(items):
        where = f"{key}[{n}]"
        if not isinstance(item, dict):
            errors.append(f"{where}: must be an object")
            continue
        errors += [f"{where}.{k}: unknown field" for k in sorted(set(item) - allowed)]
        yield where, item


def validate_timetable(body: Any) -> tuple[list[str], dict[str, int]]:
    """PostTimeTable's rules (reference §2.6), strictly: exactly Doctors, Branches, Intervals;
    ``Id`` integers, unique, ``Name`` non-empty text; an interval's DoctorId/BranchId one of those,
    StartDateTime ISO 8601 with a colon offset, LengthInMinutes a positive integer (at most a
    day), IsBusy a boolean, no other keys; a doctor's intervals never overlap (across branches
    too). Returns the errors (``path: text``) and a summary of what it holds."""
    if not isinstance(body, dict):
        return [f"the body must be an object with Doctors, Branches and Intervals, got {type(body).__name__}"], {}
    errors: list[str] = []
    for key in sorted(TIMETABLE_KEYS - set(body)):
        errors.append(f"{key}: missing")
    for key in sorted(set(body) - TIMETABLE_KEYS):
        errors.append(f"{key}: unknown field")
    ids: dict[str, set[int]] = {}
    for key in ("Doctors", "Branches"):
        ids[key] = set()
        for where, item in _objects(errors, body.get(key, []), key, NAMED_KEYS):
            if not is_int(item.get("Id")):
                errors.append(f"{where}.Id: must be an integer, got {item.get('Id')!r}")
            elif item["Id"] in ids[key]:
                errors.append(f"{where}.Id: {item['Id']} is listed twice")
            else:
                ids[key].add(item["Id"])
            if not nonempty_text(item.get("Name")):
                errors.append(f"{where}.Name: must be a non-empty string, got {item.get('Name')!r}")
    intervals = body.get("Intervals", [])
    spans: dict[int, list[tuple[datetime, datetime, str]]] = {}
    busy = 0
    for where, item in _objects(errors, intervals, "Intervals", INTERVAL_KEYS):
        errors += [f"{where}.{k}: missing" for k in sorted(INTERVAL_KEYS - set(item))]
        for key, known in (("DoctorId", ids["Doctors"]), ("BranchId", ids["Branches"])):
            value = item.get(key)
            if key not in item:
                continue
            if not is_int(value):
                errors.append(f"{where}.{key}: must be an integer, got {value!r}")
            elif value not in known:
                errors.append(f"{where}.{key}: {value} is not in {'Doctors' if key == 'DoctorId' else 'Branches'}")
        start = parse_offset_time(item.get("StartDateTime"))
        if "StartDateTime" in item and start is None:
            errors.append(
                f"{where}.StartDateTime: must be ISO 8601 with a UTC offset (2026-05-12T10:00:00+03:00), "
                f"got {item.get('StartDateTime')!r}"
            )
        length = item.get("LengthInMinutes")
        if "LengthInMinutes" in item and not (is_int(length) and 0 < length <= MAX_LENGTH_MINUTES):
            errors.append(
                f"{where}.LengthInMinutes: must be a positive integer up to {MAX_LENGTH_MINUTES}, got {length!r}"
            )
            length = None
        if "IsBusy" in item and not isinstance(item.get("IsBusy"), bool):
            errors.append(f"{where}.IsBusy: must be true or false, got {item.get('IsBusy')!r}")
        busy += item.get("IsBusy") is True
        if start is not None and is_int(length) and is_int(item.get("DoctorId")):
            spans.setdefault(item["DoctorId"], []).append((start, start + timedelta(minutes=length), where))
    for doctor_id, doctor_spans in sorted(spans.items()):
        doctor_spans.sort(key=lambda span: span[0])
        for (_, end, before), (start, _, after) in zip(doctor_spans, doctor_spans[1:], strict=False):
            if start < end:
                errors.append(f"{after}: overlaps {before} (DoctorId {doctor_id})")
    count = len(intervals) if isinstance(intervals, list) else 0
    summary = {
        "doctors": len(ids["Doctors"]),
        "branches": len(ids["Branches"]),
        "intervals": count,
        "free": count - busy,
        "busy": busy,
    }
    return errors, summary


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

    def window_params(request: Request) -> tuple[datetime, datetime, int | None, int] | Response:
        """dateTimeFrom/dateTimeTo (inclusive), limit 1..1000 (absent = all), offset >= 0: as for every GET."""
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
        return start, end, limit, offset or 0

    def page(selected: list, limit: int | None, offset: int) -> list:
        return selected[offset:] if limit is None else selected[offset : offset + limit]

    @router.get("/{tenant}/GetTickets")
    async def get_tickets(tenant: str, request: Request) -> Response:
        if error := _unknown_tenant(tenant) or service.check_key(request):
            return error
        window = window_params(request)
        if isinstance(window, Response):
            return window
        start, end, limit, offset = window
        # Filter before slicing, so a short page reliably means "no more" (reference §2.3).
        selected = [e.ticket for e in service.entries(tenant) if e.moment is None or start <= e.moment <= end]
        return JSONResponse(page(selected, limit, offset))

    async def calls(tenant: str, request: Request, ongoing: bool) -> Response:
        if error := _unknown_tenant(tenant) or service.check_key(request):
            return error
        window = window_params(request)
        if isinstance(window, Response):
            return window
        start, end, limit, offset = window
        base = str(request.base_url).rstrip("/")
        render = service.ongoing_object if ongoing else service.call_object
        # Ordered by DateAndTime (then the call's hidden id), filtered before slicing, like GetTickets.
        stubs = service.call_stubs(tenant, start, end, ongoing)
        injected = service.tenant(tenant).injected_calls if not ongoing else []
        if not injected:  # only the page's calls are made
            size = len(stubs) - offset if limit is None else limit
            return JSONResponse([render(tenant, s, base) for s in stubs.page(offset, max(size, 0))])
        selected = [(s.start, 0, s.id, render(tenant, s, base)) for s in stubs.all()]
        now = ctx.clock.now()
        for seq, call in enumerate(injected):
            moment = parse_iso(call.get("DateAndTime"), ctx.tz)
            if moment is None:
                selected.append((math.inf, 1, seq, call))  # cannot be placed: in every window, last
            elif start <= moment <= end and moment <= now:
                selected.append((moment.timestamp(), 1, seq, call))
        selected.sort(key=lambda item: item[:3])
        return JSONResponse(page([item[3] for item in selected], limit, offset))

    @router.get("/{tenant}/GetFinishedCalls")
    async def get_finished_calls(tenant: str, request: Request) -> Response:
        return await calls(tenant, request, ongoing=False)

    @router.get("/{tenant}/GetOngoingCalls")
    async def get_ongoing_calls(tenant: str, request: Request) -> Response:
        return await calls(tenant, request, ongoing=True)

    @router.post("/{tenant}/PostTimeTable")
    async def post_timetable(tenant: str, request: Request) -> Response:
        """IDENT's schedule push (§2.6): JSON, gzip-compressed when Content-Encoding says so;
        200 with an empty body when valid (IDENT ignores it), else 400 with every error, plain text."""
        if error := _unknown_tenant(tenant) or service.check_key(request):
            return error
        log = service.tenant(tenant).timetables
        try:
            body, encoding = await read_json(request)
        except BodyError as exc:
            log.reject([str(exc)])
            return PlainTextResponse(f"PostTimeTable rejected: {exc}", status_code=exc.status)
        errors, summary = validate_timetable(body)
        if errors:
            log.reject(errors)
            shown = "\n".join(errors[:50]) + (f"\n… and {len(errors) - 50} more" if len(errors) > 50 else "")
            return PlainTextResponse(f"PostTimeTable rejected: {len(errors)} error(s):\n{shown}", status_code=400)
        log.accept(body, at=format_iso(ctx.clock.now(), ctx.tz), encoding=encoding, summary=summary)
        return PlainTextResponse("")

    @router.get("/{tenant}/records/{communication_id}/{record}.mp3")
    async def record(tenant: str, communication_id: int, record: str) -> Response:
        """The RecordUrl of a call: a tiny MP3 for a recording the tenant has, else 404 (no key: a player opens it)."""
        if not _unknown_tenant(tenant):
            gen = service.tenant(tenant).calls
            stub = gen.find(communication_id - COMMUNICATION_OFFSET)
            if stub is not None and stub.finish <= ctx.clock.now().timestamp():
                url = service.call_object(tenant, stub, "").get("RecordUrl", "")
                if url.endswith(f"/{record}.mp3"):
                    return Response(SILENT_MP3, media_type="audio/mpeg")
        return PlainTextResponse("Not found", status_code=404)

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

    @control.post("/{tenant}/calls", status_code=201)
    async def add_call(tenant: str, call: Annotated[dict[str, Any], Body()]) -> dict:
        if error := _unknown_tenant(tenant):
            return error
        state = service.tenant(tenant)
        state.injected_calls.append(call)
        return {"stored": call, "injected_total": len(state.injected_calls)}

    @control.get("/{tenant}/call_defects")
    async def call_defects(tenant: str) -> dict:
        """Intended defect of every visible finished generated call of the history (the side table)."""
        if error := _unknown_tenant(tenant):
            return error
        stubs = service.call_stubs(tenant, service.history_start(tenant), ctx.clock.now(), ongoing=False).all()
        found = []
        for stub in stubs:
            if stub.defect >= 0:
                call = service.call_object(tenant, stub, "")
                keys = ("DateAndTime", "Direction", "PhoneFrom", "PhoneTo")
                found.append({**{k: call.get(k) for k in keys}, "defect": call_defect(stub)})
        return {"tenant": tenant, "defects": found}

    @control.get("/received")
    async def received_by_tenant() -> Response:
        """Every tenant that was pushed a timetable, with its counts and where to see it."""
        logs = [(name, t.timetables) for name, t in list(service._tenants.items())]
        return JSONResponse(received_index(NAME, [(name, log.accepted, log.rejected) for name, log in logs]))

    @control.get("/{tenant}/received")
    async def received(tenant: str, bodies: bool = True) -> Response:
        """The PostTimeTable pushes accepted (the last 20, each whole unless ``bodies=false``) and the
        last rejection's errors."""
        if error := _unknown_tenant(tenant):
            return error
        return JSONResponse({"tenant": tenant, **service.tenant(tenant).timetables.as_json(bodies)})

    @control.get("/{tenant}/stats")
    async def stats(tenant: str) -> dict:
        entries = service.entries(tenant)
        return {
            "tenant": tenant,
            "now": format_iso(ctx.clock.now(), ctx.tz),
            "total_visible": len(entries),
            "invalid_visible": sum(1 for e in entries if e.defect),
            "injected": len(service.tenant(tenant).injected),
            "calls_visible": len(service.call_stubs(tenant, service.history_start(tenant), ctx.clock.now(), False)),
            "calls_ongoing": len(service.call_stubs(tenant, service.history_start(tenant), ctx.clock.now(), True)),
            "calls_injected": len(service.tenant(tenant).injected_calls),
            **ctx.served(NAME, tenant),
        }

    @control.get("/{tenant}/defects")
    async def defects(tenant: str) -> dict:
        """Intended defect of every visible generated lead (the side table; injected tickets excluded)."""
        entries = service.entries(tenant)
        return {"tenant": tenant, "defects": {str(e.ticket.get("Id")): e.defect for e in entries if e.defect}}

    return Service(NAME, router, control)
