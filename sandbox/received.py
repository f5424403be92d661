"""What the schedule receivers share: reading a pushed JSON body (gzip-compressed when its
``Content-Encoding`` says so), strict ISO 8601 checks, the checks of a full snapshot's keys, horizon
and timezones (errors by field path), and the log of what each account or tenant received, shown at
``GET /_sandbox/<service>/{account}/received``."""

from __future__ import annotations

import gzip
import json
import re
import zlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import Request

KEEP = 20  # pushes kept per account (the demo pushes every 10 minutes: over three hours of them)
MAX_ERRORS = 50  # validation errors listed in one answer
# Whole seconds (a fraction allowed) and a colon offset, as IDENT and the assumed contracts write it.
ISO_WITH_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-]\d{2}:\d{2}$")
LOCAL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


class BodyError(ValueError):
    """A body that cannot be read: ``status`` is what to answer (400, or 415 for an unknown encoding)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def read_json(request: Request) -> tuple[Any, str]:
    """The body as JSON and the encoding it came in (``identity`` or ``gzip``); :class:`BodyError`
    when it is not gzip although it says so, not UTF-8 or not JSON."""
    raw = await request.body()
    encoding = request.headers.get("content-encoding", "identity").strip().lower() or "identity"
    if encoding == "gzip":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise BodyError(f"Content-Encoding is gzip but the body is not valid gzip: {exc}") from None
    elif encoding != "identity":
        raise BodyError(f"Content-Encoding {encoding!r} is not supported (gzip or none)", status=415)
    try:
        return json.loads(raw.decode("utf-8")), encoding
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not JSON: {exc}") from None


def parse_offset_time(value: Any) -> datetime | None:
    """An ISO 8601 date-time with a colon offset (``2025-06-02T10:00:00+03:00``), else None."""
    if not isinstance(value, str) or not ISO_WITH_OFFSET.match(value):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def parse_local_date(value: Any) -> date | None:
    """A local date ``YYYY-MM-DD``, else None."""
    if not isinstance(value, str) or not LOCAL_DATE.match(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def check_keys(errors: dict[str, str], where: str, item: dict, allowed: set[str]) -> None:
    """Each key of ``item`` not ``allowed`` is an unknown field, each ``allowed`` one it lacks is missing."""
    for key in sorted(set(item) - allowed):
        errors[f"{where}.{key}" if where else key] = "unknown field"
    for key in sorted(allowed - set(item)):
        errors[f"{where}.{key}" if where else key] = "missing"


def check_horizon(errors: dict[str, str], body: dict) -> tuple[date | None, date | None]:
    """A snapshot's ``date_from`` and ``date_to`` (local dates, in that order), each None when unreadable."""
    first, last = parse_local_date(body.get("date_from")), parse_local_date(body.get("date_to"))
    for name, parsed in (("date_from", first), ("date_to", last)):
        if name in body and parsed is None:
            errors[name] = f"must be a date YYYY-MM-DD, got {body.get(name)!r}"
    if first and last and first > last:
        errors["date_to"] = "is before date_from"
    return first, last


def check_timezone(errors: dict[str, str], where: str, item: dict) -> ZoneInfo | None:
    """``item``'s ``timezone`` as a zone; None when it has none (reported as missing by
    :func:`check_keys`) or it is not an IANA name (reported here)."""
    if "timezone" not in item:
        return None
    try:
        return ZoneInfo(item.get("timezone"))
    except (TypeError, ValueError, ZoneInfoNotFoundError):
        errors[f"{where}.timezone"] = f"must be an IANA timezone, got {item.get('timezone')!r}"
        return None


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def nonempty_text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


@dataclass
class ReceivedLog:
    """The accepted pushes of one account (the last :data:`KEEP`, newest last) and counters."""

    pushes: deque = field(default_factory=lambda: deque(maxlen=KEEP))
    accepted: int = 0
    rejected: int = 0
    last_errors: list[str] = field(default_factory=list)

    def accept(self, body: Any, *, at: str, encoding: str, summary: dict[str, Any]) -> None:
        self.accepted += 1
        self.pushes.append({"at": at, "content_encoding": encoding, "summary": summary, "body": body})

    def reject(self, errors: list[str]) -> None:
        self.rejected += 1
        self.last_errors = errors[:MAX_ERRORS]

    def as_json(self, bodies: bool = True) -> dict[str, Any]:
        """``bodies=False``: each push's summary without its body (a status line polling it stays
        small; a whole timetable is megabytes)."""
        pushes = list(self.pushes) if bodies else [{k: v for k, v in p.items() if k != "body"} for p in self.pushes]
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "last_errors": self.last_errors,
            "last": pushes[-1] if pushes else None,
            "pushes": pushes,
        }


def received_index(service: str, counts: Iterable[tuple[str, int, int]]) -> dict[str, Any]:
    """``GET /_sandbox/<service>/received``: every account (or tenant) that was pushed a schedule,
    with its accepted and rejected pushes and where to see what it holds."""
    accounts = {
        name: {"accepted": accepted, "rejected": rejected, "received": f"/_sandbox/{service}/{name}/received"}
        for name, accepted, rejected in sorted(counts)
        if accepted or rejected
    }
    return {"service": service, "accounts": accounts}
