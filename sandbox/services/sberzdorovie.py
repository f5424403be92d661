"""SberZdorovye (formerly DocDoc) schedule push, **as assumed** (SberHealth publishes no push API
for clinics; it pulls from the MIS — reference aggregators.md §3): routes under
``/sberzdorovie/{account}/mis/v1/``: ``GET clinic`` and ``PUT schedule``. The contract is written
down once, in ``plugins/ident_hooks/sberzdorovie.py``'s docstring; this module emulates exactly that
and is swapped together with it when a real specification arrives.

``PUT schedule`` is validated strictly (every rule of the contract; errors in DocDoc's shape
``{"status": "error", "message", "errors": {path: text}}`` with 400), gzip bodies accepted
(``Content-Encoding: gzip``); an accepted snapshot is kept for ``GET
/_sandbox/sberzdorovie/{account}/received``. Auth is HTTP Basic: any non-empty login, the sandbox
key as the password. The shared fault middleware applies (service name ``sberzdorovie``).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..clock import format_iso
from ..context import SandboxContext, Service
from ..faults import stable_int
from ..received import (
    BodyError,
    ReceivedLog,
    check_horizon,
    check_keys,
    check_timezone,
    parse_offset_time,
    read_json,
    received_index,
)

NAME = "sberzdorovie"
API = "mis/v1"
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
SCHEDULE_KEYS = {"date_from", "date_to", "buildings"}
BUILDING_KEYS = {"id", "name", "address", "timezone", "doctors"}
DOCTOR_KEYS = {"id", "name", "speciality", "slots"}
SLOT_KEYS = {"start", "end"}


def error(status: int, message: str, errors: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors:
        body["errors"] = errors
    return JSONResponse(body, status_code=status)


def _text(errors: dict, where: str, value: Any, *, empty_ok: bool = False) -> None:
    if not isinstance(value, str) or (not empty_ok and not value.strip()):
        errors[where] = f"must be a {'' if empty_ok else 'non-empty '}string, got {value!r}"


def validate_schedule(body: Any) -> tuple[dict[str, str], dict[str, int]]:
    """The ``PUT schedule`` rules of the hook's docstring; the errors by field path and a summary."""
    errors: dict[str, str] = {}
    if not isinstance(body, dict):
        return {"(body)": f"must be an object, got {type(body).__name__}"}, {}
    check_keys(errors, "", body, SCHEDULE_KEYS)
    first, last = check_horizon(errors, body)
    buildings = body.get("buildings", [])
    if not isinstance(buildings, list):
        errors["buildings"] = "must be an array"
        buildings = []
    building_ids: set[str] = set()
    spans: dict[str, list[tuple[datetime, datetime, str]]] = {}
    doctors_total = slots_total = 0
    for n, building in enumerate(buildings):
        where = f"buildings[{n}]"
        if not isinstance(building, dict):
            errors[where] = "must be an object"
            continue
        check_keys(errors, where, building, BUILDING_KEYS)
        _text(errors, f"{where}.id", building.get("id"))
        if isinstance(building.get("id"), str) and building["id"] in building_ids:
            errors[f"{where}.id"] = f"{building['id']!r} is listed twice"
        building_ids.add(str(building.get("id")))
        _text(errors, f"{where}.name", building.get("name"))
        if "address" in building:
            _text(errors, f"{where}.address", building.get("address"), empty_ok=True)
        zone = check_timezone(errors, where, building)
        doctors = building.get("doctors", [])
        if not isinstance(doctors, list):
            errors[f"{where}.doctors"] = "must be an array"
            continue
        doctor_ids: set[str] = set()
        for d, doctor in enumerate(doctors):
            at = f"{where}.doctors[{d}]"
            if not isinstance(doctor, dict):
                errors[at] = "must be an object"
                continue
            doctors_total += 1
            check_keys(errors, at, doctor, DOCTOR_KEYS)
            doctor_id = doctor.get("id")
            _text(errors, f"{at}.id", doctor_id)
            if isinstance(doctor_id, str) and doctor_id in doctor_ids:
                errors[f"{at}.id"] = f"{doctor_id!r} is listed twice in this building"
            doctor_ids.add(str(doctor_id))
            _text(errors, f"{at}.name", doctor.get("name"))
            if "speciality" in doctor:
                _text(errors, f"{at}.speciality", doctor.get("speciality"), empty_ok=True)
            slots = doctor.get("slots", [])
            if not isinstance(slots, list):
                errors[f"{at}.slots"] = "must be an array"
                continue
            for k, slot in enumerate(slots):
                spot = f"{at}.slots[{k}]"
                slots_total += 1
                if not isinstance(slot, dict):
                    errors[spot] = "must be an object"
                    continue
                check_keys(errors, spot, slot, SLOT_KEYS)
                moments = {}
                for name in ("start", "end"):
                    moment = parse_offset_time(slot.get(name))
                    if moment is None:
                        errors[f"{spot}.{name}"] = (
                            f"must be ISO 8601 with a UTC offset (2025-06-02T10:00:00+03:00), got {slot.get(name)!r}"
                        )
                    elif zone is not None and moment.utcoffset() != moment.astimezone(zone).utcoffset():
                        errors[f"{spot}.{name}"] = (
                            f"{slot.get(name)} is not in the building's offset "
                            f"({moment.astimezone(zone).isoformat()} in {zone.key})"
                        )
                    else:
                        moments[name] = moment
                start, end = moments.get("start"), moments.get("end")
                if start and end and end <= start:
                    errors[f"{spot}.end"] = "must be after start"
                if start and first and last and not first <= start.date() <= last:
                    errors[f"{spot}.start"] = f"{start.date()} is outside date_from..date_to"
                if start and end and end > start and isinstance(doctor_id, str):
                    spans.setdefault(doctor_id, []).append((start, end, spot))
    for doctor_id, doctor_spans in sorted(spans.items()):
        doctor_spans.sort(key=lambda span: span[0])
        for (_, end, before), (start, _, after) in zip(doctor_spans, doctor_spans[1:], strict=False):
            if start < end:
                errors[f"{after}.start"] = f"overlaps {before} (doctor {doctor_id!r})"
    summary = {"buildings": len(buildings), "doctors": doctors_total, "slots": slots_total}
    return errors, summary


@dataclass
class _Account:
    received: ReceivedLog = field(default_factory=ReceivedLog)


def create(ctx: SandboxContext) -> Service:
    accounts: dict[str, _Account] = {}
    router = APIRouter()
    control = APIRouter()

    def account_of(name: str) -> _Account:
        return accounts.setdefault(name, _Account())

    def guard(account: str, request: Request) -> _Account | Response:
        """Unknown account name → 404; missing or bad Basic credentials → 401 (DocDoc's shape)."""
        if not _ACCOUNT.fullmatch(account):
            return error(404, f"Unknown account {account!r}")
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic" or not token.strip():
            return error(401, "Authorization required: HTTP Basic with the partner login and password")
        try:
            login, _, password = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return error(401, "Unreadable Basic credentials")
        if not login or not hmac.compare_digest(password.encode(), ctx.settings.key.encode()):
            return error(401, "Wrong login or password")
        return account_of(account)

    @router.get(f"/{{account}}/{API}/clinic")
    async def clinic(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        clinic_id = str(100_000 + stable_int(ctx.settings.seed, account, "sberzdorovie-clinic") % 900_000)
        return JSONResponse(
            {"status": "success", "clinic": {"id": clinic_id, "name": f"Стоматология «Дента» ({account})"}}
        )

    @router.put(f"/{{account}}/{API}/schedule")
    async def put_schedule(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        try:
            body, encoding = await read_json(request)
        except BodyError as exc:
            acc.received.reject([str(exc)])
            return error(exc.status, f"The request body cannot be read: {exc}")
        errors, summary = validate_schedule(body)
        if errors:
            acc.received.reject([f"{path}: {text}" for path, text in errors.items()])
            return error(400, f"Validation failed: {len(errors)} error(s)", errors)
        acc.received.accept(body, at=format_iso(ctx.clock.now(), ctx.tz), encoding=encoding, summary=summary)
        return JSONResponse({"status": "success", **summary})

    @router.api_route("/{account}/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(account: str, rest: str, request: Request) -> Response:
        return error(404, f"No route {request.method} /{rest}")

    # -- control API ------------------------------------------------------------------------------
    @control.get("/received")
    async def received_by_account() -> Response:
        """Every account that was pushed a schedule, with its counts and where to see it."""
        logs = [(name, acc.received) for name, acc in list(accounts.items())]
        return JSONResponse(received_index(NAME, [(name, log.accepted, log.rejected) for name, log in logs]))

    @control.get("/{account}/received")
    async def received(account: str, bodies: bool = True) -> Response:
        """The PUT schedule snapshots accepted (the last 20, each whole unless ``bodies=false``) and
        the last rejection's errors."""
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        return JSONResponse({"account": account, **account_of(account).received.as_json(bodies)})

    @control.delete("/{account}/state")
    async def reset_state(account: str) -> Response:
        accounts.pop(account, None)
        return JSONResponse({"account": account, "reset": True})

    return Service(NAME, router, control)
