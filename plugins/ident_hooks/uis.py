"""UIS / CoMagic Data API v2.0: call history (``get.calls_report``) and employee groups.

UIS (uiscom.ru) and CoMagic (comagic.ru) run one platform; only the host differs, and a token of
one does not work on the other. The hook speaks JSON-RPC 2.0 over POST.

Connection (``ident_uis``): host = the Data API URL with its version (empty =
``https://dataapi.uiscom.ru/v2.0``; CoMagic accounts use ``https://dataapi.comagic.ru/v2.0``; a host
without a scheme gets https), password = the access token. Extras: ``timeout``, ``verify``,
``proxies`` as for the HTTP provider; ``media_url``, a template with ``{communication_id}`` and
``{record_id}`` for recording links; ``timezone``, an IANA name that overrides the account's own
(only for when the account's ``timezone`` turns out not to be what the dates are in).

Wire facts relied on, with their certainty in the team's reference (``external-apis.md`` §1,
``ident-protocol.md`` §6.2). [DOC] = the vendor's docs; [CODE] = public client code only;
[UNCONFIRMED] = an assumption, kept in one place here so it can be corrected:

* [DOC] ``POST <https>://dataapi.<domain>/v2.0``, body ``{"jsonrpc":"2.0","id":…,"method":…,"params":…}``,
  ``Content-Type: application/json; charset=UTF-8``; no batches, no notifications (every call has an id).
* [DOC] The token travels in ``params.access_token``, never in a header.
* [DOC] Answers: ``result = {"data": …, "metadata": {"total_items", "limits": {day_limit, day_remaining,
  day_reset, minute_limit, minute_remaining, minute_reset}}}``; ``*_reset`` are seconds to the reset.
  On an error the metadata sits in ``error.data.metadata``.
* [DOC] Errors are told apart by ``error.data.mnemonic`` (the code is shared by many): -32001
  ``access_token_invalid``/``_expired``/``_blocked``, ``auth_error``; -32003 ``ip_not_whitelisted``,
  ``forbidden``; -32009 ``account_inactive``; -32029 ``limit_exceeded``; -32603 ``internal_error``;
  -32602 ``date_interval_limit_reached`` and the other parameter errors. When an error has no
  mnemonic, its code decides (-32001/-32003/-32009 auth, -32029 limit, -32603 internal).
* [UNCONFIRMED] The HTTP status of an error answer (assumed 200). A JSON-RPC error object is
  classified by its mnemonic whatever the status; other 401/403, 429, 5xx are handled as everywhere.
* [DOC] Dates are ``YYYY-MM-DD hh:mm:ss`` with no zone. [UNCONFIRMED] that the zone is the
  account's ``timezone`` from ``get.account`` (the only zone the API names); extra ``timezone`` overrides.
* [UNCONFIRMED] Whether ``date_till`` is inclusive. This hook takes half-open windows
  [date_from, date_till) and asks ``date_till`` = the last whole second before the window's end,
  which is right if the service includes ``date_till`` and loses only rows stamped exactly on that
  last second if it does not (times are whole seconds).
* [DOC] ``limit`` default 1000, max 10 000; ``offset`` max 100 000; a report period longer than
  3 months fails with ``date_interval_limit_reached`` (windows here are at most 90 days and at most
  3 calendar months in the account's zone). [CODE] Paging: ``offset += limit`` until the rows
  collected reach ``total_items``; past the offset cap the period is split.
* [DOC] Rate limits: points per minute and per day, 1 point a call, only successful calls count;
  the numbers are not published and are read from ``metadata.limits``. [CODE] Waiting
  ``minute_reset`` when the minute budget runs out (public Go client).
* [DOC] ``get.calls_report`` fields (``CALL_FIELDS``), sortable by ``start_time`` (``id`` is not
  sortable, so ties in ``start_time`` rely on the service's order); ``include_ongoing_calls``.
* [DOC for comagic, UNCONFIRMED for uiscom] Playback link
  ``https://app.<domain>/system/media/talk/{communication_id}/{record_id}/``.
* [DOC] ``get.offline_messages_report`` (site leads): the report parameters, ``MESSAGE_FIELDS``,
  sortable by ``date_time``; ``group_id``/``group_name`` is the group the visitor chose.
* [DOC] ``get.account`` answers ``data`` with the account (``name``, ``timezone``, …);
  ``get.group_employees`` takes no dates and pages like the reports.
"""

from __future__ import annotations

import calendar
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
import requests
from airflow.sdk.exceptions import AirflowException

from ident_hooks.base import ServiceHttpHook, raise_error_object, service_url
from ident_hooks.exchange import (
    SECRET_PARAMS,
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
)

DEFAULT_URL = "https://dataapi.uiscom.ru/v2.0"
DEFAULT_TIMEOUT_SECONDS = 60.0
WIRE_DATETIME = "%Y-%m-%d %H:%M:%S"
ONE_SECOND = timedelta(seconds=1)

AUTH_MNEMONICS = frozenset(
    {
        "access_token_invalid",
        "access_token_expired",
        "access_token_blocked",
        "auth_error",
        "ip_not_whitelisted",
        "forbidden",
        "account_inactive",
    }
)
AUTH_CODES = frozenset({-32001, -32003, -32009})
LIMIT_MNEMONIC, LIMIT_CODE = "limit_exceeded", -32029
INTERNAL_MNEMONIC, INTERNAL_CODE = "internal_error", -32603

# Connection extras that configure the hook; the HTTP provider would otherwise send them as headers.
HOOK_EXTRAS = ("media_url", "timezone")


def api_url(host: str | None, port: int | None = None) -> str:
    """The Data API URL of a connection: default UIS host, https when no scheme, no trailing slash."""
    return service_url(host, port, DEFAULT_URL)


def wire_datetime(moment: datetime, tz: ZoneInfo) -> str:
    """UIS's wire format: the account's local wall time, seconds precision, no zone."""
    if moment.tzinfo is None:
        raise ValueError("UIS dates must be timezone-aware")
    return moment.astimezone(tz).strftime(WIRE_DATETIME)


def _ceil_second(moment: datetime) -> datetime:
    return moment if not moment.microsecond else moment.replace(microsecond=0) + ONE_SECOND


def _add_months(moment: datetime, months: int) -> datetime:
    """The same wall time ``months`` later (the day clamped to the month's last), same zone."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    return moment.replace(year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1]))


def _decode(body: bytes) -> Any:
    """A JSON body (msgspec: a page of 10 000 calls decodes in two thirds of json's time);
    an unreadable one raises ValueError, as json does."""
    return msgspec.json.decode(body)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _describe_value(value: Any) -> str | None:
    """A parameter as the exchange log shows it: scalars only (fields, sort and filter are left out)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


class _LimitExceeded(AirflowException):
    """``limit_exceeded``: not a failed attempt; :meth:`UisHook.call` waits for the reset and goes on."""

    def __init__(self, message: str, kind: str, reset_seconds: float | None):
        super().__init__(message)
        self.kind = kind
        self.reset_seconds = reset_seconds


def _limit_reset(data: dict[str, Any]) -> tuple[str, float | None]:
    """Which budget ran out and the seconds until it resets, from ``error.data``."""
    metadata = data.get("metadata") if isinstance(data.get("metadata"), dict) else {}
    limits = metadata.get("limits") if isinstance(metadata.get("limits"), dict) else {}
    for kind in ("day", "minute"):  # the day budget first: a minute reset does not help it
        reset = _number(limits.get(f"{kind}_reset"))
        if _number(limits.get(f"{kind}_remaining")) == 0 and reset is not None:
            return kind, reset
    params = data.get("params") if isinstance(data.get("params"), dict) else {}
    kind = str(params.get("limit_type") or "")
    if kind in ("day", "minute") and _number(limits.get(f"{kind}_reset")) is not None:
        return kind, _number(limits.get(f"{kind}_reset"))
    if _number(limits.get("minute_reset")) is not None:
        return "minute", _number(limits.get("minute_reset"))
    return kind or "unknown", None


class UisHook(ServiceHttpHook):
    """Reads call history and employee groups from the UIS / CoMagic Data API v2.0.

    Every call retries timeouts, connection errors, 5xx, 429, unreadable bodies and
    ``internal_error`` with exponential backoff (``request_attempts``, ``request_backoff_seconds``);
    waits out ``limit_exceeded`` for the reset the service gives (up to ``max_limit_wait_seconds``
    in all for one call); fails at once with :class:`ServiceAuthError` on token, IP, permission and
    account errors; and raises :class:`ServiceResponseError` for other refusals. Each HTTP request
    is handed to ``on_exchange`` as an :class:`~ident_hooks.exchange.Exchange` whose URL describes
    the call without the token.
    """

    conn_name_attr = "uis_conn_id"
    default_conn_name = "uis_default"
    conn_type = "ident_uis"
    hook_name = "IDENT: UIS / CoMagic Data API"

    # The service's caps (class attributes, so a test can make them small on one hook).
    MAX_PERIOD_DAYS = 90
    MAX_PERIOD_MONTHS = 3
    MAX_LIMIT = 10_000
    MAX_OFFSET = 100_000
    # Waits when a limit error names no reset, and the least wait (a reset of 0 is rounded down).
    LIMIT_WAIT_FALLBACK_SECONDS = 60.0
    MIN_LIMIT_WAIT_SECONDS = 1.0

    CALL_FIELDS: tuple[str, ...] = (
        "id",
        "start_time",
        "finish_time",
        "finish_reason",
        "direction",
        "is_lost",
        "contact_phone_number",
        "virtual_phone_number",
        "communication_id",
        "wait_duration",
        "total_wait_duration",
        "talk_duration",
        "clean_talk_duration",
        "total_duration",
        "call_records",
        "full_record_file_link",
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
        "referrer",
        "entrance_page",
        "last_answered_employee_id",
        "last_answered_employee_full_name",
        "scenario_id",
        "scenario_name",
        "source",
    )

    # [DOC] get.offline_messages_report fields (reference §1.4); the visitor's phone may be a number.
    MESSAGE_FIELDS: tuple[str, ...] = (
        "id", "date_time", "text", "status", "form_type", "form_name", "visitor_name", "visitor_phone_number",
        "visitor_email", "group_id", "group_name", "site_id", "campaign_id", "communication_id", "utm_source",
        "utm_medium", "utm_campaign", "utm_term", "utm_content", "referrer", "communication_page_url",
    )  # fmt: skip

    HTTP_METHOD = "POST"
    DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
    SECRET_MISSING = "no access token: put the Data API key in its password"
    HOOK_EXTRAS = HOOK_EXTRAS
    api_url = staticmethod(api_url)

    def __init__(
        self, uis_conn_id: str = default_conn_name, *, max_limit_wait_seconds: float = 900.0, **settings: Any
    ) -> None:
        super().__init__(uis_conn_id, **settings)  # the token travels in params.access_token
        self.max_limit_wait_seconds = max_limit_wait_seconds
        self.sleep: Callable[[float], None] = time.sleep
        self._account: dict[str, Any] | None = None
        self._tz: ZoneInfo | None = None
        self._media: str | None = None  # the recording link template (record_url)
        self._resume_at: float | None = None  # monotonic time before which no call is sent
        self._resume_reason = ""

    # -- one JSON-RPC call --------------------------------------------------------------------
    def describe(self, method: str, params: dict[str, Any] | None = None) -> str:
        """The call as the exchange log and messages show it: the API URL with the method and the
        scalar parameters as a query string, never the token."""
        self._load_connection()
        pairs = [("method", method)]
        for name, value in (params or {}).items():
            shown = _describe_value(value)
            if shown is not None and name.lower() not in SECRET_PARAMS:
                pairs.append((name, shown))
        return f"{self.base_url}?{urlencode(pairs, safe=':')}"

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """One JSON-RPC call; returns its ``result`` (``{"data": …, "metadata": …}``).

        Raises :class:`ServiceAuthError` at once for token/IP/permission/account errors,
        :class:`TransientServiceError` when transient faults outlast the attempts or a limit resets
        later than ``max_limit_wait_seconds`` (``retry_after`` set), :class:`ServiceResponseError`
        for other refusals (the service's message, mnemonic and field quoted)."""
        session, token = self._session_and_secret()
        params = {name: value for name, value in (params or {}).items() if name != "access_token"}
        describe = self.describe(method, params)
        waited = 0.0
        while True:
            self._pause_if_asked(method)
            try:
                result = call_with_retries(
                    lambda: self._send(session, token, method, params, describe),
                    describe=f"{self.uis_conn_id} {method}",
                    attempts=self.request_attempts,
                    backoff_seconds=self.request_backoff_seconds,
                )
            except _LimitExceeded as exc:
                reset = exc.reset_seconds if exc.reset_seconds is not None else self.LIMIT_WAIT_FALLBACK_SECONDS
                wait = max(reset, self.MIN_LIMIT_WAIT_SECONDS)
                if waited + wait > self.max_limit_wait_seconds:
                    raise TransientServiceError(
                        f"{exc}; the {exc.kind} budget resets in {wait:.0f} s, longer than this hook waits "
                        f"(max_limit_wait_seconds={self.max_limit_wait_seconds:g}, already waited {waited:.0f} s): "
                        "the task's retry takes over",
                        retry_after=wait,
                    ) from None
                self.log.warning(
                    "UIS %s limit exhausted on %s: waiting %.1f s for it to reset (%s)", exc.kind, method, wait, exc
                )
                self.sleep(wait)
                waited += wait
                continue
            self._remember_limits(result)
            return result

    def _send(self, session: requests.Session, token: str, method: str, params: dict[str, Any], describe: str):
        request_id = uuid.uuid4().hex[:16]  # one id per HTTP request, retries included
        body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "access_token": token}}
        prepared = session.prepare_request(
            requests.Request(
                "POST",
                self.base_url,
                data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                headers={"Content-Type": "application/json; charset=UTF-8"},
            )
        )
        # A JSON-RPC error object is classified by its mnemonic whatever the HTTP status.
        return self._attempt(
            prepared,
            parse=lambda response: self._result_of(method, request_id, _decode(response.content)),
            describe_url=describe,
            inspect_error=lambda response: raise_error_object(response, lambda error: self._rpc_error(method, error)),
        )

    def _result_of(self, method: str, request_id: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ServiceResponseError(f"UIS {method}: expected a JSON-RPC object, got {type(body).__name__}")
        if body.get("error") is not None:
            raise self._rpc_error(method, body["error"])
        result = body.get("result")
        if not isinstance(result, dict):
            raise ServiceResponseError(f"UIS {method}: the answer has neither a result object nor an error")
        if body.get("id") is not None and str(body["id"]) != request_id:
            raise ServiceResponseError(f"UIS {method}: answer to request {body['id']!r}, not to {request_id!r}")
        return result

    def _rpc_error(self, method: str, error: Any) -> AirflowException:
        if not isinstance(error, dict):
            return ServiceResponseError(self._redact(f"UIS {method}: unreadable error object {error!r}"))
        data = error.get("data") if isinstance(error.get("data"), dict) else {}
        code = error.get("code")
        mnemonic = data.get("mnemonic")
        message = str(error.get("message") or "no message")
        quoted = f"{message} ({mnemonic or 'no mnemonic'}, code {code})"
        if mnemonic in AUTH_MNEMONICS or (mnemonic not in (LIMIT_MNEMONIC, INTERNAL_MNEMONIC) and code in AUTH_CODES):
            return ServiceAuthError(self._redact(f"UIS refused {method}: {quoted}"))
        if mnemonic == LIMIT_MNEMONIC or (not mnemonic and code == LIMIT_CODE):
            kind, reset = _limit_reset(data)
            return _LimitExceeded(self._redact(f"UIS {method}: {quoted}"), kind, reset)
        if mnemonic == INTERNAL_MNEMONIC or (not mnemonic and code == INTERNAL_CODE):
            return TransientServiceError(self._redact(f"UIS {method}: {quoted}"))
        details = [f"mnemonic {mnemonic or '-'}", f"code {code}"]
        if data.get("field"):
            details.append(f"field {data['field']}")
            if data.get("value") is not None and str(data["field"]).lower() not in SECRET_PARAMS:
                details.append(f"value {data['value']!r}")
        return ServiceResponseError(self._redact(f"UIS rejected {method}: {message} ({', '.join(details)})"))

    def _remember_limits(self, result: dict[str, Any]) -> None:
        """After a call that used the minute budget up, the next call waits ``minute_reset``."""
        metadata = result.get("metadata") if isinstance(result.get("metadata"), dict) else {}
        limits = metadata.get("limits") if isinstance(metadata.get("limits"), dict) else {}
        reset = _number(limits.get("minute_reset"))
        if _number(limits.get("minute_remaining")) == 0 and reset:
            wait = min(reset, self.max_limit_wait_seconds)
            self._resume_at = time.monotonic() + wait
            self._resume_reason = f"the minute budget ({limits.get('minute_limit')} calls) is used up"

    def _pause_if_asked(self, method: str) -> None:
        if self._resume_at is None:
            return
        delay, self._resume_at = self._resume_at - time.monotonic(), None
        if delay > 0:
            self.log.info("UIS: %s; waiting %.1f s for it to reset before %s", self._resume_reason, delay, method)
            self.sleep(delay)

    # -- account ------------------------------------------------------------------------------
    def account(self) -> dict[str, Any]:
        """The account (``get.account``'s first item): ``name``, ``timezone``, …; asked once per hook."""
        if self._account is None:
            data = self.call("get.account", {}).get("data")
            if isinstance(data, list):
                data = data[0] if data else None
            if not isinstance(data, dict):
                raise ServiceResponseError("UIS get.account: no account in the answer")
            self._account = data
        return self._account

    def timezone(self) -> ZoneInfo:
        """The zone every UIS date is in: the connection's ``timezone`` extra, else the account's."""
        if self._tz is None:
            self._load_connection()
            name = self._extras.get("timezone") or self.account().get("timezone")
            try:
                self._tz = ZoneInfo(str(name))
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ServiceResponseError(
                    f"UIS account timezone {name!r} is not an IANA zone name ({exc}); "
                    "set the connection extra 'timezone' to the zone its dates are in"
                ) from None
        return self._tz

    # -- reports ------------------------------------------------------------------------------
    def iter_report(
        self,
        method: str,
        date_from: datetime,
        date_till: datetime,
        *,
        fields: Sequence[str],
        limit: int = 1000,
        params: dict[str, Any] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """Page through a report method over the half-open window [date_from, date_till).

        Aware datetimes in; on the wire they become the account's local time, ``date_from``
        rounded up to a whole second and ``date_till`` the last whole second before the window's
        end (so consecutive windows neither overlap nor leave a gap). The window is cut into
        periods of at most ``MAX_PERIOD_DAYS`` days (and ``MAX_PERIOD_MONTHS`` calendar months);
        each period is paged with ``offset += limit`` until the rows collected reach
        ``metadata.total_items`` (or a page is empty). A period with more rows than offsets up to
        ``MAX_OFFSET`` reach is split in two halves by time, recursively, so no request asks an
        offset above ``MAX_OFFSET``. ``limit`` above ``MAX_LIMIT`` is lowered to it.

        Yields one list per page, in the order fetched; ``params`` (filter, sort, …) go to every
        request as they are."""
        for name, moment in (("date_from", date_from), ("date_till", date_till)):
            if moment.tzinfo is None:
                raise ValueError(f"{name} must be timezone-aware")
        if date_till < date_from:
            raise ValueError(f"date_till {date_till} is before date_from {date_from}")
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if limit > self.MAX_LIMIT:
            self.log.warning("UIS %s: limit %d lowered to the service's maximum %d", method, limit, self.MAX_LIMIT)
            limit = self.MAX_LIMIT
        tz = self.timezone()
        extra = dict(params or {})
        extra["fields"] = list(fields)
        start, end = _ceil_second(date_from), _ceil_second(date_till)
        while start < end:
            period_end = min(
                end,
                start + timedelta(days=self.MAX_PERIOD_DAYS),
                _add_months(start.astimezone(tz), self.MAX_PERIOD_MONTHS),
            )
            yield from self._iter_period(method, start, period_end, tz, limit, extra)
            start = period_end

    def _reachable_rows(self, limit: int) -> int:
        return (self.MAX_OFFSET // limit + 1) * limit

    def _iter_period(
        self, method: str, start: datetime, end: datetime, tz: ZoneInfo, limit: int, extra: dict[str, Any]
    ) -> Iterator[list[dict[str, Any]]]:
        dates = {"date_from": wire_datetime(start, tz), "date_till": wire_datetime(end - ONE_SECOND, tz)}
        reachable = self._reachable_rows(limit)
        offset = collected = 0
        while True:
            if offset > self.MAX_OFFSET:
                raise TransientServiceError(
                    f"UIS {method} {dates['date_from']}..{dates['date_till']}: more rows appeared while paging "
                    f"than offsets up to {self.MAX_OFFSET} reach; a new attempt splits the period"
                )
            result = self.call(method, {**dates, "offset": offset, "limit": limit, **extra})
            rows = result.get("data")
            if not isinstance(rows, list):
                raise ServiceResponseError(f"UIS {method}: 'data' is {type(rows).__name__}, not a list")
            metadata = result.get("metadata") if isinstance(result.get("metadata"), dict) else {}
            total = _number(metadata.get("total_items"))
            if offset == 0 and total is not None and total > reachable:
                if end - start <= ONE_SECOND:
                    raise ServiceResponseError(
                        f"UIS {method}: {total:.0f} rows at {dates['date_from']}, more than offset paging "
                        f"reaches ({reachable}), and one second cannot be split"
                    )
                middle = start + timedelta(seconds=int((end - start).total_seconds()) // 2)
                self.log.info(
                    "UIS %s %s..%s has %d rows, more than offsets up to %d reach: splitting it at %s",
                    method,
                    dates["date_from"],
                    dates["date_till"],
                    total,
                    self.MAX_OFFSET,
                    wire_datetime(middle, tz),
                )
                yield from self._iter_period(method, start, middle, tz, limit, extra)
                yield from self._iter_period(method, middle, end, tz, limit, extra)
                return
            if not rows:
                return
            yield rows
            collected += len(rows)
            if (collected >= total) if total is not None else len(rows) < limit:
                return
            offset += limit

    def iter_calls(
        self, date_from: datetime, date_till: datetime, *, limit: int = 1000, include_ongoing: bool = False
    ) -> Iterator[list[dict[str, Any]]]:
        """``get.calls_report`` over [date_from, date_till) with ``CALL_FIELDS``, by start_time
        ascending, one list per page (see :meth:`iter_report`); ``include_ongoing`` adds calls still
        in progress (their ``finish_time`` is null)."""
        params: dict[str, Any] = {"sort": [{"field": "start_time", "order": "asc"}]}
        if include_ongoing:
            params["include_ongoing_calls"] = True
        return self.iter_report(
            "get.calls_report", date_from, date_till, fields=self.CALL_FIELDS, limit=limit, params=params
        )

    def iter_offline_messages(
        self, date_from: datetime, date_till: datetime, *, limit: int = 1000
    ) -> Iterator[list[dict[str, Any]]]:
        """Site leads (``get.offline_messages_report``) over [date_from, date_till) with
        ``MESSAGE_FIELDS``, by date_time ascending, one list per page (see :meth:`iter_report`)."""
        params = {"sort": [{"field": "date_time", "order": "asc"}]}
        return self.iter_report(
            "get.offline_messages_report", date_from, date_till, fields=self.MESSAGE_FIELDS, limit=limit, params=params
        )

    def group_employees(self, limit: int = 1000) -> list[dict[str, Any]]:
        """Every employee group (``get.group_employees``: id, name, members, …), all pages."""
        limit = max(1, min(limit, self.MAX_LIMIT))
        groups: list[dict[str, Any]] = []
        offset = 0
        while offset <= self.MAX_OFFSET:
            result = self.call("get.group_employees", {"offset": offset, "limit": limit})
            rows = result.get("data")
            if not isinstance(rows, list):
                raise ServiceResponseError(f"UIS get.group_employees: 'data' is {type(rows).__name__}, not a list")
            groups.extend(rows)
            metadata = result.get("metadata") if isinstance(result.get("metadata"), dict) else {}
            total = _number(metadata.get("total_items"))
            if not rows or (len(groups) >= total if total is not None else len(rows) < limit):
                break
            offset += limit
        return groups

    # -- recordings -----------------------------------------------------------------------------
    def record_url(self, communication_id: Any, record_id: Any) -> str:
        """The playback link of a call recording: ``https://app.<domain>/system/media/talk/{communication_id}/
        {record_id}/`` for an API at ``dataapi.<domain>``; for any other host (an emulator) the API URL
        without its ``/vX.Y`` plus the same path; the connection extra ``media_url`` (a template with
        ``{communication_id}`` and ``{record_id}``) overrides both."""
        if communication_id in (None, "") or record_id in (None, ""):
            raise ValueError(f"a recording link needs communication_id and record_id, got {communication_id!r}")
        template = self._media_template()
        try:
            return template.format(communication_id=communication_id, record_id=record_id)
        except (AttributeError, KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"connection extra media_url {template!r} is not a usable template: {exc}") from None

    def _media_template(self) -> str:
        """The link template of this connection, worked out once (a year of calls asks it ~100 000 times)."""
        if self._media is None:
            self._load_connection()
            template = self._extras.get("media_url")
            if not template:
                parts = urlsplit(self.base_url)
                host = parts.hostname or ""
                if host.startswith("dataapi."):
                    root = f"https://app.{host.removeprefix('dataapi.')}"
                else:
                    root = urlunsplit((parts.scheme, parts.netloc, re.sub(r"/v\d+(?:\.\d+)*$", "", parts.path), "", ""))
                template = (
                    root.replace("{", "{{").replace("}", "}}") + "/system/media/talk/{communication_id}/{record_id}/"
                )
            self._media = str(template)
        return self._media

    # -- UI ---------------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button: ``get.account``, reporting the account's name and timezone."""
        try:
            account = self.account()
            tz = self.timezone()
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, f"UIS account {account.get('name')!r} (app_id {account.get('app_id')}), timezone {tz.key}"
