"""32top (32top.ru): leads ("заявки") booked through the catalogue or its booking widget, each with
the doctor's surname and the appointment's start time.

**32top publishes no API** (reference ``aggregators.md`` §4: "No public API text found"). Every wire
fact below is therefore ASSUMED: a small REST partner API of the common shape (reference §5),
written down here once — this docstring and the constants under it are the single source of the
contract. The sandbox (``sandbox/services/top32.py``) emulates exactly this, and the lead mapping
(``ident_integrations/services/top32.py``) reads only the item fields named here. When 32top hands
over its real specification, this module (and its emulator) is what changes; the mapping, the store
and the DAGs do not. The schedule (free slots) push, ``PUT schedule`` below, uses the same base URL,
auth, envelopes and errors, and is mapped in the same service module.

Connection (``ident_top32``): host = the API base URL including ``/api/partner/v1`` (empty =
:data:`DEFAULT_URL`; no scheme = https), password = the partner API key. Extras ``timeout``,
``verify`` and ``proxies`` work as for the HTTP provider.

The assumed contract, version 1:

* **Base URL** ``https://app.32top.ru/api/partner/v1`` (one key per clinic account; the key names
  the clinic, so no clinic id travels in requests). JSON over HTTPS, UTF-8.
* **Auth**: ``Authorization: Bearer <API key>`` on every request; nothing secret in any URL.
* **Success envelope**: ``{"data": …}``, and for lists ``{"data": [items], "meta": {"page",
  "per_page", "total", "total_pages"}}``.
* **Error envelope**, with a matching HTTP status: ``{"error": {"code": "<mnemonic>", "message":
  "<text>", "details": {field: text}?}}``. Codes and statuses: ``unauthorized`` 401 (missing or
  invalid key), ``forbidden`` 403 (the key may not read leads, or the account is disabled),
  ``not_found`` 404, ``validation_error`` 422 (with ``details``), ``rate_limited`` 429 with a
  ``Retry-After`` header in seconds, ``internal_error`` 500/503. Here 401/403 (or those codes) fail
  at once with the service's message (:class:`ServiceAuthError`); 429 and 5xx are retried with
  backoff, honouring ``Retry-After``; the rest raise :class:`ServiceResponseError` quoting the code,
  the message and every detail.
* ``GET me`` → ``{"data": {"clinic_id", "name", "timezone"}}``: the account the key belongs to
  (the connection test).
* ``GET leads`` with ``created_from`` / ``created_to`` (inclusive bounds on ``created_at``) and/or
  ``updated_from`` (inclusive bound on ``updated_at``), ISO 8601 **with an offset** (a bound without
  one is a 422), ``page`` (1-based, default 1), ``per_page`` (1..:data:`MAX_PER_PAGE` = 100, default
  20; more is a 422). Items are ordered by ``created_at``, then ``id``, ascending. The lead import
  filters on ``created_*``: IDENT's window, and the cache check's re-pull of a closed day, are about
  when leads were made; ``updated_from`` is there for a delta sync.
* **A lead** (:data:`LEAD_FIELDS`): ``id`` (integer, unique in the account), ``created_at`` and
  ``updated_at`` (ISO 8601 with an offset), ``status`` (``new`` | ``processed`` | ``cancelled``),
  ``source`` (``catalog`` = a 32top catalogue page, ``widget`` = the booking widget on the clinic's
  site, ``app`` = 32top's mobile app), ``patient_name`` (one string, as the patient typed it),
  ``patient_phone`` (text, or sometimes a JSON number), ``patient_email`` (or null),
  ``doctor_surname`` (or null), ``appointment_start`` (the slot's start in the **clinic's local
  time**, ``YYYY-MM-DDTHH:MM:SS`` without an offset, or ISO 8601 with one; null for a call-back
  request without a slot), ``comment`` (or null), ``branch`` (``{"id", "name"}`` or null, for a
  network of clinics), ``page_url`` (the catalogue or site page the lead came from, or null).
  Unknown extra fields may appear and are kept in the raw payload.

* ``PUT schedule`` (JSON body): **a full snapshot of the horizon's free slots**, doctors named by
  surname as the leads name them::

      {"date_from": "YYYY-MM-DD", "date_to": "YYYY-MM-DD",
       "branches": [{"id": "<string>", "name": "<text>", "timezone": "<IANA>"}],
       "doctors": [{"id": "<string>", "surname": "<Фамилия>", "full_name": "<Фамилия Имя Отчество>",
                    "branch_id": "<string>",
                    "dates": [{"date": "YYYY-MM-DD",
                               "slots": [{"time": "HH:MM", "duration": <minutes>}]}]}]}

  ``date_from``/``date_to``: the horizon's local dates, inclusive; what 32top holds for the
  account in them is replaced (a doctor not sent, or a date not listed, has no free slot there).
  ``branches`` are the ``branch`` objects leads carry (``id``, ``name``) with the branch's
  timezone. One entry of ``doctors`` per doctor **and branch** (``branch_id`` one of
  ``branches``; ``id`` our own doctor id, the same across branches; 32top matches its catalogue
  doctor by ``id`` once linked, else by ``surname`` within the branch); ``surname`` is the first
  word of ``full_name``. ``dates`` ascending, each within the horizon, no date twice; ``time`` the
  slot's start in the **branch's local time**, ascending, ``duration`` a positive number of
  minutes; a doctor's slots never overlap. No other keys. Answer ``{"data": {"doctors": n,
  "slots": n}}``; a payload against these rules is a 422 ``validation_error`` whose ``details`` name
  each offending field by its path (``doctors[2].dates[0].slots[1].time``).

Paging here: ``page`` 1, 2, … until ``meta.total_pages``, an empty page or a page shorter than
``per_page``; an ``id`` already yielded by an earlier page is left out (a full page of only those
means the service ignores ``page``: :class:`ServiceResponseError`); a lead the service sends outside
the ``created_*`` bounds asked is dropped with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import requests

from ident_hooks.base import ServiceHttpHook, error_member, raise_error_object, service_url
from ident_hooks.exchange import ServiceAuthError, ServiceResponseError, TransientServiceError, retry_after_seconds

DEFAULT_URL = "https://app.32top.ru/api/partner/v1"  # [ASSUMED]
DEFAULT_TIMEOUT_SECONDS = 45.0  # IDENT's default
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100  # [ASSUMED]
AUTH_CODES = frozenset({"unauthorized", "forbidden"})
RATE_LIMIT_CODE = "rate_limited"
LEAD_FIELDS: tuple[str, ...] = (
    "id",
    "created_at",
    "updated_at",
    "status",
    "source",
    "patient_name",
    "patient_phone",
    "patient_email",
    "doctor_surname",
    "appointment_start",
    "comment",
    "branch",
    "page_url",
)


def api_url(host: str | None, port: int | None = None) -> str:
    """The API base URL of a connection: the default when empty, https when no scheme, no trailing slash."""
    return service_url(host, port, DEFAULT_URL)


def wire_time(moment: datetime) -> str:
    """A ``created_from``/``created_to``/``updated_from`` value: ISO 8601 to the second, with its offset."""
    if moment.tzinfo is None:
        raise ValueError("32top filter dates must be timezone-aware")
    return datetime.fromisoformat(moment.isoformat()).replace(microsecond=0).isoformat()


def parse_wire_time(value: Any) -> datetime | None:
    """A lead's ``created_at``/``updated_at`` as an aware datetime; None if missing, unreadable or
    without the offset the contract promises."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class Top32Hook(ServiceHttpHook):
    """Reads 32top leads and pushes the free schedule through the assumed partner API (see the
    module docstring).

    Every request retries timeouts, connection errors, 5xx, 429 (after its ``Retry-After``) and
    unreadable bodies with exponential backoff (``request_attempts``, ``request_backoff_seconds``);
    fails at once with :class:`ServiceAuthError` on 401/403, quoting the service's message; raises
    :class:`ServiceResponseError` on any other error and on answers not in the agreed shape. Each
    HTTP request is handed to ``on_exchange``; the key is only in the Authorization header."""

    conn_name_attr = "top32_conn_id"
    default_conn_name = "top32_default"
    conn_type = "ident_top32"
    hook_name = "IDENT: 32top partner API (assumed contract)"

    MAX_PER_PAGE = MAX_PER_PAGE  # class attributes, so a test can lower them on one hook
    MAX_PAGES = 1000  # a guard against a service that never ends its pages

    DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
    SECRET_MISSING = "no API key: put the 32top partner API key in its password"
    JSON_SEPARATORS = (",", ":")
    JSON_CONTENT_TYPE = "application/json; charset=utf-8"
    api_url = staticmethod(api_url)

    def __init__(self, top32_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(top32_conn_id, **settings)

    def session_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    # -- one request --------------------------------------------------------------------------
    def request(
        self, path: str, query: dict[str, Any] | None = None, *, method: str = "GET", body: Any = None
    ) -> dict[str, Any]:
        """One call of the API (``body``, if any, sent as JSON), retrying transient faults; returns
        the whole answer object (``data``, and ``meta`` for lists). Raises as the class docstring says."""
        self._session_and_secret()  # the key is in the session's Authorization header
        pairs = [(name, str(value)) for name, value in (query or {}).items() if value is not None]
        what = f"{method} {path}"
        return self._call(
            what,
            self._prepare(method, path, body, query=urlencode(pairs)),
            parse=lambda response: self._answer_of(what, response),
            inspect_error=lambda response: raise_error_object(
                response, lambda error: self._error(what, error, response)
            ),
        )

    def _answer_of(self, what: str, response: requests.Response) -> dict[str, Any]:
        body = response.json()  # ValueError (a garbled body) is retried by timed_request
        if (error := error_member(body)) is not None:
            raise self._error(what, error, response)
        if not isinstance(body, dict) or "data" not in body:
            shape = type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)}"
            raise ServiceResponseError(f'32top {what}: expected {{"data": …}}, got {shape}')
        return body

    def _error(self, what: str, error: dict[str, Any], response: requests.Response) -> Exception:
        """The error envelope as an exception: by the HTTP status, else by the code."""
        code = str(error.get("code") or "no code")
        message = str(error.get("message") or "no message")
        details = error.get("details")
        if isinstance(details, dict) and details:
            message += " — " + "; ".join(f"{field}: {text}" for field, text in details.items())
        status = response.status_code
        quoted = f"{message} ({code}, HTTP {status})"
        if status in (401, 403) or code in AUTH_CODES:
            return ServiceAuthError(
                self._redact(f"32top refused {what}: {quoted}; check the API key in connection {self.top32_conn_id!r}")
            )
        if status == 429 or code == RATE_LIMIT_CODE:
            return TransientServiceError(
                self._redact(f"32top {what}: rate limited: {quoted}"), retry_after_seconds(response)
            )
        if status >= 500:
            return TransientServiceError(self._redact(f"32top {what}: {quoted}"))
        return ServiceResponseError(self._redact(f"32top rejected {what}: {quoted}"))

    # -- leads --------------------------------------------------------------------------------
    def _per_page(self, per_page: int) -> int:
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        if per_page > self.MAX_PER_PAGE:
            self.log.info("32top: per_page %d lowered to the assumed maximum %d", per_page, self.MAX_PER_PAGE)
            return self.MAX_PER_PAGE
        return per_page

    def iter_leads(
        self,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        *,
        updated_from: datetime | None = None,
        per_page: int = MAX_PER_PAGE,
    ) -> Iterator[list[dict[str, Any]]]:
        """Leads created in [``created_from``, ``created_to``] (and/or updated since
        ``updated_from``; aware datetimes, at least one bound), one list of lead dicts per page, as
        the service sent them and in its order (see the module docstring for the paging rules)."""
        if created_from is None and updated_from is None:
            raise ValueError("give created_from or updated_from")
        per_page = self._per_page(per_page)
        filters = {
            "created_from": wire_time(created_from) if created_from is not None else None,
            "created_to": wire_time(created_to) if created_to is not None else None,
            "updated_from": wire_time(updated_from) if updated_from is not None else None,
        }
        low = datetime.fromisoformat(filters["created_from"]) if created_from is not None else None
        high = datetime.fromisoformat(filters["created_to"]) if created_to is not None else None
        seen: set[str] = set()
        page = 1
        while True:
            answer = self.request("leads", {**filters, "page": page, "per_page": per_page})
            items, meta = self._items_and_meta(answer)
            fresh, repeated, outside = [], 0, 0
            for item in items:
                key = str(item.get("id"))
                if item.get("id") is not None:
                    if key in seen:
                        repeated += 1
                        continue
                    seen.add(key)
                created = parse_wire_time(item.get("created_at"))
                if created is not None and ((low and created < low) or (high and created > high)):
                    outside += 1
                    continue
                fresh.append(item)
            if repeated:
                self.log.info("32top GET leads page=%d: %d lead(s) already seen on an earlier page", page, repeated)
            if outside:
                self.log.warning(
                    "32top GET leads page=%d: %d lead(s) created outside %s .. %s dropped (the service ignores them?)",
                    page, outside, filters["created_from"], filters["created_to"],
                )  # fmt: skip
            if items and repeated == len(items) and len(items) >= per_page:
                raise ServiceResponseError(
                    f"32top GET leads returned only leads already seen for page={page}: the service ignores 'page'"
                )
            if fresh:
                yield fresh
            total_pages = _number(meta.get("total_pages"))
            if not items or len(items) < per_page or (total_pages is not None and page >= total_pages):
                return
            page += 1
            if page > self.MAX_PAGES:
                raise ServiceResponseError(f"32top GET leads: still no last page after {self.MAX_PAGES} pages")

    def _items_and_meta(self, answer: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        items = answer.get("data")
        if not isinstance(items, list):
            raise ServiceResponseError(f"32top GET leads: 'data' is {type(items).__name__}, not a list")
        bad = [item for item in items if not isinstance(item, dict)]
        if bad:
            raise ServiceResponseError(f"32top GET leads: {len(bad)} item(s) are not objects, e.g. {bad[0]!r}")
        meta = answer.get("meta") if isinstance(answer.get("meta"), dict) else {}
        return items, meta

    # -- schedule -----------------------------------------------------------------------------
    def put_schedule(self, snapshot: dict[str, Any]) -> dict[str, Any]:
        """``PUT schedule`` with the full snapshot; the answer's ``data`` (what 32top took)."""
        data = self.request("schedule", method="PUT", body=snapshot).get("data")
        if not isinstance(data, dict):
            raise ServiceResponseError(f"32top PUT schedule: 'data' is {type(data).__name__}, not an object")
        return data

    def me(self) -> dict[str, Any]:
        """``GET me``: the clinic account the key belongs to."""
        data = self.request("me").get("data")
        if not isinstance(data, dict):
            raise ServiceResponseError(f"32top GET me: 'data' is {type(data).__name__}, not an object")
        return data

    # -- UI -----------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button (IDENT's "Проверить"): ``GET me``."""
        try:
            account = self.me()
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, (
            f"32top partner API at {self.base_url} (assumed contract): clinic {account.get('name')!r} "
            f"(id {account.get('clinic_id')!r}, timezone {account.get('timezone')!r})"
        )
