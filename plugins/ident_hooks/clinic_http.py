"""The clinic's own service over HTTP ("Вариант с HTTP"), as IDENT calls it.

IDENT is the client: it GETs ``GetTickets`` (leads), ``GetFinishedCalls`` and ``GetOngoingCalls``
(calls) with ``dateTimeFrom``/``dateTimeTo`` (ISO 8601 with offset) and ``limit``/``offset`` paging
until a short page, sending the key in the ``IDENT-Integration-Key`` header. 401/403 carry a
plain-text reason. (Reference §2.)

IDENT also POSTs the schedule to ``PostTimeTable`` (reference §2.6): ``{"Doctors": [{"Id", "Name"}],
"Branches": [{"Id", "Name"}], "Intervals": [{"DoctorId", "BranchId", "StartDateTime",
"LengthInMinutes", "IsBusy"}]}``; 200 is success and its body is ignored, any other status an error
whose text is quoted.

Connection: host = the service's base URL (``https://clinic.example.ru/ident``), password = the
integration key. Extras ``timeout``, ``verify`` and ``proxies`` work as for the HTTP provider;
``compress`` (``true``/``false``, default false) sends POST bodies gzip-compressed with
``Content-Encoding: gzip`` (the reference has no word on compression: a service must ask for it).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from airflow.providers.http.hooks.http import HttpHook

from ident_hooks.exchange import (
    ExchangeRecorder,
    ServiceResponseError,
    call_with_retries,
    timed_request,
)

KEY_HEADER = "IDENT-Integration-Key"
DEFAULT_TIMEOUT_SECONDS = 45.0
COMPRESS_EXTRA = "compress"  # the connection extra that asks for gzip-compressed POST bodies


def _flag(value) -> bool:
    """An extra's boolean: JSON true/false, or the words a form field gives (true/1/yes/on)."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    return bool(value)


def ident_datetime(moment: datetime) -> str:
    """IDENT's wire format: seconds precision with a colon offset, e.g. 2025-01-05T14:45:37+03:00."""
    if moment.tzinfo is None:
        raise ValueError("IDENT dates must be timezone-aware")
    return moment.replace(microsecond=0).isoformat()


def _json_array(response: requests.Response) -> list[Any]:
    body = response.json()
    if not isinstance(body, list):
        raise ServiceResponseError(f"expected a JSON array, got {type(body).__name__}")
    return body


class ClinicHttpHook(HttpHook):
    """Reads leads and calls from a clinic's own HTTP service that speaks IDENT's protocol, and
    posts it the schedule (``PostTimeTable``)."""

    conn_name_attr = "clinic_http_conn_id"
    default_conn_name = "clinic_http_default"
    conn_type = "ident_clinic_http"
    hook_name = "IDENT: clinic's own HTTP service"

    def __init__(
        self,
        clinic_http_conn_id: str = default_conn_name,
        *,
        timeout_seconds: float | None = None,
        request_attempts: int = 4,
        request_backoff_seconds: float = 2.0,
        on_exchange: ExchangeRecorder | None = None,
    ) -> None:
        super().__init__(method="GET", http_conn_id=clinic_http_conn_id)
        self.clinic_http_conn_id = clinic_http_conn_id
        self.timeout_seconds = timeout_seconds
        self.request_attempts = request_attempts
        self.request_backoff_seconds = request_backoff_seconds
        self.on_exchange = on_exchange
        self._session: requests.Session | None = None
        self._key: str | None = None
        self.compress = False  # from the connection's ``compress`` extra, read with the session

    def _extract_auth(self, connection):  # the key travels in a header, never as basic auth
        return None

    def _session_and_key(self) -> tuple[requests.Session, str | None]:
        if self._session is None:
            connection = self.get_connection(self.clinic_http_conn_id)
            self._key = connection.password
            headers = {"Accept": "application/json"}
            if self._key:
                headers[KEY_HEADER] = self._key
            self._session = self.get_conn(headers=headers)
            # A hook setting, not a header (the HTTP provider would send every unknown extra as one).
            self.compress = _flag(self._session.headers.pop(COMPRESS_EXTRA, False))
            if self.timeout_seconds is None:
                self.timeout_seconds = float(self.merged_extra.get("timeout") or DEFAULT_TIMEOUT_SECONDS)
        return self._session, self._key

    def get_json(self, method: str, params: dict[str, Any]) -> list[Any]:
        """GET one IDENT method, retrying transient faults; returns the JSON array it answered."""
        session, key = self._session_and_key()
        prepared = session.prepare_request(requests.Request("GET", self.url_from_endpoint(method), params=params))
        return self._send(session, key, method, prepared, parse=_json_array)

    def post_json(self, method: str, body: Any) -> int:
        """POST ``body`` as JSON to one IDENT method (gzip-compressed when the connection's
        ``compress`` extra asks), retrying transient faults; returns the bytes sent. The answer's
        body is ignored on 200, as IDENT ignores it; 401/403 fail at once, any other 4xx raises
        :class:`ServiceResponseError` quoting the service's text."""
        session, key = self._session_and_key()
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if self.compress:
            data = gzip.compress(data, mtime=0)
            headers["Content-Encoding"] = "gzip"
        prepared = session.prepare_request(
            requests.Request("POST", self.url_from_endpoint(method), data=data, headers=headers)
        )
        self._send(session, key, method, prepared)
        return len(data)

    def _send(
        self,
        session: requests.Session,
        key: str | None,
        method: str,
        prepared: requests.PreparedRequest,
        parse: Callable[[requests.Response], Any] = lambda response: response,
    ) -> Any:
        """``prepared`` sent on the session (its proxies and TLS settings), retrying transient
        faults, recorded in the exchange log without the key; what ``parse`` makes of the answer."""
        send_kwargs = session.merge_environment_settings(
            prepared.url, proxies=session.proxies, stream=False, verify=session.verify, cert=session.cert
        )
        return call_with_retries(
            lambda: timed_request(
                session,
                prepared,
                timeout=self.timeout_seconds,
                record=self.on_exchange,
                secrets=(key,),
                parse=parse,
                send_kwargs=send_kwargs,
            ),
            describe=f"{self.clinic_http_conn_id} {method}",
            attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )

    def post_timetable(self, timetable: dict[str, Any]) -> int:
        """``PostTimeTable`` (reference §2.6): Doctors, Branches and Intervals; the bytes sent."""
        return self.post_json("PostTimeTable", timetable)

    def iter_pages(self, method: str, date_from: datetime, date_to: datetime, page_size: int) -> Iterator[list[Any]]:
        """Page through ``method`` with limit/offset until a page shorter than ``page_size``."""
        offset = 0
        previous_first: Any = None
        while True:
            page = self.get_json(
                method,
                {
                    "dateTimeFrom": ident_datetime(date_from),
                    "dateTimeTo": ident_datetime(date_to),
                    "limit": page_size,
                    "offset": offset,
                },
            )
            if page and offset and page[0] == previous_first:
                raise ServiceResponseError(
                    f"{method} returned the same page for offset {offset} as before: the service ignores 'offset'"
                )
            yield page
            if len(page) < page_size:
                return
            previous_first = page[0]  # a full page is never empty
            offset += page_size

    def get_tickets(self, date_from: datetime, date_to: datetime, page_size: int = 500) -> list[Any]:
        """All leads whose DateAndTime falls in [date_from, date_to], as the service sent them."""
        records: list[Any] = []
        for page in self.iter_pages("GetTickets", date_from, date_to, page_size):
            records.extend(page)
            self.log.info("GetTickets: %d records so far", len(records))
        return records

    def iter_finished_calls(self, date_from: datetime, date_to: datetime, page_size: int = 500) -> Iterator[list[Any]]:
        """Finished calls (``GetFinishedCalls``) in [date_from, date_to], one list per page, paged
        like GetTickets."""
        return self.iter_pages("GetFinishedCalls", date_from, date_to, page_size)

    def get_ongoing_calls(self, date_from: datetime, date_to: datetime, page_size: int = 500) -> list[Any]:
        """Calls still in progress (``GetOngoingCalls``), same parameters and paging, all pages."""
        records: list[Any] = []
        for page in self.iter_pages("GetOngoingCalls", date_from, date_to, page_size):
            records.extend(page)
        return records

    def test_connection(self) -> tuple[bool, str]:
        """IDENT's "Проверить": ask for the last hour's leads, one record at most."""
        try:
            now = datetime.now(UTC)
            page = self.get_json(
                "GetTickets",
                {
                    "dateTimeFrom": ident_datetime(now - timedelta(hours=1)),
                    "dateTimeTo": ident_datetime(now),
                    "limit": 1,
                    "offset": 0,
                },
            )
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, f"GetTickets answered with {len(page)} lead(s) for the last hour"
