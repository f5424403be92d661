"""ProDoctorov through MedFlex (reference aggregators.md §2): ``send_schedule``, the schedule push.

Routes under ``/prodoctorov/{account}/v2/``: ``POST doctors/send_schedule/`` (and ``GET`` of it,
which answers 405 after the token check — what the hook's connection test relies on). Wire format
as ``plugins/ident_hooks/prodoctorov.py`` pins it; errors in Django REST framework's shapes:
``{"detail": "…"}`` for auth (401 with ``WWW-Authenticate: Token``), parse, media-type, method and
route errors, and a 400 with field → ``[messages]`` nested as the body is (dictionaries by key,
the ``cells`` list by index with ``{}`` for a cell that passed) for a body that breaks a rule.

Every account name works; the token is the sandbox key, sent as ``Authorization: Token``. A push
replaces, for every filial it names, that filial's doctors and cells (a full snapshot); filials not
named stay as they were. What the account holds is shown at
``GET /_sandbox/prodoctorov/{account}/received``. What is assumed is listed in ``sandbox/README.md``.
"""

from __future__ import annotations

import hmac
import json
import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..clock import format_iso
from ..context import SandboxContext, Service
from ..received import received_index

NAME = "prodoctorov"
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")
NO_CREDENTIALS = "Authentication credentials were not provided."
INVALID_TOKEN = "Invalid token."
REQUIRED = "This field is required."
BLANK = "This field may not be blank."
NOT_STRING = "Not a valid string."
NOT_BOOLEAN = "Must be a valid boolean."
DATE_FORMAT = "Date has wrong format. Use one of these formats instead: YYYY-MM-DD."
TIME_FORMAT = "Time has wrong format. Use one of these formats instead: hh:mm."
CELL_KEYS = ("dt", "time_start", "time_end", "free", "room")


def _not_dict(value: Any) -> list[str]:
    return [f'Expected a dictionary of items but got type "{type(value).__name__}".']


def _not_list(value: Any) -> list[str]:
    return [f'Expected a list of items but got type "{type(value).__name__}".']


def _minutes(value: str) -> int:
    return int(value[:2]) * 60 + int(value[3:])


def _valid_date(value: Any) -> bool:
    if not isinstance(value, str) or not _YMD.match(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _cell_errors(cell: Any) -> dict[str, list[str]]:
    if not isinstance(cell, dict):
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(cell).__name__}."]}
    errors: dict[str, list[str]] = {}
    if cell.get("dt") in (None, ""):
        errors["dt"] = [REQUIRED]
    elif not _valid_date(cell["dt"]):
        errors["dt"] = [DATE_FORMAT]
    for key in ("time_start", "time_end"):
        if cell.get(key) in (None, ""):
            errors[key] = [REQUIRED]
        elif not isinstance(cell[key], str) or not _HHMM.match(cell[key]):
            errors[key] = [TIME_FORMAT]
    if "free" not in cell or cell["free"] is None:
        errors["free"] = [REQUIRED]
    elif not isinstance(cell["free"], bool):  # stricter than DRF (which takes "true", 1…): the wire has JSON booleans
        errors["free"] = [NOT_BOOLEAN]
    if cell.get("room") is not None and not isinstance(cell["room"], str):
        errors["room"] = [NOT_STRING]
    if not errors and _minutes(cell["time_end"]) <= _minutes(cell["time_start"]):
        errors["non_field_errors"] = ["time_end must be later than time_start."]
    return errors


def _doctor_errors(doctor: Any) -> dict[str, Any]:
    if not isinstance(doctor, dict):
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(doctor).__name__}."]}
    errors: dict[str, Any] = {}
    efio = doctor.get("efio")
    if efio is None:
        errors["efio"] = [REQUIRED]
    elif not isinstance(efio, str):
        errors["efio"] = [NOT_STRING]
    elif not efio.strip():
        errors["efio"] = [BLANK]
    if doctor.get("espec") is not None and not isinstance(doctor["espec"], str):
        errors["espec"] = [NOT_STRING]
    cells = doctor.get("cells")
    if cells is None:
        errors["cells"] = [REQUIRED]
    elif not isinstance(cells, list):
        errors["cells"] = _not_list(cells)
    else:
        per_cell = [_cell_errors(cell) for cell in cells]
        spans = sorted(
            (cell["dt"], _minutes(cell["time_start"]), _minutes(cell["time_end"]), index)
            for index, cell in enumerate(cells)
            if not per_cell[index]
        )
        for (day1, _, end1, index1), (day2, start2, _, index2) in zip(spans, spans[1:], strict=False):
            if day1 == day2 and start2 < end1:  # [assumed] a doctor is in one cell at a time
                per_cell[index2].setdefault("non_field_errors", []).append(f"Overlaps cell {index1}.")
        if any(per_cell):
            errors["cells"] = per_cell
    return errors


def validate(body: Any) -> dict[str, Any]:
    """The errors of a ``send_schedule`` body, DRF-style (empty when it is right)."""
    if not isinstance(body, dict):
        return {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {type(body).__name__}."]}
    schedule = body.get("schedule")
    if schedule is None:
        return {"schedule": [REQUIRED]}
    if not isinstance(schedule, dict):
        return {"schedule": _not_dict(schedule)}
    errors: dict[str, Any] = {}
    names = {key: value for key, value in schedule.items() if key != "data"}
    for filial, name in names.items():
        if not isinstance(name, str):
            errors[filial] = [NOT_STRING]
        elif not name.strip():
            errors[filial] = [BLANK]
    if not names:
        errors["non_field_errors"] = ['No filial is named: put "<filial id>": "<name>" next to "data".']
    data = schedule.get("data")
    if data is None:
        errors["data"] = [REQUIRED]
    elif not isinstance(data, dict):
        errors["data"] = _not_dict(data)
    else:
        data_errors: dict[str, Any] = {}
        for filial, doctors in data.items():
            if filial not in names:
                data_errors[filial] = [f"Unknown filial {filial!r}: schedule names no such filial."]
            elif not isinstance(doctors, dict):
                data_errors[filial] = _not_dict(doctors)
            else:
                doctor_errors = {doc: e for doc, doctor in doctors.items() if (e := _doctor_errors(doctor))}
                if doctor_errors:
                    data_errors[filial] = doctor_errors
        for filial in names:
            if filial not in data:
                data_errors[filial] = [f"No data for filial {filial!r}."]
        if data_errors:
            errors["data"] = data_errors
    return {"schedule": errors} if errors else {}


@dataclass
class _Account:
    name: str
    filials: dict[str, dict] = field(default_factory=dict)  # id -> {name, doctors, received_at}
    pushes: int = 0
    rejected: int = 0
    last_errors: dict[str, Any] = field(default_factory=dict)
    last_push_at: str | None = None


def create(ctx: SandboxContext) -> Service:
    accounts: dict[str, _Account] = {}
    router = APIRouter()
    control = APIRouter()

    def account_of(name: str) -> _Account:
        return accounts.setdefault(name, _Account(name))

    def guard(account: str, request: Request) -> _Account | Response:
        """DRF's TokenAuthentication: no ``Token`` header (or another scheme) → 401 "credentials
        not provided", a wrong token → 401 "Invalid token."; an unknown account name → 404."""
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": "Not found."}, status_code=404)
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        challenge = {"WWW-Authenticate": "Token"}
        if scheme.lower() != "token" or not token.strip():
            return JSONResponse({"detail": NO_CREDENTIALS}, status_code=401, headers=challenge)
        if not hmac.compare_digest(token.strip().encode(), ctx.settings.key.encode()):
            return JSONResponse({"detail": INVALID_TOKEN}, status_code=401, headers=challenge)
        return account_of(account)

    @router.post("/{account}/v2/doctors/send_schedule/")
    async def send_schedule(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json":
            return JSONResponse({"detail": f'Unsupported media type "{media}" in request.'}, status_code=415)
        raw = await request.body()
        try:
            body = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return JSONResponse({"detail": f"JSON parse error - {exc}"}, status_code=400)
        errors = validate(body)
        if errors:
            acc.rejected += 1
            acc.last_errors = errors
            return JSONResponse(errors, status_code=400)
        now = format_iso(ctx.clock.now(), ctx.tz)
        schedule = body["schedule"]
        doctors = cells = 0
        for filial, entries in schedule["data"].items():
            acc.filials[filial] = {
                "name": schedule[filial],
                "doctors": {
                    doctor_id: {
                        "efio": entry["efio"],
                        "espec": entry.get("espec"),
                        "cells": [{key: cell[key] for key in CELL_KEYS if key in cell} for cell in entry["cells"]],
                    }
                    for doctor_id, entry in entries.items()
                },
                "received_at": now,
            }
            doctors += len(entries)
            cells += sum(len(entry["cells"]) for entry in entries.values())
        acc.pushes += 1
        acc.last_push_at = now
        # [assumed] the answer: no implementation reads it.
        return JSONResponse({"status": "ok", "filials": len(schedule["data"]), "doctors": doctors, "cells": cells})

    @router.get("/{account}/v2/doctors/send_schedule/")
    async def send_schedule_get(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        return JSONResponse(
            {"detail": 'Method "GET" not allowed.'}, status_code=405, headers={"Allow": "POST, OPTIONS"}
        )

    @router.api_route("/{account}/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(account: str, rest: str) -> Response:
        return JSONResponse({"detail": "Not found."}, status_code=404)

    # -- control API ------------------------------------------------------------------------------
    @control.get("/received")
    async def received_by_account() -> Response:
        """Every account that was pushed a schedule, with its counts and where to see it."""
        return JSONResponse(received_index(NAME, [(n, acc.pushes, acc.rejected) for n, acc in list(accounts.items())]))

    @control.get("/{account}/received")
    async def received(account: str) -> Response:
        """Per filial (by id) its name, doctors with their cells as last pushed, and when; counts."""
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        acc = account_of(account)
        return JSONResponse(
            {
                "account": account,
                "filials": dict(sorted(acc.filials.items())),
                "pushes": acc.pushes,
                "last_push_at": acc.last_push_at,
                "rejected": acc.rejected,
                "last_errors": acc.last_errors,
            }
        )

    @control.delete("/{account}/state")
    async def reset(account: str) -> Response:
        accounts.pop(account, None)
        return JSONResponse({"account": account, "reset": True})

    return Service(NAME, router, control)
