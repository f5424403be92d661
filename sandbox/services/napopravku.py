"""NaPopravku RTA API (reference aggregators.md §1): appointments, their acknowledgement, clinics.

Routes under ``/napopravku/{account}/api/v1/``: ``GET appointments``, ``POST
appointments/set-received``, ``GET clinics``; the token is the sandbox key, sent as
``Authorization: Bearer``. Wire format as NaPopravku's public PHP client uses it
(``napopravku/rta-api-service-client``; see ``plugins/ident_hooks/napopravku.py``): PHP-style nested
query parameters (``paging[page]``, ``uuids[0]``/``uuids[]``), booleans ``0``/``1``, answers
``{"result": …}``, Laravel errors ``{"message", "errors": {field: [...]}}`` with 401/404/422.

Every account name gets deterministic appointments: ``APPOINTMENTS_PER_DAY`` a day over the
``--days`` before start-up (already received; a few later cancelled by the patient), then one new
unreceived appointment every ``--live-interval`` seconds. An appointment not acknowledged within
``cancel_after`` seconds (600 = the service's 10 minutes; shorter through the control API) of its
``created_at`` is cancelled. All of it is computed from the clock on each request: no threads.
The control API can also make ``set-received`` alone answer a 5xx while the listing works (an
acknowledgement that fails and must be retried by the next run).
What the public material leaves open is assumed and listed in ``sandbox/README.md``.
"""

from __future__ import annotations

import hmac
import math
import random
import re
import uuid as uuidlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from ..context import SandboxContext, Service
from ..demo_data import (
    COMMENTS,
    DOCTORS,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    MALE_NAMES,
    MOBILE_CODES,
    PATRONYMICS,
    SURNAMES,
    Arrivals,
    _translit,
)
from ..faults import stable_int
from ..received import received_index

NAME = "napopravku"
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
APPOINTMENTS_PER_DAY = 12
NO_PHONE_EVERY = 12  # about 8 % have no phone: the MIS cannot book them and answers success=false
PATIENT_CANCEL_EVERY = 20  # about 5 % of the received history is cancelled later by the patient
DEFAULT_CANCEL_AFTER = 600.0  # "not received within 10 minutes of creation = cancelled"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 10, 100  # PagingDTO
MAX_MESSAGE = 255  # [assumed] a Laravel string column
SORTABLE = ("created_at", "updated_at", "start_time", "end_time", "uuid")  # [assumed]
SOURCES = ("site", "mobile_app", "widget", "call_center")  # [assumed] values of `source`
SERVICES = ("101", "102", "103", "104", "105", "106", "107", "108")
CANCELLED_MESSAGE = "The appointment is cancelled."  # [assumed] set-received on a cancelled one
THROTTLED_MESSAGE = "Too Many Attempts."  # Laravel's ThrottleRequests (429, Retry-After in seconds)
LARAVEL_TIME = "%Y-%m-%dT%H:%M:%S.000000Z"  # Laravel's default JSON form of a date-time (UTC)
PLAIN_TIME = "%Y-%m-%d %H:%M:%S"  # start_time/end_time [assumed]: UTC wall time, no zone
CLINICS = (("1", "Стоматология «Дента» на Невском", "Невский пр., 100"), ("2", "Стоматология «Дента» в Купчино", None))
_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_BRACKET = re.compile(r"\[([^\[\]]*)\]")


def laravel_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(LARAVEL_TIME)


def plain_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(PLAIN_TIME)


def parse_time(value: Any) -> datetime | None:
    """A filter value or a stored date-time: ISO 8601 (``T`` or space, ``Z``/offset/none) or a date;
    no zone = UTC ("our API works in UTC")."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text[-1] in "Zz":
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


# -- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Generated:
    index: int
    created: datetime
    body: dict  # every field but is_received / is_cancelled / updated_at
    history: bool  # before start-up: received by construction
    received_at: datetime | None  # history: when the MIS acknowledged it
    patient_cancel_at: datetime | None  # history: cancelled later by the patient (or never)


class AppointmentGenerator(Arrivals):
    """Appointments of one account, a pure function of (seed, account, index) and the start time.

    Indexes ``0 .. back_count-1``: the history, ``APPOINTMENTS_PER_DAY`` a day over the ``days``
    before the start, at stratified random times; index ``back_count + j``: the j-th live one,
    created ``(j+1) * live_interval`` s after the start (as ``demo_data.LeadGenerator``)."""

    def __init__(self, seed: int, account: str, start_time: datetime, tz: tzinfo, days: int, live_interval: float):
        super().__init__(seed, account, start_time, days, APPOINTMENTS_PER_DAY, live_interval)
        self.account, self.tz = account, tz
        # uuids carry the start minute: a restarted sandbox never serves an old uuid with new data.
        self._uuid_seed = (seed, account, int(start_time.timestamp()) // 60)
        self._no_phone_phase = stable_int(seed, account, "no-phone") % NO_PHONE_EVERY
        self._cache: dict[int, _Generated] = {}
        self.clinics = [self._clinic(mis_id, name, comment) for mis_id, name, comment in CLINICS]
        self.doctors = [self._doctor(i, mis_id, name) for i, (mis_id, name) in enumerate(DOCTORS)]

    def _clinic(self, mis_id: str, name: str, comment: str | None) -> dict:
        seen = self.start_time - timedelta(minutes=3 + stable_int(self.seed, self.account, "clinic-seen", mis_id) % 50)
        return {
            "id": 10_000 + stable_int(self.seed, self.account, "clinic", mis_id) % 90_000,
            "name": name,
            "comment": comment,
            "last_activity_at": laravel_time(seen),
            "mis_clinic_id": mis_id,
        }

    def _doctor(self, i: int, mis_id: int, name: str) -> dict:
        seen = self.start_time - timedelta(minutes=5 + stable_int(self.seed, self.account, "doctor-seen", mis_id) % 90)
        return {
            "id": 100_000 + stable_int(self.seed, self.account, "doctor", mis_id) % 900_000,
            "name": name,
            "comment": None if i % 3 else "Принимает взрослых и детей с 12 лет",
            "last_activity_at": laravel_time(seen),
            "mis_doctor_id": str(mis_id),
        }

    def clinic_of(self, doctor_index: int) -> dict:
        return self.clinics[doctor_index % len(self.clinics)]

    def uuid(self, index: int) -> str:
        high = stable_int(*self._uuid_seed, "uuid-a", index)
        low = stable_int(*self._uuid_seed, "uuid-b", index)
        return str(uuidlib.UUID(int=high << 64 | low, version=4))

    def appointment(self, index: int) -> _Generated:
        cached = self._cache.get(index)
        if cached is None:
            rng = random.Random(stable_int(self.seed, self.account, "appointment", index))
            created = self.arrival(index)  # exact: the deadline counts from it; created_at shows whole seconds
            no_phone = index % NO_PHONE_EVERY == self._no_phone_phase
            body = self._body(rng, self.uuid(index), created, no_phone)
            history = index < self.back_count
            received_at = patient_cancel_at = None
            if history:
                received_at = created + timedelta(seconds=rng.randint(20, 150))
                if not no_phone and rng.randrange(PATIENT_CANCEL_EVERY) == 0:
                    patient_cancel_at = received_at + timedelta(hours=rng.randint(1, 30))
            cached = self._cache[index] = _Generated(index, created, body, history, received_at, patient_cancel_at)
        return cached

    def _body(self, rng: random.Random, uuid: str, created: datetime, no_phone: bool) -> dict:
        doctor_index = rng.randrange(len(self.doctors))
        female = rng.random() < 0.6
        surname = rng.choice(SURNAMES) + ("а" if female else "")
        firstname = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        father = rng.choice(PATRONYMICS)[1 if female else 0] if rng.random() < 0.8 else None
        local = created.astimezone(self.tz)
        day = (local + timedelta(days=rng.randint(1, 10))).date()
        start = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 15, 30, 45)), tzinfo=self.tz)
        end = start + timedelta(minutes=rng.choice((30, 30, 45, 60)))
        code, subscriber = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
        phone: str | int | None
        if no_phone:
            phone = rng.choice((None, None, ""))
        else:
            notation = rng.randrange(8)
            if notation < 4:
                phone = f"+7{code}{subscriber}"
            elif notation == 4:
                phone = f"7{code}{subscriber}"
            elif notation == 5:
                phone = f"8 ({code}) {subscriber[:3]}-{subscriber[3:5]}-{subscriber[5:]}"
            else:
                phone = int(f"7{code}{subscriber}")  # number-typed phones happen
        email = None
        if rng.random() < 0.5:
            email = f"{_translit(firstname)}.{_translit(surname)}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"
        birthday = None
        if rng.random() < 0.7:
            born = date(local.year - rng.randint(6, 75), rng.randint(1, 12), rng.randint(1, 28))
            birthday = born.isoformat()
        comment = (rng.choice(COMMENTS) or None) if rng.random() < 0.4 else None
        return {
            "uuid": uuid,
            "clinic": self.clinic_of(doctor_index),
            "doctor": self.doctors[doctor_index],
            "mis_service_id": rng.choice(SERVICES) if rng.random() < 0.7 else None,
            "start_time": plain_time(start),
            "end_time": plain_time(end),
            "patient_surname": surname,
            "patient_firstname": firstname,
            "patient_father_name": father,
            "patient_gender": ("female" if female else "male") if rng.random() < 0.9 else None,
            "patient_phone": phone,
            "patient_email": email,
            "patient_birthday": birthday,
            "comment": comment,
            "source": rng.choice(SOURCES),
            "created_at": laravel_time(created),
        }


@dataclass
class _Ack:
    success: bool
    message: str | None
    at: datetime


@dataclass
class _AckFailure:
    """``POST appointments/set-received`` answered with ``status`` instead of being done: every one
    (``remaining`` None) until switched off, or the next ``remaining`` ones."""

    status: int
    remaining: int | None

    def take(self) -> bool:
        """Whether this set-received fails (and one fewer is left to fail)."""
        if self.remaining is None:
            return True
        if self.remaining <= 0:
            return False
        self.remaining -= 1
        return True


def _server_error(status: int) -> Response:
    """A 5xx as the service would send it: Laravel's own JSON for an exception (500), a proxy's
    plain text otherwise (502 Bad Gateway, 503 Service Unavailable, 504 Gateway Timeout…)."""
    if status == 500:
        return JSONResponse({"message": "Server Error"}, status_code=500)
    return PlainTextResponse(HTTPStatus(status).phrase, status_code=status)


@dataclass
class _Injected:
    body: dict
    created: datetime
    received: bool
    cancelled: bool


@dataclass
class _Schedule:
    """What the account received through ``POST clinics``/``doctors``/``slots``, as the service
    keeps it: clinics and doctors by MIS id (upserted), and per clinic, doctor and date the slots
    of the last push that named that date (cut by ``duration``), a date sent empty as ``[]``."""

    clinics: dict[str, dict] = field(default_factory=dict)
    doctors: dict[str, dict] = field(default_factory=dict)
    slots: dict[str, dict[str, dict[str, list[dict]]]] = field(default_factory=dict)
    pushes: dict[str, int] = field(default_factory=lambda: {"clinics": 0, "doctors": 0, "slots": 0})
    rejected: int = 0
    last_errors: dict[str, list[str]] = field(default_factory=dict)
    last_push_at: dict[str, str] = field(default_factory=dict)


@dataclass
class _Account:
    name: str
    generator: AppointmentGenerator
    cancel_after: float = DEFAULT_CANCEL_AFTER
    acks: dict[str, _Ack] = field(default_factory=dict)
    injected: list[_Injected] = field(default_factory=list)
    throttled: int = 0  # the next N API requests get Laravel's 429
    retry_after: int = 1
    ack_failure: _AckFailure | None = None  # set-received alone answers a 5xx (the listing still works)
    ack_failures_served: int = 0
    schedule: _Schedule = field(default_factory=lambda: _Schedule())


def _ack_failure_state(acc: _Account) -> dict[str, Any]:
    failure = acc.ack_failure
    return {
        "account": acc.name,
        "failing": failure is not None and (failure.remaining is None or failure.remaining > 0),
        "status": failure.status if failure is not None else None,
        "remaining": failure.remaining if failure is not None else None,
        "failed": acc.ack_failures_served,
    }


@dataclass
class _Served:
    key: tuple  # default order: created_at, then creation order
    item: dict
    created: datetime


class NaPopravku:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._accounts: dict[str, _Account] = {}

    def account(self, name: str) -> _Account:
        acc = self._accounts.get(name)
        if acc is None:
            s = self.ctx.settings
            generator = AppointmentGenerator(
                s.seed, f"napopravku:{name}", self.ctx.clock.start_time, self.ctx.tz, s.days, s.live_interval
            )
            acc = self._accounts[name] = _Account(name, generator)
        return acc

    def reset(self, name: str) -> None:
        self._accounts.pop(name, None)

    def served(self, acc: _Account, now: datetime) -> list[_Served]:
        """Every appointment visible now with its state at ``now``, in the default order."""
        out = []
        gen = acc.generator
        deadline = timedelta(seconds=acc.cancel_after)
        for index in range(gen.visible_count(now)):
            g = gen.appointment(index)
            ack = acc.acks.get(g.body["uuid"])
            if g.history:
                cancelled = g.patient_cancel_at is not None and g.patient_cancel_at <= now
                received, updated = True, g.received_at
                if cancelled:
                    updated = g.patient_cancel_at
                if ack is not None and ack.at > updated:
                    updated = ack.at
            else:
                received, cancelled, updated = self._live_state(g.created, ack, deadline, now, False, False)
            item = {**g.body, "is_received": received, "is_cancelled": cancelled, "updated_at": laravel_time(updated)}
            out.append(_Served((g.created, 0, index), _ordered(item), g.created))
        for seq, inj in enumerate(acc.injected):
            ack = acc.acks.get(str(inj.body.get("uuid")))
            received, cancelled, updated = self._live_state(
                inj.created, ack, deadline, now, inj.received, inj.cancelled
            )
            item = {**inj.body, "is_received": received, "is_cancelled": cancelled}
            if ack is not None or cancelled != inj.cancelled:
                item["updated_at"] = laravel_time(updated)
            out.append(_Served((inj.created, 1, seq), item, inj.created))
        out.sort(key=lambda s: s.key)
        return out

    @staticmethod
    def _live_state(
        created: datetime, ack: _Ack | None, deadline: timedelta, now: datetime, received: bool, cancelled: bool
    ) -> tuple[bool, bool, datetime]:
        if ack is not None:
            return True, cancelled, ack.at
        if received or cancelled:
            return received, cancelled, created
        if now >= created + deadline:
            return False, True, created + deadline  # the service's automatic cancellation
        return False, False, created

    def find(self, acc: _Account, uuid: str, now: datetime) -> _Served | None:
        return next((s for s in self.served(acc, now) if s.item.get("uuid") == uuid), None)


def _ordered(item: dict) -> dict:
    order = (
        "uuid", "clinic", "doctor", "mis_service_id", "start_time", "end_time", "patient_surname",
        "patient_firstname", "patient_father_name", "patient_gender", "patient_phone", "patient_email",
        "patient_birthday", "comment", "source", "is_received", "is_cancelled", "created_at", "updated_at",
    )  # fmt: skip
    return {name: item.get(name) for name in order}


# -- the wire ------------------------------------------------------------------------------------
def php_query(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Query pairs as PHP (and so Laravel) reads them: ``a[b]=1`` nests, ``a[]=x`` appends."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        match = _KEY.match(key)
        parts = [match.group(1), *_BRACKET.findall(match.group(2))] if match else [key]
        node = out
        for depth, part in enumerate(parts):
            if part == "":
                part = str(len(node))
            if depth == len(parts) - 1:
                node[part] = value
            else:
                if not isinstance(node.get(part), dict):
                    node[part] = {}
                node = node[part]
    return out


def _label(name: str) -> str:
    return name.replace("_", " ")


class _Errors:
    """Laravel's validation answer: ``{"message": first (and N more errors), "errors": {...}}``."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def response(self) -> JSONResponse | None:
        if not self.errors:
            return None
        messages = [m for ms in self.errors.values() for m in ms]
        message = messages[0]
        if len(messages) > 1:
            more = len(messages) - 1
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        return JSONResponse({"message": message, "errors": self.errors}, status_code=422)


def _integer(errors: _Errors, params: dict, name: str, default: int, minimum: int, maximum: int | None) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not isinstance(raw, str) or not re.fullmatch(r"-?\d+", raw.strip()):
        errors.add(name, f"The {_label(name)} field must be an integer.")
        return default
    value = int(raw)
    if value < minimum:
        errors.add(name, f"The {_label(name)} field must be at least {minimum}.")
    elif maximum is not None and value > maximum:
        errors.add(name, f"The {_label(name)} field must not be greater than {maximum}.")
    return value


def _boolean(errors: _Errors, params: dict, name: str) -> bool | None:
    """Laravel's ``boolean`` rule on a query string: only ``1``/``0`` (``"true"`` is refused)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if raw in ("1", "0"):
        return raw == "1"
    errors.add(name, f"The {_label(name)} field must be true or false.")
    return None


def _paging(errors: _Errors, params: dict) -> tuple[int, int]:
    paging = params.get("paging", {})
    if not isinstance(paging, dict):
        errors.add("paging", "The paging field must be an array.")
        paging = {}
    flat = {f"paging.{k}": v for k, v in paging.items()}
    page = _integer(errors, flat, "paging.page", 1, 1, None)
    per_page = _integer(errors, flat, "paging.per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    return page, per_page


def _sorting(errors: _Errors, params: dict, allowed: tuple[str, ...]) -> tuple[str | None, bool]:
    sorting = params.get("sorting", {})
    if not isinstance(sorting, dict):
        errors.add("sorting", "The sorting field must be an array.")
        return None, False
    sort_by, sort_dir = sorting.get("sort_by") or None, sorting.get("sort_dir") or None
    if sort_by is not None and sort_by not in allowed:
        errors.add("sorting.sort_by", "The selected sorting.sort by is invalid.")
        sort_by = None
    if sort_dir is not None and sort_dir not in ("asc", "desc"):
        errors.add("sorting.sort_dir", "The selected sorting.sort dir is invalid.")
    return sort_by, sort_dir == "desc"


def _page(items: list, page: int, per_page: int) -> dict:
    total = len(items)
    chunk = items[(page - 1) * per_page : page * per_page]
    first = (page - 1) * per_page + 1 if chunk else None
    return {
        "items": chunk,
        "meta": {
            "total": total,
            "per_page": per_page,
            "page": page,
            "from": first,
            "to": first + len(chunk) - 1 if chunk else None,
            "last_page": max(1, math.ceil(total / per_page)),
        },
    }


def _not_found(message: str) -> JSONResponse:
    return JSONResponse({"message": message}, status_code=404)


# -- schedule: POST clinics / doctors / slots ------------------------------------------------------
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_YMD = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_STRING = 255  # [assumed] Laravel's usual string columns
MAX_DURATION = 24 * 60


def _list(errors: _Errors, value: Any, name: str, *, present: bool = False) -> list | None:
    """Laravel's ``required|array`` (``present|array`` with ``present``: an empty list is fine) on
    a JSON list; a JSON object is an array to PHP too, but the client only ever sends lists."""
    if value is None:
        errors.add(name, f"The {_label(name)} field {'must be present' if present else 'is required'}.")
        return None
    if not isinstance(value, list):
        errors.add(name, f"The {_label(name)} field must be an array.")
        return None
    if not value and not present:
        errors.add(name, f"The {_label(name)} field is required.")
        return None
    return value


def _string(errors: _Errors, item: dict, key: str, where: str, *, nullable: bool = False) -> str | None:
    name = f"{where}.{key}"
    value = item.get(key)
    if value is None or (value == "" and not nullable):
        if not nullable:
            errors.add(name, f"The {_label(name)} field is required.")
        return None
    if not isinstance(value, str):
        errors.add(name, f"The {_label(name)} field must be a string.")
        return None
    if len(value) > MAX_STRING:
        errors.add(name, f"The {_label(name)} field must not be greater than {MAX_STRING} characters.")
        return None
    return value


def _objects(errors: _Errors, items: list, where: str) -> list[tuple[str, dict]]:
    out = []
    for index, item in enumerate(items):
        name = f"{where}.{index}"
        if not isinstance(item, dict):
            errors.add(name, f"The {_label(name)} field must be an array.")
        else:
            out.append((name, item))
    return out


def _distinct(errors: _Errors, values: list[tuple[str, Any]]) -> None:
    seen: set = set()
    for name, value in values:
        if value is None:
            continue
        if value in seen:
            errors.add(name, f"The {_label(name)} field has a duplicate value.")
        seen.add(value)


def _body(raw: Any) -> dict:
    return raw if isinstance(raw, dict) else {}


def _named(
    errors: _Errors, item: dict, where: str, id_key: str, ids: list[tuple[str, Any]]
) -> tuple[str | None, str | None, str | None]:
    """A clinic's or doctor's ``id_key``, ``name`` and ``comment`` (nullable), checked; the id noted
    in ``ids`` for :func:`_distinct`."""
    mis_id = _string(errors, item, id_key, where)
    name = _string(errors, item, "name", where)
    comment = _string(errors, item, "comment", where, nullable=True)
    ids.append((f"{where}.{id_key}", mis_id))
    return mis_id, name, comment


def validate_clinics(body: Any) -> tuple[_Errors, list[dict]]:
    """``{"clinics": [{mis_clinic_id, name, comment}]}`` (``ClinicUpdateDTO``)."""
    errors, clinics = _Errors(), []
    items = _list(errors, _body(body).get("clinics"), "clinics")
    ids = []
    for where, item in _objects(errors, items or [], "clinics"):
        mis_id, name, comment = _named(errors, item, where, "mis_clinic_id", ids)
        clinics.append({"mis_clinic_id": mis_id, "name": name, "comment": comment})
    _distinct(errors, ids)
    return errors, clinics


def validate_doctors(body: Any, known_clinics: dict[str, dict]) -> tuple[_Errors, list[dict]]:
    """``{"doctors": [{mis_doctor_id, name, comment, mis_clinic_ids: [...]}]}``; every clinic id
    must be one the account has (``POST clinics`` first). Ids as strings or [assumed] integers."""
    errors, doctors = _Errors(), []
    items = _list(errors, _body(body).get("doctors"), "doctors")
    ids = []
    for where, item in _objects(errors, items or [], "doctors"):
        mis_id, name, comment = _named(errors, item, where, "mis_doctor_id", ids)
        clinic_ids = []
        for index, value in enumerate(_list(errors, item.get("mis_clinic_ids"), f"{where}.mis_clinic_ids") or []):
            name_i = f"{where}.mis_clinic_ids.{index}"
            if isinstance(value, bool) or not isinstance(value, str | int):
                errors.add(name_i, f"The {_label(name_i)} field must be a string.")
            elif str(value) not in known_clinics:
                errors.add(name_i, f"The selected {_label(name_i)} is invalid.")
            else:
                clinic_ids.append(str(value))
        doctors.append({"mis_doctor_id": mis_id, "name": name, "comment": comment, "mis_clinic_ids": clinic_ids})
    _distinct(errors, ids)
    return errors, doctors


def _clock(errors: _Errors, item: dict, key: str, where: str) -> int | None:
    name = f"{where}.{key}"
    value = item.get(key)
    if value in (None, ""):
        errors.add(name, f"The {_label(name)} field is required.")
        return None
    if not isinstance(value, str) or not _HHMM.match(value):
        errors.add(name, f"The {_label(name)} field must match the format H:i.")
        return None
    return int(value[:2]) * 60 + int(value[3:])


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def cut(start: int, end: int, duration: int | None) -> list[dict]:
    """An interval as the service stores it: whole slots of ``duration`` minutes from its start (a
    remainder shorter than that is dropped [assumed]), or itself when ``duration`` is null."""
    if not duration:
        return [{"from": _hhmm(start), "to": _hhmm(end)}]
    return [{"from": _hhmm(t), "to": _hhmm(t + duration)} for t in range(start, end - duration + 1, duration)]


def validate_slots(body: Any, schedule: _Schedule) -> tuple[_Errors, dict[str, dict[str, dict[str, list[dict]]]]]:
    """``{"clinics": [{mis_clinic_id, doctors: [{mis_doctor_id, dates: [{date, slots: [{from, to,
    duration}]}]}]}]}``: known clinics, doctors attached to the clinic they are sent under, dates
    ``Y-m-d`` once per doctor, ``slots`` present (``[]`` clears the date), ``from``/``to`` ``H:i``
    with ``to`` after ``from`` on the same date, ``duration`` null or 1..1440 minutes, no two
    slots of a date overlapping. The slots as stored: clinic -> doctor -> date -> cut slots."""
    errors = _Errors()
    out: dict[str, dict[str, dict[str, list[dict]]]] = {}
    clinics = _list(errors, _body(body).get("clinics"), "clinics")
    clinic_ids = []
    for cw, clinic in _objects(errors, clinics or [], "clinics"):
        clinic_id = _string(errors, clinic, "mis_clinic_id", cw)
        clinic_ids.append((f"{cw}.mis_clinic_id", clinic_id))
        if clinic_id is not None and clinic_id not in schedule.clinics:
            errors.add(f"{cw}.mis_clinic_id", f"The selected {_label(cw + '.mis_clinic_id')} is invalid.")
            clinic_id = None
        doctor_ids = []
        for dw, doctor in _objects(
            errors, _list(errors, clinic.get("doctors"), f"{cw}.doctors") or [], f"{cw}.doctors"
        ):
            doctor_id = _string(errors, doctor, "mis_doctor_id", dw)
            doctor_ids.append((f"{dw}.mis_doctor_id", doctor_id))
            known = schedule.doctors.get(doctor_id) if doctor_id is not None else None
            if doctor_id is not None and known is None:
                errors.add(f"{dw}.mis_doctor_id", f"The selected {_label(dw + '.mis_doctor_id')} is invalid.")
            elif known is not None and clinic_id is not None and clinic_id not in known["mis_clinic_ids"]:
                errors.add(
                    f"{dw}.mis_doctor_id", f"The doctor {doctor_id} is not attached to the clinic {clinic_id}."
                )  # [assumed] wording
            dates = _list(errors, doctor.get("dates"), f"{dw}.dates", present=True)
            days = []
            for tw, day in _objects(errors, dates or [], f"{dw}.dates"):
                value = day.get("date")
                name = f"{tw}.date"
                if value in (None, ""):
                    errors.add(name, f"The {_label(name)} field is required.")
                    value = None
                elif not isinstance(value, str) or not _YMD.match(value) or not _valid_date(value):
                    errors.add(name, f"The {_label(name)} field must match the format Y-m-d.")
                    value = None
                days.append((name, value))
                spans = []
                for sw, slot in _objects(
                    errors, _list(errors, day.get("slots"), f"{tw}.slots", present=True) or [], f"{tw}.slots"
                ):
                    start, end = _clock(errors, slot, "from", sw), _clock(errors, slot, "to", sw)
                    duration = slot.get("duration")
                    if duration is not None and (isinstance(duration, bool) or not isinstance(duration, int)):
                        errors.add(f"{sw}.duration", f"The {_label(sw + '.duration')} field must be an integer.")
                        duration = None
                    elif duration is not None and not 1 <= duration <= MAX_DURATION:
                        errors.add(
                            f"{sw}.duration",
                            f"The {_label(sw + '.duration')} field must be between 1 and {MAX_DURATION}.",
                        )
                        duration = None
                    if start is None or end is None:
                        continue
                    if end <= start:
                        errors.add(
                            f"{sw}.to", f"The {_label(sw + '.to')} field must be a date after {_label(sw + '.from')}."
                        )
                        continue
                    spans.append((start, end, duration, sw))
                spans.sort(key=lambda span: span[:2])
                for (_s1, e1, _, w1), (s2, _e2, _, w2) in zip(spans, spans[1:], strict=False):
                    if s2 < e1:
                        errors.add(w2, f"The {_label(w2)} field overlaps {_label(w1)}.")  # [assumed]
                if value is not None and clinic_id is not None and doctor_id is not None:
                    stored = [piece for s1, e1, d1, _ in spans for piece in cut(s1, e1, d1)]
                    out.setdefault(clinic_id, {}).setdefault(doctor_id, {})[value] = stored
            _distinct(errors, days)
        _distinct(errors, doctor_ids)
    _distinct(errors, clinic_ids)
    return errors, out


def _valid_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def create(ctx: SandboxContext) -> Service:
    service = NaPopravku(ctx)
    router = APIRouter()
    control = APIRouter()

    def guard(account: str, request: Request) -> _Account | Response:
        """Unknown account name → 404; missing or wrong Bearer token → 401 "Unauthenticated."."""
        if not _ACCOUNT.fullmatch(account):
            return _not_found(f"Unknown account {account!r}.")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), ctx.settings.key.encode()):
            return JSONResponse({"message": "Unauthenticated."}, status_code=401)
        acc = service.account(account)
        if acc.throttled > 0:
            acc.throttled -= 1
            headers = {"Retry-After": str(acc.retry_after), "X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "0"}
            return JSONResponse({"message": THROTTLED_MESSAGE}, status_code=429, headers=headers)
        return acc

    @router.get("/{account}/api/v1/appointments")
    async def appointments(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        params = php_query(request.query_params.multi_items())
        errors = _Errors()
        page, per_page = _paging(errors, params)
        sort_by, descending = _sorting(errors, params, SORTABLE)
        is_received = _boolean(errors, params, "is_received")
        is_cancelled = _boolean(errors, params, "is_cancelled")
        bounds = {}
        for name in ("from", "to"):
            raw = params.get(name)
            if raw not in (None, ""):
                moment = parse_time(raw) if isinstance(raw, str) else None
                if moment is None:
                    errors.add(name, f"The {name} field must be a valid date.")
                bounds[name] = moment
        uuids = params.get("uuids")
        if uuids is not None and not isinstance(uuids, dict):
            errors.add("uuids", "The uuids field must be an array.")
            uuids = None
        clinic = params.get("mis_clinic_id")
        if clinic is not None and not isinstance(clinic, str):
            errors.add("mis_clinic_id", "The mis clinic id field must be a string.")
        if error := errors.response():
            return error

        wanted = set(uuids.values()) if uuids is not None else None
        selected = []
        for s in service.served(acc, ctx.clock.now()):
            item = s.item
            if is_received is not None and item["is_received"] != is_received:
                continue
            if is_cancelled is not None and item["is_cancelled"] != is_cancelled:
                continue
            if wanted is not None and item.get("uuid") not in wanted:
                continue
            if clinic and (item.get("clinic") or {}).get("mis_clinic_id") != clinic:
                continue
            shown = s.created.replace(microsecond=0)  # as created_at shows it
            if bounds.get("from") and shown < bounds["from"]:
                continue
            if bounds.get("to") and shown > bounds["to"]:
                continue
            selected.append(item)
        if sort_by is not None:
            present = [i for i in selected if i.get(sort_by) is not None]
            missing = [i for i in selected if i.get(sort_by) is None]
            present.sort(key=lambda i: str(i[sort_by]), reverse=descending)
            selected = present + missing
        elif descending:
            selected.reverse()
        return JSONResponse({"result": _page(selected, page, per_page)})

    @router.post("/{account}/api/v1/appointments/set-received")
    async def set_received(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        if acc.ack_failure is not None and acc.ack_failure.take():
            acc.ack_failures_served += 1
            return _server_error(acc.ack_failure.status)
        try:
            body = await request.json()
        except ValueError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        errors = _Errors()
        uuid = body.get("appointment_uuid")
        if uuid in (None, ""):
            errors.add("appointment_uuid", "The appointment uuid field is required.")
        elif not isinstance(uuid, str):
            errors.add("appointment_uuid", "The appointment uuid field must be a string.")
        success = body.get("success", True)  # [assumed] optional: clients before 2024-07 sent only the uuid
        if success is None:
            success = True
        if success not in (True, False, 0, 1, "0", "1") or isinstance(success, float):
            errors.add("success", "The success field must be true or false.")
        message = body.get("message")
        if message is not None and not isinstance(message, str):
            errors.add("message", "The message field must be a string.")
        elif isinstance(message, str) and len(message) > MAX_MESSAGE:
            errors.add("message", f"The message field must not be greater than {MAX_MESSAGE} characters.")
        if error := errors.response():
            return error
        now = ctx.clock.now()
        found = service.find(acc, uuid, now)
        if found is None:
            return _not_found(f"Appointment {uuid} not found.")
        if found.item["is_cancelled"]:
            return JSONResponse(
                {"message": CANCELLED_MESSAGE, "errors": {"appointment_uuid": [CANCELLED_MESSAGE]}}, status_code=422
            )
        acc.acks[uuid] = _Ack(success in (True, 1, "1"), message, now)  # a repeat just overwrites
        return JSONResponse({"result": True})

    @router.get("/{account}/api/v1/clinics")
    async def clinics(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        params = php_query(request.query_params.multi_items())
        errors = _Errors()
        page, per_page = _paging(errors, params)
        sort_by, descending = _sorting(errors, params, ("id", "name", "mis_clinic_id", "last_activity_at"))
        with_doctors = _boolean(errors, params, "with_doctors")
        _boolean(errors, params, "without_last_activity")  # accepted, not emulated
        if error := errors.response():
            return error
        gen = acc.generator
        items = []
        for clinic in gen.clinics:
            item = dict(clinic)
            if with_doctors is not False:  # ClinicListDTO's default is true
                item["doctors"] = [d for i, d in enumerate(gen.doctors) if gen.clinic_of(i) is clinic]
            items.append(item)
        if sort_by is not None:
            items.sort(key=lambda i: str(i.get(sort_by)), reverse=descending)
        return JSONResponse({"result": _page(items, page, per_page)})

    async def _json(request: Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            return None

    def _rejected(acc: _Account, errors: _Errors) -> Response | None:
        answer = errors.response()
        if answer is not None:
            acc.schedule.rejected += 1
            acc.schedule.last_errors = errors.errors
        return answer

    def _pushed(acc: _Account, what: str) -> None:
        acc.schedule.pushes[what] += 1
        acc.schedule.last_push_at[what] = laravel_time(ctx.clock.now())

    @router.post("/{account}/api/v1/clinics")
    async def update_clinics(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        errors, clinics = validate_clinics(await _json(request))
        if answer := _rejected(acc, errors):
            return answer
        created = sum(1 for c in clinics if c["mis_clinic_id"] not in acc.schedule.clinics)
        for clinic in clinics:
            acc.schedule.clinics[clinic["mis_clinic_id"]] = clinic
        _pushed(acc, "clinics")
        return JSONResponse({"result": {"created": created, "updated": len(clinics) - created}})

    @router.post("/{account}/api/v1/doctors")
    async def update_doctors(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        errors, doctors = validate_doctors(await _json(request), acc.schedule.clinics)
        if answer := _rejected(acc, errors):
            return answer
        created = sum(1 for d in doctors if d["mis_doctor_id"] not in acc.schedule.doctors)
        for doctor in doctors:
            acc.schedule.doctors[doctor["mis_doctor_id"]] = doctor
        known = {d["name"] for d in acc.generator.doctors}  # NaPopravku's own profiles [assumed: by name]
        matched = [d["mis_doctor_id"] for d in doctors if d["name"] in known]
        not_matched = [d["mis_doctor_id"] for d in doctors if d["name"] not in known]
        _pushed(acc, "doctors")
        return JSONResponse(
            {
                "result": {
                    "created": created,
                    "updated": len(doctors) - created,
                    "matched": matched,
                    "not_matched": not_matched,
                }
            }
        )

    @router.post("/{account}/api/v1/slots")
    async def update_slots(account: str, request: Request) -> Response:
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        errors, received = validate_slots(await _json(request), acc.schedule)
        if answer := _rejected(acc, errors):
            return answer
        dates = slots = 0
        for clinic_id, doctors in received.items():
            for doctor_id, days in doctors.items():
                kept = acc.schedule.slots.setdefault(clinic_id, {}).setdefault(doctor_id, {})
                kept.update(days)  # a date sent replaces that date; dates not sent stay [assumed]
                dates += len(days)
                slots += sum(len(day) for day in days.values())
        _pushed(acc, "slots")
        return JSONResponse({"result": {"dates": dates, "slots": slots}})  # [assumed] the client ignores it

    @router.get("/{account}/api/v1/slots")
    async def read_slots(account: str, request: Request) -> Response:
        """``GET slots`` (``SlotListDTO``): ``mis_clinic_id``, ``mis_doctor_id``, ``from``/``to``
        dates (inclusive) → ``{"result": {"items": {date: [{from, to}]}}}``."""
        acc = guard(account, request)
        if isinstance(acc, Response):
            return acc
        params = php_query(request.query_params.multi_items())
        errors = _Errors()
        clinic, doctor = params.get("mis_clinic_id"), params.get("mis_doctor_id")
        for name, value in (("mis_clinic_id", clinic), ("mis_doctor_id", doctor)):
            if value in (None, ""):
                errors.add(name, f"The {_label(name)} field is required.")
        bounds = {}
        for name in ("from", "to"):
            raw = params.get(name)
            if raw not in (None, ""):
                if not isinstance(raw, str) or not _valid_date(raw[:10]):
                    errors.add(name, f"The {name} field must be a valid date.")
                else:
                    bounds[name] = raw[:10]
        if answer := errors.response():
            return answer
        days = acc.schedule.slots.get(clinic, {}).get(doctor, {})
        items = {
            day: slots
            for day, slots in sorted(days.items())
            if (not bounds.get("from") or day >= bounds["from"]) and (not bounds.get("to") or day <= bounds["to"])
        }
        return JSONResponse({"result": {"items": items}})

    @router.api_route("/{account}/api/v1/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(account: str, rest: str) -> Response:
        return _not_found(f"The route api/v1/{rest} could not be found.")

    # -- control API ------------------------------------------------------------------------------
    def known(account: str) -> _Account | JSONResponse:
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        return service.account(account)

    @control.post("/{account}/appointments", status_code=201)
    async def inject(account: str, appointment: Annotated[dict[str, Any], Body()]) -> Response:
        """Store a raw appointment, created now (unless it brings its own ``created_at``), served as-is
        apart from ``is_received``/``is_cancelled``/``updated_at``, which follow its state."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        now = ctx.clock.now()
        body = dict(appointment)
        body.setdefault("uuid", str(uuidlib.uuid4()))
        created = parse_time(body.get("created_at")) or now  # exact when created now: the deadline counts from it
        body.setdefault("created_at", laravel_time(now))
        body.setdefault("updated_at", body["created_at"])
        received, cancelled = bool(body.get("is_received")), bool(body.get("is_cancelled"))
        acc.injected.append(_Injected(body, created, received, cancelled))
        return JSONResponse({"stored": service.find(acc, body["uuid"], now).item}, status_code=201)

    @control.get("/{account}/acknowledgements")
    async def acknowledgements(account: str) -> Response:
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        acks = {
            uuid: {"success": a.success, "message": a.message, "at": laravel_time(a.at)} for uuid, a in acc.acks.items()
        }
        return JSONResponse({"account": account, "acknowledgements": acks})

    @control.put("/{account}/cancel_after")
    async def cancel_after(account: str, update: Annotated[dict[str, Any], Body()]) -> Response:
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        seconds = update.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
            return JSONResponse({"detail": "seconds must be a number >= 0"}, status_code=422)
        acc.cancel_after = float(seconds)
        return JSONResponse({"account": account, "cancel_after": acc.cancel_after})

    @control.put("/{account}/throttle")
    async def throttle(account: str, update: Annotated[dict[str, Any], Body()]) -> Response:
        """The next ``count`` API requests get 429 "Too Many Attempts." with ``Retry-After: retry_after``."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        count, retry_after = update.get("count", 1), update.get("retry_after", 1)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in (count, retry_after)):
            return JSONResponse({"detail": "count and retry_after must be whole numbers >= 0"}, status_code=422)
        acc.throttled, acc.retry_after = count, retry_after
        return JSONResponse({"account": account, "throttled": acc.throttled, "retry_after": acc.retry_after})

    @control.put("/{account}/set_received_failure")
    async def set_received_failure(account: str, update: Annotated[dict[str, Any], Body()]) -> Response:
        """``POST appointments/set-received`` alone fails with ``status`` (a 5xx, default 503) while
        ``GET appointments`` keeps working: ``{"failing": true}`` every one until ``{"failing":
        false}``; with ``"count": N`` only the next N."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        failing, status, count = update.get("failing", True), update.get("status", 503), update.get("count")
        if not isinstance(failing, bool):
            return JSONResponse({"detail": "failing must be true or false"}, status_code=422)
        if isinstance(status, bool) or not isinstance(status, int) or not 500 <= status <= 599:
            return JSONResponse({"detail": "status must be a 5xx status code"}, status_code=422)
        if count is not None and (isinstance(count, bool) or not isinstance(count, int) or count < 0):
            return JSONResponse({"detail": "count must be a whole number >= 0, or absent"}, status_code=422)
        acc.ack_failure = _AckFailure(status, count) if failing else None
        return JSONResponse(_ack_failure_state(acc))

    @control.get("/{account}/stats")
    async def stats(account: str) -> Response:
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        items = [s.item for s in service.served(acc, ctx.clock.now())]
        return JSONResponse(
            {
                "account": account,
                "cancel_after": acc.cancel_after,
                "total": len(items),
                "unreceived": sum(1 for i in items if not i["is_received"] and not i["is_cancelled"]),
                "cancelled": sum(1 for i in items if i["is_cancelled"]),
                "auto_cancelled": sum(1 for i in items if i["is_cancelled"] and not i["is_received"]),
                "without_phone": sum(1 for i in items if i.get("patient_phone") in (None, "")),
                "injected": len(acc.injected),
                "acknowledged": len(acc.acks),
                "set_received_failed": acc.ack_failures_served,
            }
        )

    @control.get("/received")
    async def received_by_account() -> Response:
        """Every account that was pushed a schedule (clinics, doctors or slots), with its counts."""
        kept = [(name, acc.schedule) for name, acc in list(service._accounts.items())]
        return JSONResponse(received_index(NAME, [(name, sum(k.pushes.values()), k.rejected) for name, k in kept]))

    @control.get("/{account}/received")
    async def received(account: str) -> Response:
        """The schedule as the account keeps it: clinics, doctors, and per clinic, doctor and date the
        slots of the last push naming that date (``[]`` = sent empty), with push and refusal counts."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        kept = acc.schedule
        slots = {
            clinic: {doctor: dict(sorted(days.items())) for doctor, days in sorted(doctors.items())}
            for clinic, doctors in sorted(kept.slots.items())
        }
        return JSONResponse(
            {
                "account": account,
                "clinics": dict(sorted(kept.clinics.items())),
                "doctors": dict(sorted(kept.doctors.items())),
                "slots": slots,
                "pushes": kept.pushes,
                "last_push_at": kept.last_push_at,
                "rejected": kept.rejected,
                "last_errors": kept.last_errors,
            }
        )

    @control.delete("/{account}/state")
    async def reset(account: str) -> Response:
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        service.reset(account)
        return JSONResponse({"account": account, "reset": True})

    return Service(NAME, router, control)
