"""SberZdorovye (СберЗдоровье, formerly DocDoc): the clinic's free slots, pushed to the aggregator.

**SberZdorovye publishes no push API for clinics.** What is known (reference ``aggregators.md`` §3)
is the other direction: SberHealth *pulls* from the MIS (Archimed's adapter: ``buildings``,
``doctors?buildid=``, ``slot/{doctor_id}/{start}/{end}``), and DocDoc's public partner API (HTTP
Basic with a partner login, error shape ``{"status": "error", "message": …}``, 401 on bad
credentials). The issue asks for a push, so every wire fact below is **[ASSUMED]**: the pull API's
objects (buildings → doctors → free slots with start and end) sent as one full snapshot, in DocDoc's
envelopes. This docstring and the constants under it are the single written source of the contract;
the sandbox (``sandbox/services/sberzdorovie.py``) emulates exactly this, and the mapping
(``ident_integrations/services/sberzdorovie.py``) builds only the fields named here. When
SberZdorovye hands over a real clinic-side specification (or confirms it only pulls), this module
and its emulator are what change; the slot engine, the mapping's inputs and the DAG do not.

Connection (``ident_sberzdorovie``): host = the API base URL (empty = :data:`DEFAULT_URL`; no
scheme = https), login = the clinic's partner login (``partner.<id>`` as DocDoc's), password = its
password. Extras ``timeout``, ``verify`` and ``proxies`` work as for the HTTP provider.

The assumed contract, version 1 [ASSUMED]:

* **Base URL** ``https://api.docdoc.ru/mis/v1``; one login per clinic network (the login names the
  clinic, no clinic id travels). JSON over HTTPS, UTF-8.
* **Auth**: HTTP Basic (login:password) on every request, as DocDoc's partner API.
* **Success**: HTTP 200 ``{"status": "success", …}``.
* **Errors**, DocDoc's shape with a matching status: ``{"status": "error", "message": "<text>",
  "errors": {"<path>": "<text>"}?}`` — 400 a payload that breaks the rules below (``errors`` names
  each offending field by its path, e.g. ``buildings[0].doctors[1].slots[2].start``), 401 missing or
  bad credentials, 403 the login may not push schedules, 404 an unknown route, 429 too many
  requests (``Retry-After`` in seconds), 5xx the service's fault. Here 401/403 fail at once
  (:class:`ServiceAuthError`); 429 and 5xx are retried with backoff; the rest raise
  :class:`ServiceResponseError` quoting the message and every error.
* ``GET clinic`` → ``{"status": "success", "clinic": {"id", "name"}}``: the account the login
  belongs to (the connection test).
* ``PUT schedule``: **a full snapshot of the horizon**, free slots only::

      {"date_from": "YYYY-MM-DD", "date_to": "YYYY-MM-DD",
       "buildings": [{"id": "<string>", "name": "<text>", "address": "<text>",
                      "timezone": "<IANA>",
                      "doctors": [{"id": "<string>", "name": "<Фамилия Имя Отчество>",
                                   "speciality": "<text>",
                                   "slots": [{"start": "2025-06-02T10:00:00+03:00",
                                              "end": "2025-06-02T10:15:00+03:00"}]}]}]}

  ``date_from``/``date_to``: the horizon's local dates, inclusive; what the service holds for the
  account in them is replaced (a building or doctor not sent, or sent with no slots, has no free
  time there). Ids are our own (IDENT's) ids as strings, unique per list (a doctor of two buildings
  is listed under each). ``start``/``end``: ISO 8601 to the second **with the building's own UTC
  offset** at that moment; ``end`` after ``start``; ``start``'s local date within the horizon; a
  doctor's slots never overlap, across buildings too. No other keys. Answer ``{"status":
  "success", "buildings": n, "doctors": n, "slots": n}``: what it took.
"""

from __future__ import annotations

import base64
from typing import Any

import requests

from ident_hooks.base import ServiceHttpHook, raise_error_object, service_url
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError, retry_after_seconds

DEFAULT_URL = "https://api.docdoc.ru/mis/v1"  # [ASSUMED]
DEFAULT_TIMEOUT_SECONDS = 45.0  # IDENT's default
SCHEDULE_PATH = "schedule"  # [ASSUMED] PUT: the full snapshot
CLINIC_PATH = "clinic"  # [ASSUMED] GET: the account (connection test)


def api_url(host: str | None, port: int | None = None) -> str:
    """The API base URL of a connection: the default when empty, https when no scheme, no trailing slash."""
    return service_url(host, port, DEFAULT_URL)


def error_text(body: dict[str, Any]) -> str:
    """The error object as one line: the message, then every field error."""
    message = str(body.get("message") or "no message")
    errors = body.get("errors")
    if isinstance(errors, dict) and errors:
        message += " — " + "; ".join(f"{path}: {text}" for path, text in errors.items())
    elif isinstance(errors, list) and errors:
        message += " — " + "; ".join(str(text) for text in errors)
    return message


def _error_envelope(body: Any) -> dict[str, Any] | None:
    """DocDoc's error answer ``{"status": "error", …}`` is itself the error object."""
    return body if isinstance(body, dict) and body.get("status") == "error" else None


class SberZdorovieHook(ServiceHttpHook):
    """Pushes the free-slot snapshot to SberZdorovye through the assumed API (module docstring).

    Every request retries timeouts, connection errors, 5xx, 429 (after its ``Retry-After``) and
    unreadable bodies with exponential backoff; fails at once with :class:`ServiceAuthError` on
    401/403, quoting the service's message; raises :class:`ServiceResponseError` on any other error
    (the message and every field error quoted) and on answers not in the agreed shape. Each HTTP
    request is handed to ``on_exchange``; the credentials travel only in the Authorization header."""

    conn_name_attr = "sberzdorovie_conn_id"
    default_conn_name = "sberzdorovie_default"
    conn_type = "ident_sberzdorovie"
    hook_name = "IDENT: SberZdorovye schedule push (assumed contract)"

    HTTP_METHOD = "PUT"
    DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
    SECRET_MISSING = "no password: put the SberZdorovye partner password in its password (the login in its login)"
    JSON_SEPARATORS = (",", ":")
    JSON_CONTENT_TYPE = "application/json; charset=utf-8"
    api_url = staticmethod(api_url)

    def __init__(self, sberzdorovie_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(sberzdorovie_conn_id, **settings)
        self._login: str | None = None

    def _set_base_url(self, connection) -> None:  # read once with the connection: the Basic login too
        super()._set_base_url(connection)
        self._login = connection.login or None

    def session_headers(self, secret: str) -> dict[str, str]:
        if not self._login:
            raise ServiceAuthError(
                f"connection {self.sberzdorovie_conn_id!r} has no login: "
                "put the SberZdorovye partner login in its login"
            )
        token = base64.b64encode(f"{self._login}:{secret}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    # -- one request --------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        """One call of the API (``body`` sent as JSON), retrying transient faults; returns the whole
        success object. Raises as the class docstring says."""
        self._session_and_secret()
        what = f"{method} {path}"
        return self._call(
            what,
            self._prepare(method, path, body),
            parse=lambda response: self._answer_of(what, response),
            inspect_error=lambda response: raise_error_object(
                response, lambda error: self._error(what, error, response), _error_envelope
            ),
        )

    def _answer_of(self, what: str, response: requests.Response) -> dict[str, Any]:
        body = response.json()  # ValueError (a garbled body) is retried by timed_request
        if _error_envelope(body) is not None:
            raise self._error(what, body, response)
        if not isinstance(body, dict) or body.get("status") != "success":
            shape = type(body).__name__ if not isinstance(body, dict) else f"status {body.get('status')!r}"
            raise ServiceResponseError(f'SberZdorovye {what}: expected {{"status": "success", …}}, got {shape}')
        return body

    def _error(self, what: str, body: dict[str, Any], response: requests.Response) -> Exception:
        status = response.status_code
        quoted = f"{error_text(body)} (HTTP {status})"
        if status in (401, 403):
            return ServiceAuthError(
                self._redact(
                    f"SberZdorovye refused {what}: {quoted}; check the login and password "
                    f"of connection {self.sberzdorovie_conn_id!r}"
                )
            )
        if status == 429:
            return TransientServiceError(self._redact(f"SberZdorovye {what}: {quoted}"), retry_after_seconds(response))
        if status >= 500:
            return TransientServiceError(self._redact(f"SberZdorovye {what}: {quoted}"))
        return ServiceResponseError(self._redact(f"SberZdorovye rejected {what}: {quoted}"))

    # -- calls --------------------------------------------------------------------------------
    def put_schedule(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """``PUT schedule`` with the full snapshot; the service's answer (what it took)."""
        return self.request("PUT", SCHEDULE_PATH, snapshot)

    def clinic(self) -> dict[str, Any]:
        """``GET clinic``: the account the login belongs to."""
        clinic = self.request("GET", CLINIC_PATH).get("clinic")
        if not isinstance(clinic, dict):
            raise ServiceResponseError(f"SberZdorovye GET clinic: 'clinic' is {type(clinic).__name__}, not an object")
        return clinic

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: ``GET clinic``."""
        try:
            clinic = self.clinic()
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, (
            f"SberZdorovye at {self.base_url} (assumed contract): "
            f"clinic {clinic.get('name')!r} (id {clinic.get('id')!r})"
        )
