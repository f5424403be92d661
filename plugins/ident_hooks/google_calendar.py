"""Google Calendar API v3 (events of doctors' calendars) through the official client.

Connection type ``ident_google_calendar``:

* **host** — the API root, default ``https://www.googleapis.com/`` (the sandbox:
  ``http://127.0.0.1:<port>/google_calendar/``); requests go to ``<host>calendar/v3/...``;
* **password** (or **extra** ``{"service_account": {...}}``, or the extra itself when it is the key)
  — the service account's JSON key; its ``token_uri`` is where the JWT-bearer grant is sent (the
  sandbox's key points at the sandbox);
* **extra** ``{"timeout": 45}`` — seconds, when the task's settings give none.

``googleapiclient.discovery.build`` runs on the static discovery document with the host as
``api_endpoint``; the HTTP goes through ``httplib2.Http(timeout=...)`` wrapped by
``google_auth_httplib2.AuthorizedHttp`` (service-account credentials, scope ``calendar.events``).
The client's own retries are off (``num_retries=0``): this hook retries with the project's
``call_with_retries``. Errors: 401 and a refused key (``invalid_grant``) → :class:`ServiceAuthError`
at once with Google's message; 403 ``rateLimitExceeded``/``userRateLimitExceeded``, 429, 5xx,
timeouts → :class:`TransientServiceError` (Retry-After honoured); 403 ``forbidden``/
``requiredAccessLevel`` and 404 on a calendar → :class:`CalendarAccessError` naming the calendar;
409 on insert → :class:`EventExists`; 404/410 on an event → :class:`EventGone`; any other 4xx →
:class:`ServiceResponseError` quoting Google. Every HTTP request (the token grant included) is in
the exchange log; neither the key nor the access token is ever logged.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httplib2

from ident_hooks.base import ServiceHook
from ident_hooks.exchange import (
    Exchange,
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
    parse_retry_after,
    redact_text,
    redact_url,
)

DEFAULT_URL = "https://www.googleapis.com/"
SCOPES = ("https://www.googleapis.com/auth/calendar.events",)
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})
ACCESS_REASONS = frozenset({"forbidden", "requiredAccessLevel", "forbiddenForServiceAccounts"})
PAGE_SIZE = 250


class CalendarAccessError(ServiceResponseError):
    """The calendar does not exist or is not shared (with write access) with the service account."""

    def __init__(self, calendar_id: str, message: str):
        super().__init__(message)
        self.calendar_id = calendar_id


class EventExists(ServiceResponseError):
    """409: the id is taken in this calendar (by a live or a deleted event)."""


class EventGone(ServiceResponseError):
    """404/410 on an event: it is not there (any more)."""


def api_root(host: str | None) -> str:
    url = (host or "").strip() or DEFAULT_URL
    if "://" not in url:
        url = f"https://{url}"
    return url.rstrip("/") + "/"


def google_error(content: bytes | str | None) -> tuple[str, str]:
    """(reason, message) of Google's error envelope ``{"error": {"code", "message", "errors": [{"reason"}]}}``
    (or the OAuth ``{"error", "error_description"}``); the raw text when it is not one."""
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else (content or "")
    try:
        body = json.loads(text)
    except ValueError:
        return "", text.strip()[:300]
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        errors = error.get("errors") or [{}]
        reason = errors[0].get("reason", "") if isinstance(errors[0], dict) else ""
        return reason or str(error.get("status", "")), str(error.get("message", ""))
    if isinstance(error, str):
        return error, f"{error}: {body.get('error_description', '')}".strip(": ")
    return "", text.strip()[:300]


class _RecordingHttp(httplib2.Http):
    """httplib2 with every request written to the exchange log and the task log: method, URL
    (secrets redacted), status, duration, Google's message for an error. Never headers or bodies."""

    def __init__(self, record: Callable[[Exchange], None], log: Any, secrets: Callable[[], tuple], **kwargs: Any):
        super().__init__(**kwargs)
        self._record, self._log, self._secrets = record, log, secrets

    def request(self, uri, method="GET", body=None, headers=None, *args, **kwargs):
        url = redact_url(str(uri))
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            response, content = super().request(uri, method, body, headers, *args, **kwargs)
            status = response.status
            if status >= 400:
                reason, message = google_error(content)
                error = redact_text(f"{status} {reason}: {message}".strip(), self._secrets())
            return response, content
        except TimeoutError:
            error = f"no answer within {self.timeout} s"
            raise
        except Exception as exc:
            error = redact_text(f"connection failed: {exc}", self._secrets())
            raise
        finally:
            duration_ms = int((time.monotonic() - started) * 1000)
            self._record(Exchange(method, url, status, duration_ms, error))
            self._log.info("Google %s %s -> %s in %d ms", method, url, status if status else error, duration_ms)


class GoogleCalendarHook(ServiceHook):
    """Events of Google calendars: :meth:`list_events`, :meth:`insert_event`, :meth:`patch_event`,
    :meth:`update_event`, :meth:`delete_event`, :meth:`test_connection`."""

    conn_name_attr = "google_calendar_conn_id"
    default_conn_name = "google_calendar_default"
    conn_type = "ident_google_calendar"
    hook_name = "IDENT: Google Calendar"

    def __init__(self, google_calendar_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(google_calendar_conn_id, **settings)
        self.base_url = ""
        self.client_email = ""
        self._service: Any = None
        self._credentials: Any = None
        self._key_secret = ""

    # -- connection -------------------------------------------------------------------------------
    def _key(self, connection: Any) -> dict[str, Any]:
        extra = dict(connection.extra_dejson or {})
        candidates: list[Any] = [connection.password, extra.get("service_account"), extra]
        for candidate in candidates:
            if isinstance(candidate, str) and candidate.strip():
                try:
                    candidate = json.loads(candidate)
                except ValueError:
                    raise ServiceAuthError(
                        f"connection {self.google_calendar_conn_id!r}: the password is not a JSON service-account key"
                    ) from None
            if isinstance(candidate, dict) and candidate.get("private_key"):
                return candidate
        raise ServiceAuthError(
            f"connection {self.google_calendar_conn_id!r} has no service-account key: put the JSON key in its password"
        )

    def _secrets(self) -> tuple[str | None, ...]:
        token = getattr(self._credentials, "token", None) if self._credentials is not None else None
        return (token, self._key_secret)

    def _load(self) -> None:
        if self._service is not None:
            return
        import google_auth_httplib2
        from google.oauth2 import service_account
        from googleapiclient import discovery

        connection = self.get_connection(self.google_calendar_conn_id)
        key = self._key(connection)
        extra = dict(connection.extra_dejson or {})
        if self.timeout_seconds is None:
            self.timeout_seconds = float(extra.get("timeout") or self.DEFAULT_TIMEOUT_SECONDS)
        self._key_secret = key.get("private_key", "")
        try:
            self._credentials = service_account.Credentials.from_service_account_info(key, scopes=list(SCOPES))
        except (ValueError, KeyError) as exc:
            raise ServiceAuthError(
                f"connection {self.google_calendar_conn_id!r}: unusable service-account key: {exc}"
            ) from None
        self.client_email = key.get("client_email", "")
        record = self.on_exchange or (lambda exchange: None)
        transport = _RecordingHttp(record, self.log, self._secrets, timeout=self.timeout_seconds)
        authorized = google_auth_httplib2.AuthorizedHttp(self._credentials, http=transport)
        self.base_url = api_root(connection.host) + "calendar/v3/"
        self._service = discovery.build(
            "calendar", "v3", http=authorized, static_discovery=True, cache_discovery=False,
            client_options={"api_endpoint": self.base_url},
        )  # fmt: skip

    # -- one request --------------------------------------------------------------------------------
    def _classify(self, what: str, calendar_id: str, exc: Exception) -> Exception:
        from google.auth import exceptions as auth_exceptions
        from googleapiclient.errors import HttpError

        if isinstance(exc, HttpError):
            status = exc.resp.status
            reason, message = google_error(exc.content)
            text = redact_text(f"{status} {reason}: {message}", self._secrets())
            if status == 401:
                return ServiceAuthError(f"Google refused {what} with {text}")
            if status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS):
                return TransientServiceError(f"Google {what}: {text}", parse_retry_after(exc.resp.get("retry-after")))
            if status == 403 and reason in ACCESS_REASONS:
                return CalendarAccessError(
                    calendar_id,
                    f"calendar {calendar_id!r}: {self.client_email or 'the service account'} has no write access"
                    f' ({text}); share the calendar with it ("Make changes to events")',
                )
            if status == 403:
                return ServiceAuthError(f"Google refused {what} with {text}")
            if status == 409:
                return EventExists(f"Google {what}: {text}")
            if status == 410:
                return EventGone(f"Google {what}: {text}")
            if status == 404:
                return EventGone(f"Google {what}: {text}")
            return ServiceResponseError(f"Google rejected {what}: {text}")
        if isinstance(exc, auth_exceptions.RefreshError):
            text = redact_text(str(exc.args[0] if exc.args else exc), self._secrets())
            if getattr(exc, "retryable", False):
                return TransientServiceError(f"Google token grant for {what}: {text}")
            return ServiceAuthError(f"Google refused the service-account key of {self.google_calendar_conn_id!r}"
                                    f" ({self.client_email}): {text}")  # fmt: skip
        if isinstance(exc, auth_exceptions.TransportError | TimeoutError | OSError | httplib2.HttpLib2Error):
            text = redact_text(str(exc) or type(exc).__name__, self._secrets())
            return TransientServiceError(f"Google {what}: {text}")
        if isinstance(exc, ValueError):  # a body that is not JSON: usually a passing fault
            return TransientServiceError(f"Google {what}: unreadable body ({redact_text(str(exc), self._secrets())})")
        return exc

    def _call(self, what: str, calendar_id: str, build: Callable[[Any], Any]) -> Any:
        self._load()

        def attempt() -> Any:
            try:
                return build(self._service.events()).execute(num_retries=0)
            except Exception as exc:
                classified = self._classify(what, calendar_id, exc)
                if classified is exc:
                    raise
                raise classified from None

        return call_with_retries(
            attempt, describe=f"{self.google_calendar_conn_id} {what}", attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )  # fmt: skip

    def _on_calendar(self, what: str, calendar_id: str, build: Callable[[Any], Any]) -> Any:
        """A call on the calendar itself (list, insert): its 404 means the calendar is missing."""
        try:
            return self._call(what, calendar_id, build)
        except EventGone as exc:
            raise CalendarAccessError(
                calendar_id,
                f"calendar {calendar_id!r} not found or not shared with {self.client_email or 'the service account'}"
                f" ({exc})",
            ) from None

    # -- API ------------------------------------------------------------------------------------------
    def list_events(
        self, calendar_id: str, time_min: datetime, time_max: datetime, *, private_property: str | None = None,
        show_deleted: bool = True, page_size: int = PAGE_SIZE,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every event of the calendar overlapping [time_min, time_max) (single events, deleted ones
        too unless ``show_deleted`` is off), page by page; ``private_property`` is ``key=value``."""
        events: list[dict[str, Any]] = []
        token: str | None = None
        params: dict[str, Any] = {
            "calendarId": calendar_id, "timeMin": time_min.astimezone(UTC).isoformat(),
            "timeMax": time_max.astimezone(UTC).isoformat(), "singleEvents": True, "showDeleted": show_deleted,
            "maxResults": page_size,
        }  # fmt: skip
        if private_property:
            params["privateExtendedProperty"] = private_property
        while True:
            page_params = {**params, "pageToken": token}
            page = self._on_calendar(
                f"events.list {calendar_id}", calendar_id, lambda events_, p=page_params: events_.list(**p)
            )
            events.extend(page.get("items") or [])
            token = page.get("nextPageToken")
            if not token:
                return events

    def insert_event(self, calendar_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Insert with the client's own id; :class:`EventExists` when the id is taken (even by a
        deleted event: restore it with :meth:`update_event`)."""
        what = f"events.insert {calendar_id} {body.get('id', '')}"
        return self._on_calendar(what, calendar_id, lambda e: e.insert(calendarId=calendar_id, body=body))

    def patch_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        what = f"events.patch {calendar_id} {event_id}"
        return self._call(what, calendar_id, lambda e: e.patch(calendarId=calendar_id, eventId=event_id, body=body))

    def update_event(self, calendar_id: str, event_id: str, body: dict[str, Any]) -> dict[str, Any]:
        what = f"events.update {calendar_id} {event_id}"
        return self._call(what, calendar_id, lambda e: e.update(calendarId=calendar_id, eventId=event_id, body=body))

    def delete_event(self, calendar_id: str, event_id: str) -> bool:
        """Delete (Google marks it cancelled); False when it was already gone (404/410)."""
        what = f"events.delete {calendar_id} {event_id}"
        try:
            self._call(what, calendar_id, lambda e: e.delete(calendarId=calendar_id, eventId=event_id))
        except EventGone:
            return False
        return True

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button ("Проверить"): the token grant and one page of the account's calendar list."""
        try:
            self._load()

            def attempt() -> Any:
                try:
                    return self._service.calendarList().list(maxResults=10).execute(num_retries=0)
                except Exception as exc:
                    classified = self._classify("calendarList.list", "", exc)
                    if classified is exc:
                        raise
                    raise classified from None

            answer = call_with_retries(
                attempt, describe=f"{self.google_calendar_conn_id} calendarList.list",
                attempts=self.request_attempts, backoff_seconds=self.request_backoff_seconds,
            )  # fmt: skip
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        calendars = [item.get("id", "") for item in answer.get("items") or []]
        return True, (f"Google Calendar at {self.base_url}: key of {self.client_email} accepted;"
                      f" calendars shared with it: {', '.join(calendars) or 'none yet'}")  # fmt: skip
