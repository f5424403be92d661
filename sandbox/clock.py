"""Sandbox clock and the lenient ISO 8601 handling shared by all emulated services."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, tzinfo

# "2025-01-05T14:45:37 03:00": a literal "+" in an unencoded query string is decoded as a space
# by form decoding, so the offset arrives with a space in front of it. Only a space directly after
# a time is treated this way, so "2025-01-05 14:45" (space as date/time separator) is left alone.
_SPACE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def parse_iso(value: object, tz: tzinfo) -> datetime | None:
    """Parse an ISO 8601 date-time the way IDENT-facing services must (None if unparseable).

    Accepts ``+03:00``, ``+0300``, ``Z``, no offset (= the sandbox timezone) and the
    space-for-plus artefact described above.
    """
    if not isinstance(value, str):
        return None
    text = value.strip()
    match = _SPACE_OFFSET.match(text)
    if match:
        text = f"{match.group(1)}+{match.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def format_iso(moment: datetime, tz: tzinfo) -> str:
    """``YYYY-MM-DDTHH:MM:SS+03:00``: the colon-offset form the reference says responses should use."""
    return moment.astimezone(tz).isoformat(timespec="seconds")


class Clock:
    """Virtual clock: ``start_time`` plus real elapsed (monotonic) time since construction.

    Overriding ``start_time`` makes the data reproducible while live leads still arrive in real time.
    """

    def __init__(self, start_time: datetime, tz: tzinfo) -> None:
        if start_time.tzinfo is None:
            start_time = start_time.replace(tzinfo=tz)
        self.tz = tz
        self.start_time = start_time.astimezone(tz)
        self._t0 = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self._t0

    def now(self) -> datetime:
        return self.start_time + timedelta(seconds=self.elapsed())
