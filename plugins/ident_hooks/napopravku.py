"""NaPopravku RTA API: appointments (IDENT's leads from napopravku.ru) and their acknowledgement;
the clinic's schedule (clinics, doctors, free slots) pushed to it.

NaPopravku books patients into the slots the clinic publishes and keeps each booking as an
"appointment" until the clinic's MIS marks it received; one left unacknowledged is cancelled by
the service 10 minutes after its creation. So the lead import pulls ``GET appointments`` with
``is_received`` false every couple of minutes and answers each one with
``POST appointments/set-received`` (``success`` false with a reason when it could not be booked).

Connection (``ident_napopravku``): host = the API base URL including ``/api/v1`` (empty =
``https://rta-api.napopravku.ru/api/v1``; no scheme = https), password = the Bearer token. Extras
``timeout``, ``verify`` and ``proxies`` work as for the HTTP provider.

Wire facts pinned from NaPopravku's own public PHP client, ``napopravku/rta-api-service-client``
at commit ``5c860f272412bb60298bc0d3d19ddc90116280f6`` (2025-04-08; ``composer.json`` requires
``guzzlehttp/guzzle ^7.2``). [CLIENT] = read in that client; [GUZZLE] = what Guzzle 7 does with
what the client hands it; [ASSUMED] = not stated anywhere public, kept here in one place:

* [CLIENT] ``src/Remote/HttpClient.php``: base ``https://rta-api.napopravku.ru/api/v1/``, headers
  ``Accept: application/json`` and ``Authorization: Bearer <token>`` on every request; GET sends its
  DTO as ``RequestOptions::QUERY``, POST as ``RequestOptions::JSON``. A success body is
  JSON-decoded and its ``result`` member returned (``[...]['result']``). Errors: 401 →
  ``RtaApiAuthException``, 404 → ``RtaApiNotFoundException``, 422 → ``RtaApiValidationException``,
  each with the body's ``message`` (422 also its ``errors``, Laravel's ``{field: [messages]}``);
  any other status or a connect failure → ``RtaApiRemoteException``. The client never retries.
* [CLIENT] ``src/RemoteRtaApiClient.php``: ``GET appointments``, ``POST appointments/set-received``,
  ``GET clinics``, ``POST clinics``, ``POST doctors``, ``POST slots`` (and the services and
  ``GET`` doctors/slots endpoints this hook does not use).
* [CLIENT] ``src/DTOs/Common/AbstractDTO.php``: ``toArray()`` turns property names to snake_case,
  nested DTOs to nested arrays and keeps null properties. [GUZZLE] the query array goes through
  ``http_build_query($q, '', '&', PHP_QUERY_RFC3986)``, hence on the wire: booleans as ``1``/``0``
  (never ``true``/``false``), null members left out, nested members as ``paging[page]=1``, lists
  as ``uuids[0]=…&uuids[1]=…``, brackets percent-encoded (``paging%5Bpage%5D``), spaces as ``%20``.
  :func:`php_query` reproduces exactly that, in the DTOs' property order.
* [CLIENT] ``src/DTOs/Appointment/Request/AppointmentListDTO.php``: ``paging``, ``sorting``,
  ``mis_clinic_id``, ``uuids``, ``from``, ``to``, ``is_received``, ``is_cancelled``;
  ``src/DTOs/Common/PagingDTO.php``: ``page`` (default 1), ``per_page`` (default 10,
  ``MAX_PER_PAGE`` 100); ``src/DTOs/Common/SortingDTO.php``: ``sort_by``, ``sort_dir`` ``asc|desc``,
  both null by default (so nothing is sent); ``src/DTOs/Clinic/Request/ClinicListDTO.php``: paging,
  sorting, ``with_doctors`` (default true), ``without_last_activity`` (default false).
* [CLIENT] ``from``/``to`` are plain strings since commit ``5e6aa0e`` (2025-01-22, "fix from and to
  params"; before, Carbon values became ``toISOString(true)``); README (2025-04): "our API works in
  UTC". [ASSUMED] the format: this hook sends ``YYYY-MM-DD HH:MM:SS`` in UTC, and that the filter
  applies to ``created_at``.
* [CLIENT] ``src/DTOs/Appointment/Request/AppointmentReceiveDTO.php``: body
  ``{"appointment_uuid": …, "message": …, "success": …}`` (``message``/``success`` since 2024-07,
  commit ``022f915``); a null message is sent as ``null``. The answer's ``result`` is ignored.
  [ASSUMED] a message longer than 255 characters is refused, so it is cut to 255 here.
* [CLIENT] ``src/DTOs/Appointment/Result/AppointmentListResultDTO.php`` and
  ``src/DTOs/Common/ListMetaDTO.php``: a list answer is ``{"result": {"items": [...], "meta":
  {"total", "per_page", "page", "from", "to", "last_page"}}}`` (``from``/``to`` nullable ints: the
  positions of the page's first and last item, Laravel's paginator).
* [CLIENT] ``src/DTOs/Appointment/Result/AppointmentResultDTO.php``: an appointment's fields (see
  :data:`APPOINTMENT_FIELDS`); ``clinic`` = ``{id, name, comment, last_activity_at,
  mis_clinic_id}``, ``doctor`` = ``{id, name, comment, last_activity_at, mis_doctor_id}``
  (``ShortDTO``); all date-times are typed plain strings. [ASSUMED] their format: ISO 8601 (with
  ``Z`` or an offset) or ``YYYY-MM-DD HH:MM:SS``; a time without a zone is UTC (the README's
  statement) — :func:`parse_wire_time` is the one place that decides it.
* [ASSUMED] 403 is an auth failure like 401 (the client does not name it); 429 and 5xx are
  transient here (the client does not retry at all).
* Paging here: ``paging[page]`` 1, 2, … until ``meta.last_page`` (or ``meta.total`` items, or an
  empty page). The unreceived set shrinks while the caller acknowledges it, so
  :meth:`NaPopravkuHook.iter_unreceived` reads every page before it yields the first one (the set
  is small: 10 minutes of bookings), and drops an item it already has (by ``uuid``).

**Schedule** (the free-slot export, ``services/napopravku.py`` ``sources["schedule"]``), from the
same client at the same commit:

* [CLIENT] ``POST clinics`` (``ClinicListUpdateDTO`` / ``ClinicUpdateDTO``): ``{"clinics":
  [{"mis_clinic_id": str, "name": str, "comment": str|null}]}`` → ``result`` ``{"created": int,
  "updated": int}`` (``ClinicListUpdateResultDTO``). An upsert by ``mis_clinic_id``.
* [CLIENT] ``POST doctors`` (``DoctorListUpdateDTO`` / ``DoctorUpdateDTO``): ``{"doctors":
  [{"mis_doctor_id": str, "name": str, "comment": str|null, "mis_clinic_ids": [...]}]}`` →
  ``result`` ``{"created", "updated", "matched", "not_matched"}`` (``DoctorListUpdateResultDTO``;
  ``matched``/``not_matched``: NaPopravku's own matching of MIS doctors to its doctor profiles).
  The DTO's docblock types ``mis_clinic_ids`` ``array<int>`` while ``mis_clinic_id`` is a
  ``string``: [ASSUMED] the ids are sent as the same strings as ``mis_clinic_id``.
* [CLIENT] ``POST slots`` (``SlotListUpdateDTO`` → ``SlotClinicUpdateDTO`` →
  ``SlotDoctorUpdateDTO`` → ``SlotDateUpdateDTO`` → ``SlotUpdateDTO``): ``{"clinics":
  [{"mis_clinic_id": str, "doctors": [{"mis_doctor_id": str, "dates": [{"date": str, "slots":
  [{"from": "HH:MM", "to": "HH:MM", "duration": int|null}]}]}]}]}``; ``updateSlots`` ignores the
  answer. README: an interval with a non-null ``duration`` is cut by the service into slots of that
  many minutes (16:00–17:00 with 15 → four slots); ``GET slots`` returns ``items`` keyed by date,
  each a list of ``{from, to}``. [ASSUMED] ``date`` is ``YYYY-MM-DD`` and ``from``/``to`` are the
  clinic's local clock times (only the appointment filters are documented as UTC); a date sent
  replaces that doctor's slots on that date (snapshot semantics), so a date sent with ``"slots":
  []`` clears it (the DTO's ``slots`` is a plain collection, empty allowed); dates not sent are
  left as they were; ``to`` is later than ``from`` on the same date; no payload limit is known, so
  :meth:`NaPopravkuHook.update_slots` is called once per clinic; the answer may lack ``result``.
* Operating rules (README): clinics and doctors at least daily, slots every 10 minutes or more
  often, and appointments processed **before** fresh slots are pushed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from ident_hooks.base import ServiceHttpHook, service_url
from ident_hooks.exchange import (
    ServiceAuthError,
    ServiceResponseError,
)

DEFAULT_URL = "https://rta-api.napopravku.ru/api/v1"
DEFAULT_TIMEOUT_SECONDS = 45.0
WIRE_DATETIME = "%Y-%m-%d %H:%M:%S"
MAX_MESSAGE_CHARS = 255

# AppointmentResultDTO, in its order.
APPOINTMENT_FIELDS: tuple[str, ...] = (
    "uuid",
    "clinic",
    "doctor",
    "mis_service_id",
    "start_time",
    "end_time",
    "patient_surname",
    "patient_firstname",
    "patient_father_name",
    "patient_gender",
    "patient_phone",
    "patient_email",
    "patient_birthday",
    "comment",
    "source",
    "is_received",
    "is_cancelled",
    "created_at",
    "updated_at",
)


def api_url(host: str | None, port: int | None = None) -> str:
    """The API base URL of a connection: the default when empty, https when no scheme, no trailing slash."""
    return service_url(host, port, DEFAULT_URL)


def _php_pairs(prefix: str, value: Any) -> Iterator[tuple[str, str]]:
    if value is None:
        return
    if isinstance(value, dict):
        for key, member in value.items():
            yield from _php_pairs(f"{prefix}[{key}]", member)
    elif isinstance(value, list | tuple):
        for index, member in enumerate(value):
            yield from _php_pairs(f"{prefix}[{index}]", member)
    elif isinstance(value, bool):
        yield prefix, "1" if value else "0"
    else:
        yield prefix, str(value)


def php_query(params: dict[str, Any]) -> str:
    """A query string as PHP's ``http_build_query(…, PHP_QUERY_RFC3986)`` builds it (Guzzle's
    ``query`` option): booleans ``1``/``0``, nulls and empty arrays left out, ``a[b]=…`` for nested
    members, ``a[0]=…`` for lists, everything but ``A-Za-z0-9-_.~`` percent-encoded."""
    pairs = [pair for name, value in params.items() for pair in _php_pairs(str(name), value)]
    return "&".join(f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in pairs)


def wire_datetime(moment: datetime) -> str:
    """A ``from``/``to`` filter value: UTC, seconds precision, ``YYYY-MM-DD HH:MM:SS`` [ASSUMED format]."""
    if moment.tzinfo is None:
        raise ValueError("NaPopravku filter dates must be timezone-aware")
    return moment.astimezone(UTC).strftime(WIRE_DATETIME)


def parse_wire_time(value: Any) -> datetime | None:
    """An appointment's date-time (``start_time``, ``created_at``…) as an aware datetime, or None.

    ISO 8601 with ``Z`` or an offset keeps its zone; ``YYYY-MM-DD HH:MM:SS`` or ISO without a zone
    is UTC [ASSUMED, from the client's README: "our API works in UTC"]."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _laravel_error(response: requests.Response) -> tuple[str, dict[str, Any]]:
    """The ``message`` and ``errors`` of an error answer; the plain text when it is not JSON."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        errors = body.get("errors") if isinstance(body.get("errors"), dict) else {}
        message = body.get("message")
        if isinstance(message, str) and message.strip():
            return message.strip(), errors
        return (response.text.strip() or response.reason or "no message"), errors
    return (response.text.strip()[:500] or response.reason or "no message"), {}


def _field_errors(errors: dict[str, Any]) -> str:
    parts = []
    for field, messages in errors.items():
        if isinstance(messages, list):
            text = " ".join(str(m) for m in messages)
        else:
            text = str(messages)
        parts.append(f"{field}: {text}")
    return "; ".join(parts)


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class NaPopravkuHook(ServiceHttpHook):
    """Reads NaPopravku appointments (leads with a booked slot) and acknowledges them; pushes the
    clinics, doctors and free slots of the schedule export."""

    conn_name_attr = "napopravku_conn_id"
    default_conn_name = "napopravku_default"
    conn_type = "ident_napopravku"
    hook_name = "IDENT: NaPopravku RTA API"

    MAX_PER_PAGE = 100  # PagingDTO::MAX_PER_PAGE
    MAX_PAGES = 1000  # a guard against a service that never reports its last page

    DEFAULT_TIMEOUT_SECONDS = DEFAULT_TIMEOUT_SECONDS
    SECRET_MISSING = "no Bearer token: put the RTA API token in its password"
    api_url = staticmethod(api_url)

    def __init__(self, napopravku_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(napopravku_conn_id, **settings)

    def session_headers(self, secret: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {secret}"}

    # -- one request --------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path: str,
        *,
        query: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        describe: str | None = None,
        not_found: str | None = None,
        require_result: bool = True,
    ) -> Any:
        """One call of the RTA API, retrying transient faults; returns the answer's ``result``.

        ``query`` is encoded as the PHP client encodes it (:func:`php_query`), ``body`` is sent as
        JSON. Raises :class:`ServiceAuthError` at once on 401/403 (the service's message quoted),
        :class:`ServiceResponseError` on 404 (``not_found`` as the message when given) and 422 (the
        message and every field error quoted), :class:`TransientServiceError` when timeouts, 429 or
        5xx outlast the attempts. ``describe`` is what the exchange log shows instead of the URL.
        ``require_result=False``: a 2xx answer without ``result`` (or an empty one) is accepted, and
        its ``result`` (else the whole body, or None) returned."""
        self._session_and_secret()  # the token is in the session's Authorization header
        what = f"{method} {path}"
        return self._call(
            what,
            self._prepare(method, path, body, query=php_query(query) if query else ""),
            parse=lambda response: self._result_of(what, response, require_result),
            describe_url=describe,
            inspect_error=lambda response: self._raise_refusal(what, response, not_found),
        )

    def _result_of(self, what: str, response: requests.Response, require_result: bool = True) -> Any:
        if not require_result:
            if not response.content.strip():
                return None
            body = response.json()  # ValueError (a garbled body) is retried by timed_request
            return body["result"] if isinstance(body, dict) and "result" in body else body
        body = response.json()  # ValueError (a garbled body) is retried by timed_request
        if not isinstance(body, dict) or "result" not in body:
            shape = type(body).__name__ if not isinstance(body, dict) else f"keys {sorted(body)}"
            raise ServiceResponseError(f'NaPopravku {what}: expected {{"result": …}}, got {shape}')
        return body["result"]

    def _raise_refusal(self, what: str, response: requests.Response, not_found: str | None) -> None:
        status = response.status_code
        if status not in (401, 403, 404, 422):
            return  # 429 and 5xx: transient, by timed_request's rules
        message, errors = _laravel_error(response)
        if status in (401, 403):
            raise ServiceAuthError(self._redact(f"NaPopravku refused {what} with {status}: {message}"))
        if status == 404:
            text = not_found or f"NaPopravku {what}: 404 {message} (does the connection's host end with /api/v1?)"
            raise ServiceResponseError(self._redact(f"{text} [service: {message}]" if not_found else text))
        details = _field_errors(errors)
        raise ServiceResponseError(
            self._redact(f"NaPopravku rejected {what} (422): {message}" + (f" — {details}" if details else ""))
        )

    # -- lists --------------------------------------------------------------------------------
    def _per_page(self, per_page: int) -> int:
        if per_page < 1:
            raise ValueError(f"per_page must be at least 1, got {per_page}")
        if per_page > self.MAX_PER_PAGE:
            self.log.warning("NaPopravku: per_page %d lowered to the service's maximum %d", per_page, self.MAX_PER_PAGE)
            return self.MAX_PER_PAGE
        return per_page

    def iter_pages(
        self,
        path: str,
        filters: dict[str, Any] | None = None,
        *,
        per_page: int = 100,
        sort_by: str | None = None,
        sort_dir: str = "asc",
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of a list endpoint (``{"result": {"items", "meta"}}``), one list per page, as
        fetched: ``paging[page]`` 1, 2, … until ``meta.last_page``, ``meta.total`` items or an
        empty page. ``filters`` follow the paging (and sorting, when ``sort_by`` is given) in the
        query, in the order given."""
        per_page = self._per_page(per_page)
        collected = 0
        page = 1
        while True:
            query: dict[str, Any] = {"paging": {"page": page, "per_page": per_page}}
            if sort_by:
                query["sorting"] = {"sort_by": sort_by, "sort_dir": sort_dir}
            query.update(filters or {})
            result = self.request("GET", path, query=query)
            items, meta = self._items_and_meta(path, result)
            if items:
                yield items
            collected += len(items)
            last_page, total = _number(meta.get("last_page")), _number(meta.get("total"))
            if not items or (last_page is not None and page >= last_page) or (total is not None and collected >= total):
                return
            page += 1
            if page > self.MAX_PAGES:
                raise ServiceResponseError(
                    f"NaPopravku GET {path}: still no last page after {self.MAX_PAGES} pages "
                    f"(meta {meta!r}); the service ignores paging[page]?"
                )

    def _items_and_meta(self, path: str, result: Any) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            raise ServiceResponseError(
                f'NaPopravku GET {path}: expected result = {{"items": [...], "meta": {{...}}}}, '
                f"got {type(result).__name__}{' with keys ' + str(sorted(result)) if isinstance(result, dict) else ''}"
            )
        items = result["items"]
        bad = [item for item in items if not isinstance(item, dict)]
        if bad:
            raise ServiceResponseError(f"NaPopravku GET {path}: {len(bad)} item(s) are not objects, e.g. {bad[0]!r}")
        meta = result.get("meta") if isinstance(result.get("meta"), dict) else {}
        return items, meta

    # -- appointments -------------------------------------------------------------------------
    def iter_unreceived(
        self,
        per_page: int = 100,
        *,
        include_cancelled: bool = False,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        sort_by: str | None = None,
        sort_dir: str = "asc",
    ) -> Iterator[list[dict[str, Any]]]:
        """Appointments not yet marked received (``is_received=0``), one list per page.

        By default also ``is_cancelled=0``: an appointment the service has cancelled (left
        unacknowledged for 10 minutes) cannot be acknowledged any more and would otherwise come
        back on every run; ``include_cancelled=True`` asks for those too (bound it with
        ``created_from``/``created_to``, sent as ``from``/``to`` in UTC). Every page is read before
        the first is yielded, so acknowledging while iterating skips nothing; an appointment seen
        on an earlier page is not repeated. ``sort_by``/``sort_dir`` are sent only when given (the
        client sends no sorting by default)."""
        filters: dict[str, Any] = {}
        if created_from is not None:
            filters["from"] = wire_datetime(created_from)
        if created_to is not None:
            filters["to"] = wire_datetime(created_to)
        filters["is_received"] = False
        if not include_cancelled:
            filters["is_cancelled"] = False
        seen: set[str] = set()
        pages: list[list[dict[str, Any]]] = []
        for page in self.iter_pages("appointments", filters, per_page=per_page, sort_by=sort_by, sort_dir=sort_dir):
            fresh = []
            for item in page:
                key = item.get("uuid")
                if isinstance(key, str) and key in seen:
                    continue
                if isinstance(key, str):
                    seen.add(key)
                fresh.append(item)
            if fresh:
                pages.append(fresh)
        self.log.info("NaPopravku: %d unreceived appointment(s) in %d page(s)", len(seen), len(pages))
        yield from pages

    def appointments(self, uuids: Sequence[str]) -> list[dict[str, Any]]:
        """The appointments with these uuids as they are now (``uuids[]``, 100 a request); uuids the
        service does not know are simply absent from the answer."""
        wanted = list(dict.fromkeys(str(u) for u in uuids if u))
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), self.MAX_PER_PAGE):
            chunk = wanted[start : start + self.MAX_PER_PAGE]
            for page in self.iter_pages("appointments", {"uuids": chunk}, per_page=self.MAX_PER_PAGE):
                found.extend(page)
        return found

    def set_received(self, uuid: str, success: bool, message: str | None = None) -> None:
        """Mark one appointment as processed by the MIS: ``success`` true when it was booked, false
        with the reason in ``message`` when it could not be (a 404 names the uuid; a 422, e.g. for
        an appointment already cancelled, quotes the service's message and field errors)."""
        if not isinstance(uuid, str) or not uuid.strip():
            raise ValueError(f"an appointment uuid is needed, got {uuid!r}")
        if message is not None and len(message) > MAX_MESSAGE_CHARS:
            self.log.warning("NaPopravku: set-received message cut to %d characters", MAX_MESSAGE_CHARS)
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        self._load_connection()
        describe = f"{self.base_url}/appointments/set-received?" + php_query(
            {"appointment_uuid": uuid, "success": bool(success)}
        )
        self.request(
            "POST",
            "appointments/set-received",
            body={"appointment_uuid": uuid, "message": message, "success": bool(success)},
            describe=describe,
            not_found=f"NaPopravku has no appointment {uuid!r} to mark received (404)",
        )
        self.log.info("NaPopravku: appointment %s marked received (success=%s)", uuid, bool(success))

    # -- schedule -------------------------------------------------------------------------------
    def update_clinics(self, clinics: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """``POST clinics``: upsert the clinics (``mis_clinic_id``, ``name``, ``comment``); the
        service's ``{"created", "updated"}``."""
        result = self.request("POST", "clinics", body={"clinics": list(clinics)})
        return result if isinstance(result, dict) else {}

    def update_doctors(self, doctors: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """``POST doctors``: upsert the doctors (``mis_doctor_id``, ``name``, ``comment``,
        ``mis_clinic_ids``); the service's ``{"created", "updated", "matched", "not_matched"}``."""
        result = self.request("POST", "doctors", body={"doctors": list(doctors)})
        return result if isinstance(result, dict) else {}

    def update_slots(self, clinics: Sequence[dict[str, Any]]) -> Any:
        """``POST slots``: the slots of the given clinics, doctors and dates (each date sent replaces
        that doctor's slots on it). A 422 quotes the service's message and every field error."""
        return self.request("POST", "slots", body={"clinics": list(clinics)}, require_result=False)

    # -- UI -----------------------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button ("Проверить"): ``GET clinics`` with one item per page, no doctors."""
        try:
            result = self.request(
                "GET",
                "clinics",
                query={
                    "paging": {"page": 1, "per_page": 1},
                    "with_doctors": False,
                    "without_last_activity": False,
                },
            )
            items, meta = self._items_and_meta("clinics", result)
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        total = _number(meta.get("total"))
        count = f"{total} clinic(s)" if total is not None else f"{len(items)} clinic(s) on the first page"
        example = f", e.g. {items[0].get('name')!r} (mis_clinic_id {items[0].get('mis_clinic_id')!r})" if items else ""
        return True, f"NaPopravku RTA API at {self.base_url}: {count} known{example}"
