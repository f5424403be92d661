"""Google Calendar (API v3): each doctor's appointments as events in the doctor's calendar
(``ident_hooks/google_calendar.py``; ident-protocol.md §11).

Its one capability is ``calendar``; the capability builds the events and reconciles
(``capabilities/calendar.py``), the hook lists, inserts, patches, updates and deletes them.
"""

from __future__ import annotations

from dataclasses import dataclass

from ident_integrations.services import Service


@dataclass(frozen=True)
class CalendarTarget:
    """How a service takes events: the hook's list/insert/patch/update/delete of one calendar."""

    kind: str = "google_calendar_v3"


GOOGLE_CALENDAR = Service(
    name="google_calendar",
    conn_type="ident_google_calendar",
    hook_path="ident_hooks.google_calendar:GoogleCalendarHook",
    sources={"calendar": CalendarTarget()},
)
