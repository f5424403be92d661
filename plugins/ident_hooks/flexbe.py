"""Flexbe landing pages: leads ("заявки") from a site's legacy API, ``<site>/mod/api/`` (``getLeads``).

Every Flexbe site has its own API endpoint on its own domain; the key is made in the site's panel
(Settings → Integrations → API) and signs every request. The hook POSTs urlencoded forms.

Connection (``ident_flexbe``): host = the site URL (``https://clinic-promo.ru``; a host without a
scheme gets https; the hook calls ``<host>/mod/api/``, and a host already ending in ``/mod/api``
is taken as it is), password = the API key. Extras ``timeout``, ``verify`` and ``proxies`` work as
for the HTTP provider.

Wire facts relied on, with their certainty in the team's reference (``external-apis.md`` §2).
[DOC] = Flexbe's help page; [CODE] = public client code only; [UNCONFIRMED] = an assumption, kept
in one place here (the constants below) so it can be corrected:

* [DOC] ``GET|POST http(s)://<site>/mod/api/`` with ``api_key`` and ``method``, in the query
  string or a urlencoded form body. This hook sends every parameter, the key included, in a POST
  form body, so the key is in no URL (server logs, proxies, exception texts).
* [DOC] JSON answers with the payload in ``data``; ``checkConnection`` answers ``{"status":1}``.
* [CODE] ``getLeads`` takes ``start`` (0-based offset), ``count``, ``status``, ``id`` and
  ``date_from`` (Unix seconds). [UNCONFIRMED] that ``date_from`` is an inclusive lower bound on the
  lead's ``time`` (``DATE_FROM_INCLUSIVE``); leads older than ``date_from`` that a service
  ignoring it sends anyway are dropped here, with a warning.
* [CODE] ``data.leads`` is an object keyed by lead id; an array is accepted too. Pages keep the
  service's order (the sandbox: ascending ``time``, then id); ids already yielded by an earlier
  page of the same walk are not yielded again.
* [UNCONFIRMED] No ``total``: paging goes ``start += count`` until a page shorter than ``count``.
  The most ``count`` the service honours is unknown: ``MAX_PAGE_SIZE`` (500) is assumed and larger
  page sizes are lowered to it (a service that clamps ``count`` silently below the size asked would
  end the walk early; ``DEFAULT_PAGE_SIZE`` 100 is the value seen in public clients).
* [CODE] ``time`` is Unix seconds, an int or a numeric string (:func:`lead_time` reads both).
* [CODE] Errors: ``{"error":{"code","msg"}}``; [UNCONFIRMED] codes 0 = invalid API key (fails at
  once, :class:`ServiceAuthError`), 1 = request limit exceeded (retried with backoff: the limit
  and its window are not published, so there is no reset hint to honour), 2 = unknown method
  (:class:`ServiceResponseError`, as any other error object). [UNCONFIRMED] Errors come with HTTP
  200; an error object sent with a 4xx/5xx status is classified by its code all the same.
* [CODE] ``changeLead`` (``id``, ``status``) sets a lead's status (:meth:`FlexbeHook.change_lead`).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import msgspec
import requests
from airflow.sdk.exceptions import AirflowException

from ident_hooks.base import ServiceHttpHook, raise_error_object, service_url
from ident_hooks.exchange import (
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
)

API_PATH = "/mod/api/"
DEFAULT_TIMEOUT_SECONDS = 45.0  # IDENT's default
DEFAULT_PAGE_SIZE = 100  # [CODE] the count seen in public clients
MAX_PAGE_SIZE = 500  # [UNCONFIRMED] the most `count` the service is assumed to honour
DATE_FROM_INCLUSIVE = True  # [UNCONFIRMED] date_from keeps leads with time == date_from
# [UNCONFIRMED] error codes, from a public PHP client.
INVALID_KEY_CODE, LIMIT_CODE, UNKNOWN_METHOD_CODE = 0, 1, 2


def api_url(host: str | None, port: int | None = None) -> str:
    """The site's API URL: https when no scheme, the port added when given, ``/mod/api/`` appended."""
    url = (host or "").strip()
    if not url:
        raise ValueError("a Flexbe connection needs the site URL in its host, e.g. https://clinic-promo.ru")
    base = service_url(url, port)
    return (base if base.endswith(API_PATH.rstrip("/")) else base + API_PATH.rstrip("/")) + "/"


def unix_seconds(moment: datetime) -> int:
    """A timezone-aware moment as whole Unix seconds (rounded down: a lower bound keeps its second)."""
    if moment.tzinfo is None:
        raise ValueError("Flexbe dates must be timezone-aware")
    return int(moment.timestamp() // 1)


def lead_time(lead: Any) -> datetime | None:
    """A lead's ``time`` (Unix seconds, an int or a numeric string) as an aware UTC datetime; None if
    it is missing or unreadable."""
    value = lead.get("time") if isinstance(lead, dict) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text) if text.lstrip("-").isdigit() else float(text)
        except ValueError:
            return None
    if not isinstance(value, int | float) or value != value:  # NaN
        return None
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _leads_of(method: str, data: Any) -> list[dict[str, Any]]:
    """``data.leads`` as a list: the values of the object keyed by id (in the service's order), or
    the array as it is."""
    if not isinstance(data, dict):
        raise ServiceResponseError(f"Flexbe {method}: 'data' is {type(data).__name__}, not an object")
    leads = data.get("leads")
    if leads is None or leads == "":
        return []
    if isinstance(leads, dict):
        leads = list(leads.values())
    if not isinstance(leads, list):
        raise ServiceResponseError(f"Flexbe {method}: 'data.leads' is {type(leads).__name__}, not an object")
    bad = [type(lead).__name__ for lead in leads if not isinstance(lead, dict)]
    if bad:
        raise ServiceResponseError(f"Flexbe {method}: {len(bad)} lead(s) are not objects ({bad[0]})")
    return leads


def _error_code(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


class FlexbeHook(ServiceHttpHook):
    """Reads leads from a Flexbe site's legacy API (``/mod/api/``).

    Every call retries timeouts, connection errors, 5xx, 429, unreadable bodies and the service's
    "request limit exceeded" (code 1) with exponential backoff (``request_attempts``,
    ``request_backoff_seconds``); fails at once with :class:`ServiceAuthError` on 401/403 and on an
    invalid key (code 0), quoting the service's message; and raises :class:`ServiceResponseError`
    for unknown methods (code 2), any other error object and answers not in the agreed shape. Each
    HTTP request is handed to ``on_exchange`` as an :class:`~ident_hooks.exchange.Exchange` whose URL
    shows the method and parameters, never the key.
    """

    conn_name_attr = "flexbe_conn_id"
    default_conn_name = "flexbe_default"
    conn_type = "ident_flexbe"
    hook_name = "IDENT: Flexbe landing pages"

    MAX_PAGE_SIZE = MAX_PAGE_SIZE  # a class attribute, so a test can lower it on one hook

    HTTP_METHOD = "POST"
    DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
    SECRET_MISSING = "no API key: put the site's Flexbe API key in its password"
    api_url = staticmethod(api_url)

    def __init__(self, flexbe_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(flexbe_conn_id, **settings)  # the key travels as the api_key parameter

    # -- one call -----------------------------------------------------------------------------
    def describe(self, method: str, params: dict[str, Any] | None = None) -> str:
        """The call as the exchange log and messages show it: the API URL with the method and the
        parameters as a query string, never the key."""
        self._load_connection()
        pairs = [("method", method)]
        pairs += [(name, str(value)) for name, value in (params or {}).items() if name != "api_key"]
        return f"{self.base_url}?{urlencode(pairs)}"

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One API call, retrying transient faults; returns the whole answer object (``status``,
        ``data``). Raises as the class docstring says."""
        session, key = self._session_and_secret()
        params = {name: value for name, value in (params or {}).items() if name not in ("api_key", "method")}
        describe = self.describe(method, params)
        return call_with_retries(
            lambda: self._send(session, key, method, params, describe),
            describe=f"{self.flexbe_conn_id} {method}",
            attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )

    def _send(self, session: requests.Session, key: str, method: str, params: dict[str, Any], describe: str):
        form = {"api_key": key, "method": method, **{name: str(value) for name, value in params.items()}}
        prepared = session.prepare_request(requests.Request("POST", self.base_url, data=form))
        return self._attempt(
            prepared,
            parse=lambda response: self._answer_of(method, msgspec.json.decode(response.content)),
            describe_url=describe,
            inspect_error=lambda response: raise_error_object(response, lambda error: self._error(method, error)),
        )

    def _answer_of(self, method: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ServiceResponseError(f"Flexbe {method}: expected a JSON object, got {type(body).__name__}")
        if body.get("error") is not None:
            raise self._error(method, body["error"])
        return body

    def _error(self, method: str, error: Any) -> AirflowException:
        if not isinstance(error, dict):
            return ServiceResponseError(self._redact(f"Flexbe {method}: unreadable error object {error!r}"))
        code = _error_code(error.get("code"))
        message = str(error.get("msg") or error.get("message") or "no message")
        quoted = f"{message} (code {error.get('code')!r})" if code is None else f"{message} (code {code})"
        if code == INVALID_KEY_CODE:
            return ServiceAuthError(
                self._redact(
                    f"Flexbe refused {method}: {quoted}; check the API key in connection {self.flexbe_conn_id!r}"
                )
            )
        if code == LIMIT_CODE:
            return TransientServiceError(self._redact(f"Flexbe {method}: request limit exceeded: {quoted}"))
        if code == UNKNOWN_METHOD_CODE:
            return ServiceResponseError(self._redact(f"Flexbe does not know method {method!r}: {quoted}"))
        return ServiceResponseError(self._redact(f"Flexbe rejected {method}: {quoted}"))

    # -- leads --------------------------------------------------------------------------------
    def get_leads(self, **params: Any) -> list[dict[str, Any]]:
        """One ``getLeads`` call with the given parameters; the leads of ``data.leads`` as a list."""
        answer = self.call("getLeads", params)
        return _leads_of("getLeads", answer.get("data"))

    def iter_leads(self, date_from: datetime, page_size: int = DEFAULT_PAGE_SIZE) -> Iterator[list[dict[str, Any]]]:
        """Leads whose ``time`` is at or after ``date_from`` (an aware datetime), one list of lead
        dicts per page, as the service sent them and in its order.

        Pages are ``getLeads`` with ``date_from`` (Unix seconds), ``start`` and ``count``, until a
        page shorter than ``count`` (``page_size``, at most ``MAX_PAGE_SIZE``). A lead id already
        yielded by an earlier page is left out (leads shifting between pages); a full page with no
        new id means the service ignores ``start`` and raises :class:`ServiceResponseError`.
        Leads older than ``date_from`` are dropped (a service ignoring ``date_from``), with a
        warning; a lead whose ``time`` cannot be read is kept."""
        if page_size < 1:
            raise ValueError(f"page_size must be at least 1, got {page_size}")
        count = min(page_size, self.MAX_PAGE_SIZE)
        since = unix_seconds(date_from)
        bound = datetime.fromtimestamp(since, UTC)
        seen: set[str] = set()
        start = 0
        while True:
            page = self.get_leads(date_from=since, start=start, count=count)
            fresh, repeated, older = [], 0, 0
            for lead in page:
                lead_id = lead.get("id")
                if lead_id is not None:
                    if str(lead_id) in seen:
                        repeated += 1
                        continue
                    seen.add(str(lead_id))
                moment = lead_time(lead)
                if moment is not None and (moment < bound if DATE_FROM_INCLUSIVE else moment <= bound):
                    older += 1
                    continue
                fresh.append(lead)
            if repeated:
                self.log.info("Flexbe getLeads start=%d: %d lead(s) already seen on an earlier page", start, repeated)
            if older:
                self.log.warning(
                    "Flexbe getLeads start=%d: %d lead(s) older than date_from=%d dropped (the service ignores it?)",
                    start,
                    older,
                    since,
                )
            if len(page) >= count and repeated == len(page):
                raise ServiceResponseError(
                    f"Flexbe getLeads returned only leads already seen for start={start}: the service ignores 'start'"
                )
            if fresh:
                yield fresh
            if len(page) < count:
                return
            start += count

    def change_lead(self, lead_id: Any, status: int) -> dict[str, Any]:
        """``changeLead``: set a lead's status code (0 new, 1 in progress, 2 done, 10 cancelled,
        11 deleted [CODE]); returns the answer object."""
        return self.call("changeLead", {"id": lead_id, "status": status})

    # -- UI -----------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (IDENT's "Проверить"): ``checkConnection``."""
        try:
            answer = self.call("checkConnection")
            if str(answer.get("status")) != "1":
                raise ServiceResponseError(f"Flexbe checkConnection answered status {answer.get('status')!r}, not 1")
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        self._load_connection()
        return True, f"Flexbe API at {self.base_url} accepted the key (checkConnection)"
