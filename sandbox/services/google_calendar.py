"""Google Calendar API v3 (events) and Google's OAuth2 token endpoint for service accounts.

Routes under ``/google_calendar/``:

* ``POST token`` — the JWT-bearer grant (``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer``,
  ``assertion=<RS256 JWT>``): the assertion must be signed by the sandbox's service-account key
  (``GET /_sandbox/google_calendar/service-account`` gives it, ``token_uri`` pointing here), name
  its ``client_email`` as ``iss``, this endpoint as ``aud`` and be unexpired; otherwise 400
  ``{"error": "invalid_grant", "error_description": ...}`` as Google answers. A token lives 3600 s.
* ``calendar/v3/calendars/{calendarId}/events`` — ``GET`` list (``timeMin``/``timeMax``: events
  ending after / starting before; ``pageToken``, ``maxResults`` ≤ 2500 (default 250),
  ``showDeleted``, ``privateExtendedProperty=key=value``), ``POST`` insert (a client id of 5–1024
  base32hex characters, 409 ``duplicate`` when the id was ever used in the calendar, deleted
  events included); ``.../events/{eventId}`` ``GET``, ``PATCH``, ``PUT``, ``DELETE`` (the event
  becomes ``status: cancelled``; 410 ``deleted`` the second time, 404 ``notFound`` for an unknown id).
  A cancelled event is restored by a PATCH/PUT with ``status: confirmed``.
* ``calendar/v3/users/me/calendarList`` — the calendars the service account can see.

A ``Authorization: Bearer`` token from the token endpoint is required (401 ``authError``). Errors
use Google's envelope ``{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}``.

Calendars appear on first use, with write access (as if the clinic had shared every doctor's
calendar with the service account). The control API (``/_sandbox/google_calendar/...``) sets a
calendar's ``access`` to ``reader`` (writes get 403 ``forbidden``) or ``none`` (404 ``notFound``),
queues errors for the next requests (``POST errors {"status", "reason", "count", "method",
"retry_after"}``), deletes or edits an event as a user would, lists each calendar's events, and
shows stats (tokens issued, requests by status).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..context import SandboxContext, Service

NAME = "google_calendar"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"
JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
EVENT_ID = re.compile(r"^[a-v0-9]{5,1024}$")
TOKEN_SECONDS = 3600
PROJECT = "ident-sandbox"
CLIENT_EMAIL = f"ident-calendar@{PROJECT}.iam.gserviceaccount.com"


def error(code: int, reason: str, message: str, headers: dict | None = None) -> JSONResponse:
    body = {"error": {"code": code, "message": message,
                      "errors": [{"domain": "global", "reason": reason, "message": message}]}}  # fmt: skip
    return JSONResponse(body, status_code=code, headers=headers)


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, dict):
        return None
    text = value.get("dateTime") or (value.get("date") and f"{value['date']}T00:00:00+00:00")
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


@dataclass
class _Calendar:
    id: str
    access: str = "writer"  # writer | reader | none
    events: dict[str, dict] = field(default_factory=dict)  # id -> event as stored


@dataclass
class _State:
    calendars: dict[str, _Calendar] = field(default_factory=dict)
    tokens: dict[str, float] = field(default_factory=dict)  # access token -> expiry (epoch)
    token_grants: int = 0
    refused_grants: int = 0
    queued: list[dict] = field(default_factory=list)  # errors for the next API requests
    by_status: dict[str, int] = field(default_factory=dict)
    sequence: int = 0


def create(ctx: SandboxContext) -> Service:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public_key = key.public_key()
    key_id = hashlib.sha1(private_pem.encode()).hexdigest()
    state = _State()
    router = APIRouter()
    control = APIRouter()

    def counted(response: Response) -> Response:
        state.by_status[str(response.status_code)] = state.by_status.get(str(response.status_code), 0) + 1
        return response

    def calendar(calendar_id: str) -> _Calendar:
        return state.calendars.setdefault(calendar_id, _Calendar(calendar_id))

    def guard(request: Request, calendar_id: str | None, write: bool) -> Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return error(401, "required", "Login Required.", {"WWW-Authenticate": "Bearer"})
        expiry = state.tokens.get(token)
        if expiry is None or expiry < time.time():
            return error(401, "authError", "Invalid Credentials", {"WWW-Authenticate": "Bearer"})
        for index, queued in enumerate(state.queued):
            if queued.get("method") in (None, request.method):
                queued["count"] -= 1
                if queued["count"] <= 0:
                    state.queued.pop(index)
                headers = {"Retry-After": str(queued["retry_after"])} if queued.get("retry_after") is not None else None
                return error(queued["status"], queued.get("reason") or "backendError",
                             queued.get("message") or "Queued by the sandbox", headers)  # fmt: skip
        if calendar_id is not None:
            access = calendar(calendar_id).access
            if access == "none":
                return error(404, "notFound", "Not Found")
            if write and access != "writer":
                return error(403, "forbidden", "You need to have writer access to this calendar.")
        return None

    def stored(cal: _Calendar, body: dict, event_id: str, old: dict | None = None) -> dict:
        now = datetime.now().astimezone().isoformat()
        state.sequence += 1
        event = {**body, "kind": "calendar#event", "id": event_id, "status": body.get("status") or "confirmed",
                 "etag": f'"{state.sequence}"', "created": (old or {}).get("created", now), "updated": now,
                 "htmlLink": f"https://calendar.google.com/calendar/event?eid={event_id}",
                 "iCalUID": f"{event_id}@google.com", "organizer": {"email": cal.id, "self": True}}  # fmt: skip
        cal.events[event_id] = event
        return event

    def invalid(body: Any) -> Response | None:
        if not isinstance(body, dict):
            return error(400, "parseError", "Parse Error")
        start, end = _instant(body.get("start")), _instant(body.get("end"))
        if body.get("start") is None:
            return error(400, "required", "Missing start time.")
        if body.get("end") is None:
            return error(400, "required", "Missing end time.")
        if start is None or end is None:
            return error(400, "invalid", "Invalid start or end time.")
        if end <= start:
            return error(400, "timeRangeEmpty", "The specified time range is empty.")
        return None

    # -- OAuth2 ---------------------------------------------------------------------------------
    @router.post("/token")
    async def token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if form.get("grant_type") != JWT_GRANT:
            state.refused_grants += 1
            return JSONResponse({"error": "unsupported_grant_type",
                                 "error_description": f"Invalid grant_type: {form.get('grant_type', '')}"},
                                status_code=400)  # fmt: skip
        try:
            # google-auth puts Google's own token endpoint in ``aud`` whatever the token_uri (as Google
            # accepts); this endpoint by whatever host name the caller used is accepted too.
            claims = jwt.decode(form.get("assertion", ""), public_key, algorithms=["RS256"],
                                options={"require": ["iss", "aud", "exp", "iat"], "verify_aud": False})  # fmt: skip
            audience = str(claims.get("aud", ""))
            if audience != GOOGLE_TOKEN_URI and not audience.endswith(f"/{NAME}/token"):
                raise jwt.InvalidAudienceError(f"Audience {claims.get('aud')!r} is not this token endpoint")
        except jwt.InvalidSignatureError:
            reason = "Invalid JWT Signature."
        except jwt.ExpiredSignatureError:
            reason = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe."
        except jwt.PyJWTError as exc:
            reason = f"Invalid JWT: {exc}"
        else:
            reason = "" if claims.get("iss") == CLIENT_EMAIL else "Invalid grant: account not found"
        if reason:
            state.refused_grants += 1
            return JSONResponse({"error": "invalid_grant", "error_description": reason}, status_code=400)
        access = "ya29.sandbox-" + secrets.token_urlsafe(32)
        state.tokens[access] = time.time() + TOKEN_SECONDS
        state.token_grants += 1
        return JSONResponse({"access_token": access, "expires_in": TOKEN_SECONDS - 1, "token_type": "Bearer"})

    # -- Calendar v3 ---------------------------------------------------------------------------------
    @router.get("/calendar/v3/users/me/calendarList")
    async def calendar_list(request: Request) -> Response:
        if (refused := guard(request, None, False)) is not None:
            return counted(refused)
        items = [{"kind": "calendar#calendarListEntry", "id": cal.id, "accessRole": cal.access}
                 for cal in state.calendars.values() if cal.access != "none"]  # fmt: skip
        return counted(JSONResponse({"kind": "calendar#calendarList", "items": items}))

    @router.get("/calendar/v3/calendars/{calendar_id}/events")
    async def list_events(calendar_id: str, request: Request) -> Response:
        if (refused := guard(request, calendar_id, False)) is not None:
            return counted(refused)
        query = request.query_params
        time_min = _instant({"dateTime": query["timeMin"]}) if query.get("timeMin") else None
        time_max = _instant({"dateTime": query["timeMax"]}) if query.get("timeMax") else None
        if (query.get("timeMin") and time_min is None) or (query.get("timeMax") and time_max is None):
            return counted(error(400, "badRequest", "Bad Request"))
        show_deleted = query.get("showDeleted", "false").lower() == "true"
        size = min(int(query.get("maxResults") or 250), 2500)
        wanted = [item.split("=", 1) for item in query.getlist("privateExtendedProperty") if "=" in item]
        items = []
        for event in calendar(calendar_id).events.values():
            if event["status"] == "cancelled" and not show_deleted:
                continue
            start, end = _instant(event.get("start")), _instant(event.get("end"))
            if time_min and end and end <= time_min or time_max and start and start >= time_max:
                continue
            private = (event.get("extendedProperties") or {}).get("private") or {}
            if any(private.get(k) != v for k, v in wanted):
                continue
            items.append(event)
        items.sort(key=lambda e: (e.get("start", {}).get("dateTime", ""), e["id"]))
        offset = int(query.get("pageToken") or 0)
        page = items[offset : offset + size]
        body: dict[str, Any] = {"kind": "calendar#events", "summary": calendar_id, "items": page}
        if offset + size < len(items):
            body["nextPageToken"] = str(offset + size)
        return counted(JSONResponse(body))

    @router.post("/calendar/v3/calendars/{calendar_id}/events")
    async def insert(calendar_id: str, request: Request) -> Response:
        if (refused := guard(request, calendar_id, True)) is not None:
            return counted(refused)
        body = await request.json()
        if (bad := invalid(body)) is not None:
            return counted(bad)
        cal = calendar(calendar_id)
        event_id = body.get("id") or base64.b32hexencode(secrets.token_bytes(10)).decode().lower().rstrip("=")
        if not EVENT_ID.match(event_id):
            return counted(error(400, "invalid", "Invalid resource id value."))
        if event_id in cal.events:
            return counted(error(409, "duplicate", "The requested identifier already exists."))
        return counted(JSONResponse(stored(cal, body, event_id)))

    @router.get("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
    async def get_event(calendar_id: str, event_id: str, request: Request) -> Response:
        if (refused := guard(request, calendar_id, False)) is not None:
            return counted(refused)
        event = calendar(calendar_id).events.get(event_id)
        return counted(JSONResponse(event) if event else error(404, "notFound", "Not Found"))

    async def change(calendar_id: str, event_id: str, request: Request, merge: bool) -> Response:
        if (refused := guard(request, calendar_id, True)) is not None:
            return counted(refused)
        cal = calendar(calendar_id)
        old = cal.events.get(event_id)
        if old is None:
            return counted(error(404, "notFound", "Not Found"))
        body = await request.json()
        if not isinstance(body, dict):
            return counted(error(400, "parseError", "Parse Error"))
        new = {**old, **body} if merge else {**body, "status": body.get("status") or old["status"]}
        if (bad := invalid(new)) is not None:
            return counted(bad)
        return counted(JSONResponse(stored(cal, new, event_id, old)))

    @router.patch("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
    async def patch(calendar_id: str, event_id: str, request: Request) -> Response:
        return await change(calendar_id, event_id, request, merge=True)

    @router.put("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
    async def update(calendar_id: str, event_id: str, request: Request) -> Response:
        return await change(calendar_id, event_id, request, merge=False)

    @router.delete("/calendar/v3/calendars/{calendar_id}/events/{event_id}")
    async def delete(calendar_id: str, event_id: str, request: Request) -> Response:
        if (refused := guard(request, calendar_id, True)) is not None:
            return counted(refused)
        event = calendar(calendar_id).events.get(event_id)
        if event is None:
            return counted(error(404, "notFound", "Not Found"))
        if event["status"] == "cancelled":
            return counted(error(410, "deleted", "Resource has been deleted"))
        event["status"] = "cancelled"
        return counted(Response(status_code=204))

    # -- control API --------------------------------------------------------------------------------
    @control.get("/service-account")
    async def service_account(request: Request) -> Response:
        """The demo service account's JSON key, its token_uri pointing at this sandbox."""
        base = str(request.base_url).rstrip("/")
        return JSONResponse({
            "type": "service_account", "project_id": PROJECT, "private_key_id": key_id, "private_key": private_pem,
            "client_email": CLIENT_EMAIL, "client_id": str(int(key_id[:15], 16)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f"{base}/{NAME}/token",
            "universe_domain": "googleapis.com",
        })  # fmt: skip

    @control.put("/calendars/{calendar_id}")
    async def set_calendar(calendar_id: str, request: Request) -> Response:
        body = await request.json()
        access = body.get("access", "writer")
        if access not in ("writer", "reader", "none"):
            return JSONResponse({"detail": "access is writer, reader or none"}, status_code=400)
        calendar(calendar_id).access = access
        return JSONResponse({"id": calendar_id, "access": access})

    @control.get("/calendars")
    async def calendars() -> Response:
        return JSONResponse({cal.id: {"access": cal.access, "events": len(cal.events),
                                      "live": sum(e["status"] != "cancelled" for e in cal.events.values())}
                             for cal in state.calendars.values()})  # fmt: skip

    @control.get("/calendars/{calendar_id}/events")
    async def calendar_events(calendar_id: str) -> Response:
        """Every event of the calendar as stored, deleted (cancelled) ones included."""
        cal = state.calendars.get(calendar_id)
        return JSONResponse({"items": list(cal.events.values()) if cal else []})

    @control.delete("/calendars/{calendar_id}/events/{event_id}")
    async def user_delete(calendar_id: str, event_id: str) -> Response:
        """A user deletes the event in Google Calendar."""
        event = calendar(calendar_id).events.get(event_id)
        if event is None:
            return JSONResponse({"detail": "no such event"}, status_code=404)
        event["status"] = "cancelled"
        return JSONResponse({"id": event_id, "status": "cancelled"})

    @control.post("/calendars/{calendar_id}/events")
    async def user_insert(calendar_id: str, request: Request) -> Response:
        """An event written by someone else (or left over by a lost row), stored as given."""
        body = await request.json()
        return JSONResponse(stored(calendar(calendar_id), body, body["id"]))

    @control.post("/errors")
    async def queue_error(request: Request) -> Response:
        body = await request.json()
        entry = {"status": int(body["status"]), "reason": body.get("reason"), "message": body.get("message"),
                 "count": int(body.get("count", 1)), "method": body.get("method"),
                 "retry_after": body.get("retry_after")}  # fmt: skip
        state.queued.append(entry)
        return JSONResponse({"queued": state.queued})

    @control.get("/stats")
    async def stats() -> Response:
        return JSONResponse({
            "token_grants": state.token_grants, "refused_grants": state.refused_grants,
            "tokens": list(state.tokens), "requests_by_status": dict(sorted(state.by_status.items())),
            "queued_errors": state.queued, "calendars": len(state.calendars),
        })  # fmt: skip

    @control.delete("/state")
    async def reset() -> Response:
        state.calendars.clear()
        state.queued.clear()
        state.by_status.clear()
        state.token_grants = state.refused_grants = 0
        return JSONResponse({"reset": True})

    return Service(NAME, router, control)
