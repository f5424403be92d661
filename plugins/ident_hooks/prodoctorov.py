"""ProDoctorov (prodoctorov.ru) through MedFlex, its integration layer: the clinic's schedule pushed
with ``send_schedule`` — every branch ("filial"), its doctors, and their cells, free **and** busy.

Connection (``ident_prodoctorov``): host = the MedFlex API base URL including ``/v2`` (empty =
:data:`DEFAULT_URL`; ``https://mis-api.medflex.ru/v2`` is the same API; no scheme = https),
password = the API token. Extras ``timeout``, ``verify`` and ``proxies`` work as for the HTTP
provider.

Wire facts (reference ``aggregators.md`` §2, from independent public implementations that agree:
``mkv/prodoctorov`` Go at ``1210130``, ``Unicooooorn/ProdoctotovIntegration`` C#,
``ClawedRex555-creator/dental-mental`` TypeScript, PHP scripts). [IMPL] = seen there;
[ASSUMED] = not stated anywhere public, kept here in one place:

* [IMPL] ``POST {base}/doctors/send_schedule/`` (the trailing slash is part of the path: Django),
  ``Authorization: Token <token>``, ``Content-Type: application/json``.
* [IMPL] Body::

    {"schedule": {
        "<filial_id>": "<filial name>", …,
        "data": {"<filial_id>": {"<doctor_id>": {
            "efio": "Фамилия Имя Отчество", "espec": "Стоматолог-терапевт",
            "cells": [{"dt": "YYYY-MM-DD", "time_start": "HH:MM", "time_end": "HH:MM",
                       "free": true|false, "room": "3"?}]}}}}}

  Filial and doctor ids are the clinic's own stable strings; ``dt`` and the times are the
  branch's local date and clock; ``room`` is optional and ``espec`` omitted by some
  implementations (this hook's caller omits it when a doctor has no specialty).
* [IMPL] Success is any 2xx (204 included); the body is not read by any implementation, so it is
  only logged here. A failure's body is to be quoted verbatim.
* [IMPL, reference §2.4: the MedFlex APIs are Django REST framework] errors: 401 (and 403) with
  ``{"detail": "…"}`` ("Authentication credentials were not provided." / "Invalid token.") →
  :class:`ServiceAuthError` at once with that detail; 400 with DRF validation errors — field →
  ``[messages]``, nested as the payload is (dictionaries by key, lists by index), or ``{"detail"}``
  / ``{"non_field_errors": [...]}`` → :class:`ServiceResponseError` quoting every message with its
  dotted path (``schedule.data.1.7.cells.0.time_start: …``); 404 → the host is probably wrong;
  429 (``Retry-After``) and 5xx → transient, retried. [ASSUMED] the exact messages; that a push
  replaces the whole schedule of each filial it names (a full snapshot every run is what the
  implementations send).
* [ASSUMED] The connection test: DRF authenticates a request before it looks at the method, so
  ``GET doctors/send_schedule/`` answers 401/403 for a bad token and 405 "Method not allowed" for a
  good one — a check that changes nothing (no read endpoint of this API is public).
"""

from __future__ import annotations

from typing import Any

import requests

from ident_hooks.base import ServiceHttpHook, service_url
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError

DEFAULT_URL = "https://api.prodoctorov.ru/v2"
SEND_SCHEDULE = "doctors/send_schedule/"
MAX_QUOTED_ERRORS = 20


def api_url(host: str | None, port: int | None = None) -> str:
    """The API base URL of a connection: the default when empty, https when no scheme, no trailing slash."""
    return service_url(host, port, DEFAULT_URL)


def drf_errors(body: Any, prefix: str = "") -> list[str]:
    """DRF's error body as ``path: message`` lines: nested dictionaries (and lists, by index) of
    lists of messages; a ``detail`` or ``non_field_errors`` is quoted without a field."""
    if isinstance(body, str):
        return [f"{prefix}: {body}" if prefix else body]
    if isinstance(body, list):
        if all(isinstance(item, str) for item in body):
            text = " ".join(body)
            return [f"{prefix}: {text}" if prefix else text] if body else []
        lines: list[str] = []
        for index, item in enumerate(body):
            if item:  # DRF puts {} for the list items that passed
                lines += drf_errors(item, f"{prefix}.{index}" if prefix else str(index))
        return lines
    if isinstance(body, dict):
        lines = []
        for key, value in body.items():
            if key in ("detail", "non_field_errors") and not prefix:
                lines += drf_errors(value, "")
            else:
                lines += drf_errors(value, f"{prefix}.{key}" if prefix else str(key))
        return lines
    return [f"{prefix}: {body!r}" if prefix else repr(body)]


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:500] or response.reason or "no message"
    lines = drf_errors(body)
    if not lines:
        return response.text.strip()[:500] or response.reason or "no message"
    more = len(lines) - MAX_QUOTED_ERRORS
    shown = "; ".join(lines[:MAX_QUOTED_ERRORS])
    return shown + (f" (and {more} more)" if more > 0 else "")


def _answer(response: requests.Response) -> Any:
    """A 2xx answer: its JSON, else its text (nobody reads it; a 204 has none)."""
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError:
        return response.text[:500]


class _Answered(ServiceResponseError):
    """An error status the caller takes as an answer (``request(accept=...)``)."""

    def __init__(self, status: int, text: str):
        super().__init__(f"{status}: {text}")
        self.status, self.text = status, text


class ProDoctorovHook(ServiceHttpHook):
    """Pushes the schedule to ProDoctorov through MedFlex's ``send_schedule``."""

    conn_name_attr = "prodoctorov_conn_id"
    default_conn_name = "prodoctorov_default"
    conn_type = "ident_prodoctorov"
    hook_name = "IDENT: ProDoctorov (MedFlex) schedule"

    DEFAULT_TIMEOUT_SECONDS = 60.0  # a whole network's schedule in one body
    SECRET_MISSING = "no token: put the MedFlex API token in its password"
    api_url = staticmethod(api_url)

    def __init__(self, prodoctorov_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(prodoctorov_conn_id, **settings)

    def session_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Token {secret}"}

    def request(self, method: str, path: str, body: Any = None, *, accept: tuple[int, ...] = ()) -> Any:
        """One call, retrying transient faults; the answer (JSON, text or None). ``accept``: error
        statuses that are an answer here (the connection test's 405), returned as ``(status, text)``."""
        self._session_and_secret()
        what = f"{method} {path}"
        prepared = self._prepare(method, path, body)

        def inspect(response: requests.Response) -> None:
            status = response.status_code
            if status in accept:
                raise _Answered(status, _error_text(response))
            if status in (401, 403):
                text = _error_text(response)
                raise ServiceAuthError(self._redact(f"ProDoctorov refused {what} with {status}: {text}"))
            if status == 404:
                raise ServiceResponseError(
                    self._redact(
                        f"ProDoctorov {what}: 404 {_error_text(response)} (does the connection's host end with /v2?)"
                    )
                )
            if 400 <= status < 500 and status != 429:
                raise ServiceResponseError(
                    self._redact(f"ProDoctorov rejected {what} ({status}): {_error_text(response)}")
                )

        try:
            return self._call(what, prepared, parse=_answer, inspect_error=inspect)
        except _Answered as answered:
            return answered.status, answered.text

    def send_schedule(self, payload: dict[str, Any]) -> Any:
        """``POST doctors/send_schedule/`` with ``{"schedule": …}`` (the class docstring); raises
        :class:`ServiceAuthError` at once on 401/403 with the service's detail, and
        :class:`ServiceResponseError` on a rejected body quoting every validation error."""
        if not isinstance(payload, dict) or not isinstance(payload.get("schedule"), dict):
            raise ValueError('a send_schedule body is {"schedule": {...}}')
        answer = self.request("POST", SEND_SCHEDULE, payload)
        self.log.info("ProDoctorov send_schedule accepted: %s", str(answer)[:300] if answer is not None else "(empty)")
        return answer

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button ("Проверить"): ``GET doctors/send_schedule/`` — 405 means the token
        was accepted (DRF checks it first), 401/403 that it was not; nothing is sent."""
        try:
            answer = self.request("GET", SEND_SCHEDULE, accept=(405,))
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        if isinstance(answer, tuple):
            return True, f"ProDoctorov (MedFlex) API at {self.base_url}: token accepted ({answer[0]} {answer[1]})"
        return True, f"ProDoctorov (MedFlex) API at {self.base_url}: token accepted"
