"""32top partner API, **as assumed** (32top publishes none; reference aggregators.md §4): routes under
``/top32/{account}/api/partner/v1/``: ``GET me``, ``GET leads`` and ``PUT schedule`` (the free
slots, validated strictly and kept for ``GET /_sandbox/top32/{account}/received``). The contract is written down
once, in ``plugins/ident_hooks/top32.py``'s docstring; this module emulates exactly that and is
swapped together with it when 32top's real specification arrives.

Every account name gets deterministic leads: ``LEADS_PER_DAY`` a day over the ``--days`` before
start-up (``processed`` by the clinic some minutes later, a few ``cancelled``; all of it settled
before start-up, so the history never changes under a test), then one new lead every
``--live-interval`` seconds, computed from the clock (``demo_data.Arrivals``). About 8 % are invalid
on purpose (``DEFECT_KINDS``), recorded in a side table (``GET /_sandbox/top32/{account}/defects``),
never in the JSON. The shared fault middleware applies (service name ``top32``); ``POST
/_sandbox/top32/{account}/errors`` makes the next API calls answer one of the contract's errors.
"""

from __future__ import annotations

import hmac
import math
import random
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..clock import format_iso
from ..context import SandboxContext, Service
from ..demo_data import (
    COMMENTS,
    DOCTORS,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    MALE_NAMES,
    MOBILE_CODES,
    PHONE_TEXTS,
    SURNAMES,
    Arrivals,
    _translit,
)
from ..faults import stable_int
from ..received import (
    CLOCK_TIME,
    BodyError,
    ReceivedLog,
    check_horizon,
    check_keys,
    check_timezone,
    is_int,
    nonempty_text,
    parse_local_date,
    read_json,
    received_index,
)

NAME = "top32"
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
API = "api/partner/v1"
LEADS_PER_DAY = 15
DEFAULT_PER_PAGE, MAX_PER_PAGE = 20, 100
DEFECT_CYCLE = 25  # 2 leads in 25 = 8 % invalid on purpose
DEFECT_KINDS = (
    "phone_missing",  # patient_phone null or ""
    "phone_with_letters",  # the number followed by free text
    "appointment_unreadable",  # appointment_start as the patient's words or a Russian date, not ISO 8601
)
# Valid leads shaped unusually (listed in the side table as "quirks").
QUIRK_PHONE_NUMBER = "phone_as_number"  # ~1 in 6: patient_phone is a JSON number
QUIRK_NO_SLOT = "no_appointment"  # ~1 in 10: a call-back request, no slot and no doctor
QUIRK_START_OFFSET = "appointment_start_with_offset"  # ~1 in 7: ISO 8601 with an offset, not local time
SOURCES = (("catalog", 0.6), ("widget", 0.3), ("app", 0.1))
BRANCHES = (
    {"id": "1", "name": "Стоматология «Дента» на Невском"},
    {"id": "2", "name": "Стоматология «Дента» в Купчино"},
)
UNREADABLE_STARTS = ("завтра после обеда", "в субботу утром", "как можно скорее")
ERRORS = {  # code -> (HTTP status, default message)
    "unauthorized": (401, "Invalid API key"),
    "forbidden": (403, "API access is disabled for this clinic account"),
    "not_found": (404, "Not found"),
    "validation_error": (422, "The request is invalid"),
    "rate_limited": (429, "Too many requests, retry later"),
    "internal_error": (500, "Internal error"),
}
_SPACE_OFFSET = re.compile(r"^(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?) (\d{2}(?::?\d{2})?)$")


def wire_time(moment: datetime, tz: tzinfo) -> str:
    return format_iso(moment, tz)  # 2025-03-10T11:58:12+03:00


def parse_bound(value: str) -> datetime | None:
    """A filter value: ISO 8601 with an offset (a ``+`` decoded as a space is mended); None if
    unreadable or without an offset."""
    text = value.strip()
    match = _SPACE_OFFSET.match(text)
    if match:
        text = f"{match.group(1)}+{match.group(2)}"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def created_of(lead: dict) -> datetime | None:
    value = lead.get("created_at")
    return parse_bound(value) if isinstance(value, str) else None


# -- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Lead:
    index: int
    id: int
    created: datetime  # whole seconds, as created_at shows it
    updated: datetime
    body: dict
    defect: str | None
    quirks: tuple[str, ...]


class Top32Leads(Arrivals):
    """Leads of one account, a pure function of (seed, account, index) and the start time:
    indexes ``0 .. back_count-1`` the history (stratified over the ``days`` before the start),
    ``back_count + j`` the j-th live lead, ``(j+1) * live_interval`` s after the start."""

    def __init__(self, seed: int, account: str, start_time: datetime, tz: tzinfo, days: int, live_interval: float):
        super().__init__(seed, f"top32:{account}", start_time, days, LEADS_PER_DAY, live_interval)
        self.account, self.tz = account, tz
        # Ids carry the start minute: a restarted sandbox never serves an old id at a new time.
        self.id_base = int(start_time.timestamp()) // 60 * 1_000_000 + stable_int(seed, account, "top32-id") % 900_000
        self._defect_phase = stable_int(seed, account, "top32-defect") % DEFECT_CYCLE
        self._cache: dict[int, Lead] = {}

    def defect(self, index: int) -> str | None:
        cycle, slot = divmod(index - self._defect_phase, DEFECT_CYCLE)
        if slot not in (0, DEFECT_CYCLE // 2):
            return None
        return DEFECT_KINDS[(cycle * 2 + (slot != 0)) % len(DEFECT_KINDS)]

    def lead(self, index: int) -> Lead:
        cached = self._cache.get(index)
        if cached is None:
            cached = self._cache[index] = self._build(index)
        return cached

    def _build(self, index: int) -> Lead:
        rng = random.Random(stable_int(self.seed, self.account, "top32-lead", index))
        created = self.arrival(index).replace(microsecond=0)
        defect, quirks = self.defect(index), []
        female = rng.random() < 0.6
        first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        surname = rng.choice(SURNAMES) + ("а" if female else "")
        name = first if rng.random() < 0.3 else f"{first} {surname}" if rng.random() < 0.6 else f"{surname} {first}"
        code, s = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
        phone: str | int | None = rng.choice((f"+7{code}{s}", f"+7 ({code}) {s[:3]}-{s[3:5]}-{s[5:]}", f"8{code}{s}"))
        if defect == "phone_missing":
            phone = rng.choice((None, ""))
        elif defect == "phone_with_letters":
            phone = f"{phone} {rng.choice(PHONE_TEXTS)}"
        elif defect is None and rng.random() < 1 / 6:
            phone = int(f"7{code}{s}")
            quirks.append(QUIRK_PHONE_NUMBER)
        email = None
        if rng.random() < 0.4:
            email = f"{_translit(first)}.{_translit(surname)}{rng.randint(1, 99)}@{rng.choice(EMAIL_DOMAINS)}"

        local = created.astimezone(self.tz)
        day = (local + timedelta(days=rng.randint(1, 14))).date()
        slot = datetime(day.year, day.month, day.day, rng.randint(9, 19), rng.choice((0, 15, 30, 45)), tzinfo=self.tz)
        doctor: str | None = rng.choice(DOCTORS)[1].split()[0]
        start: str | None = slot.strftime("%Y-%m-%dT%H:%M:%S")  # clinic local time, no offset
        if defect == "appointment_unreadable":
            start = rng.choice((*UNREADABLE_STARTS, f"{slot:%d.%m.%Y %H:%M}"))
        elif defect is None and rng.random() < 0.1:
            start = doctor = None
            quirks.append(QUIRK_NO_SLOT)
        elif defect is None and rng.random() < 1 / 7:
            start = slot.isoformat()
            quirks.append(QUIRK_START_OFFSET)

        source = rng.choices([s for s, _ in SOURCES], weights=[w for _, w in SOURCES])[0]
        branch = rng.choice(BRANCHES) if rng.random() < 0.8 else None
        page_url = {
            "catalog": f"https://spb.32top.ru/clinics/{1000 + int((branch or BRANCHES[0])['id'])}/",
            "widget": "https://denta-clinic.example/zapis/",
        }.get(source)
        # The clinic's handling, all settled before start-up: the history never changes while it runs.
        status, updated = "new", created
        if index < self.back_count:
            processed = created + timedelta(minutes=rng.randint(5, 180))
            if processed <= self.start_time:
                status, updated = "processed", processed
                cancelled = processed + timedelta(hours=rng.randint(1, 48))
                if rng.random() < 0.1 and cancelled <= self.start_time:
                    status, updated = "cancelled", cancelled
        body = {
            "id": self.id_base + index,
            "created_at": wire_time(created, self.tz),
            "updated_at": wire_time(updated, self.tz),
            "status": status,
            "source": source,
            "patient_name": name,
            "patient_phone": phone,
            "patient_email": email,
            "doctor_surname": doctor,
            "appointment_start": start,
            "comment": (rng.choice(COMMENTS) or None) if rng.random() < 0.4 else None,
            "branch": dict(branch) if branch else None,
            "page_url": page_url,
        }
        return Lead(index, body["id"], created, updated, body, defect, tuple(quirks))


class ForcedError(BaseModel):
    """Body of ``POST /_sandbox/top32/{account}/errors``: the next ``count`` API calls answer ``code``."""

    model_config = ConfigDict(extra="forbid")

    code: str
    count: int = Field(default=1, ge=1, le=1000)
    message: str | None = None
    retry_after: int = Field(default=1, ge=0, le=3600)  # rate_limited: the Retry-After header


@dataclass
class _Account:
    leads: Top32Leads
    injected: list[dict] = field(default_factory=list)
    forced: deque[ForcedError] = field(default_factory=deque)  # one entry per answer still to force
    calls: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    schedules: ReceivedLog = field(default_factory=ReceivedLog)  # PUT schedule pushes accepted


def error(code: str, message: str | None = None, status: int | None = None, **extra: Any) -> JSONResponse:
    default_status, default_message = ERRORS.get(code, (400, code))
    body: dict[str, Any] = {"code": code, "message": message or default_message}
    headers = {}
    if "details" in extra:
        body["details"] = extra["details"]
    if code == "rate_limited":
        headers["Retry-After"] = str(extra.get("retry_after", 1))
    return JSONResponse({"error": body}, status_code=status or default_status, headers=headers)


class Top32:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._accounts: dict[str, _Account] = {}

    def account(self, name: str) -> _Account:
        acc = self._accounts.get(name)
        if acc is None:
            s = self.ctx.settings
            leads = Top32Leads(s.seed, name, self.ctx.clock.start_time, self.ctx.tz, s.days, s.live_interval)
            acc = self._accounts[name] = _Account(leads)
        return acc

    def reset(self, name: str) -> None:
        self._accounts.pop(name, None)

    def now(self) -> datetime:
        return self.ctx.clock.now()

    def select(
        self, acc: _Account, created_from: datetime | None, created_to: datetime | None, updated_from: datetime | None
    ) -> list[dict]:
        """Visible leads matching the filters, by created_at then id; injected ones whose created_at
        cannot be read come last, in every selection (they cannot be judged)."""
        now = self.now()
        picked: list[tuple[tuple, dict]] = []
        gen = acc.leads
        for index in range(gen.visible_count(now)):
            lead = gen.lead(index)
            if created_from and lead.created < created_from or created_to and lead.created > created_to:
                continue
            if updated_from and lead.updated < updated_from:
                continue
            picked.append(((0, lead.created.timestamp(), _id_key(lead.id), 0), lead.body))
        for seq, raw in enumerate(acc.injected):
            created = created_of(raw)
            if created is None:
                picked.append(((1, 0.0, ("", ""), seq), raw))
                continue
            if created > now or created_from and created < created_from or created_to and created > created_to:
                continue
            updated = parse_bound(raw["updated_at"]) if isinstance(raw.get("updated_at"), str) else None
            if updated_from and (updated or created) < updated_from:
                continue
            picked.append(((0, created.timestamp(), _id_key(raw.get("id")), 1 + seq), raw))
        picked.sort(key=lambda item: item[0])
        return [lead for _, lead in picked]


SCHEDULE_KEYS = {"date_from", "date_to", "branches", "doctors"}
BRANCH_KEYS = {"id", "name", "timezone"}
DOCTOR_KEYS = {"id", "surname", "full_name", "branch_id", "dates"}
MAX_DURATION = 24 * 60


def validate_schedule(body: Any) -> tuple[dict[str, str], dict[str, int]]:
    """``PUT schedule``'s rules as the hook's docstring states them; the errors by field path and a
    summary of what the body holds."""
    details: dict[str, str] = {}
    if not isinstance(body, dict):
        return {"(body)": f"must be an object, got {type(body).__name__}"}, {}
    check_keys(details, "", body, SCHEDULE_KEYS)
    first, last = check_horizon(details, body)
    branch_ids: set[str] = set()
    branches = body.get("branches", [])
    if not isinstance(branches, list):
        details["branches"] = "must be an array"
        branches = []
    for n, branch in enumerate(branches):
        where = f"branches[{n}]"
        if not isinstance(branch, dict):
            details[where] = "must be an object"
            continue
        check_keys(details, where, branch, BRANCH_KEYS)
        if not nonempty_text(branch.get("id")):
            details[f"{where}.id"] = f"must be a non-empty string, got {branch.get('id')!r}"
        elif branch["id"] in branch_ids:
            details[f"{where}.id"] = f"{branch['id']!r} is listed twice"
        else:
            branch_ids.add(branch["id"])
        if not nonempty_text(branch.get("name")):
            details[f"{where}.name"] = "must be a non-empty string"
        check_timezone(details, where, branch)
    doctors = body.get("doctors", [])
    if not isinstance(doctors, list):
        details["doctors"] = "must be an array"
        doctors = []
    entries: set[tuple[str, str]] = set()
    spans: dict[str, list[tuple[int, int, str]]] = {}
    slots_total = 0
    for n, doctor in enumerate(doctors):
        where = f"doctors[{n}]"
        if not isinstance(doctor, dict):
            details[where] = "must be an object"
            continue
        check_keys(details, where, doctor, DOCTOR_KEYS)
        doctor_id, branch_id = doctor.get("id"), doctor.get("branch_id")
        if not nonempty_text(doctor_id):
            details[f"{where}.id"] = f"must be a non-empty string, got {doctor_id!r}"
        if not nonempty_text(branch_id) or branch_id not in branch_ids:
            details[f"{where}.branch_id"] = f"must be the id of one of branches, got {branch_id!r}"
        if nonempty_text(doctor_id) and nonempty_text(branch_id):
            if (doctor_id, branch_id) in entries:
                details[f"{where}.id"] = f"doctor {doctor_id!r} is listed twice for branch {branch_id!r}"
            entries.add((doctor_id, branch_id))
        full_name, last_name = doctor.get("full_name"), doctor.get("surname")
        if not nonempty_text(full_name):
            details[f"{where}.full_name"] = "must be a non-empty string"
        if not nonempty_text(last_name):
            details[f"{where}.surname"] = "must be a non-empty string"
        elif nonempty_text(full_name) and full_name.split()[0] != last_name:
            details[f"{where}.surname"] = f"{last_name!r} is not the first word of full_name {full_name!r}"
        dates = doctor.get("dates", [])
        if not isinstance(dates, list):
            details[f"{where}.dates"] = "must be an array"
            continue
        previous_day: date | None = None
        for d, day in enumerate(dates):
            at = f"{where}.dates[{d}]"
            if not isinstance(day, dict):
                details[at] = "must be an object"
                continue
            check_keys(details, at, day, {"date", "slots"})
            local = parse_local_date(day.get("date"))
            if local is None:
                details[f"{at}.date"] = f"must be a date YYYY-MM-DD, got {day.get('date')!r}"
            elif first and last and not first <= local <= last:
                details[f"{at}.date"] = f"{local} is outside date_from..date_to"
            elif previous_day and local <= previous_day:
                details[f"{at}.date"] = f"{local} is not after the date before it ({previous_day})"
            previous_day = local or previous_day
            slots = day.get("slots", [])
            if not isinstance(slots, list):
                details[f"{at}.slots"] = "must be an array"
                continue
            for k, slot in enumerate(slots):
                spot = f"{at}.slots[{k}]"
                slots_total += 1
                if not isinstance(slot, dict):
                    details[spot] = "must be an object"
                    continue
                check_keys(details, spot, slot, {"time", "duration"})
                time_text, duration = slot.get("time"), slot.get("duration")
                if not isinstance(time_text, str) or not CLOCK_TIME.match(time_text):
                    details[f"{spot}.time"] = f"must be HH:MM, got {time_text!r}"
                    time_text = None
                if not (is_int(duration) and 0 < duration <= MAX_DURATION):
                    details[f"{spot}.duration"] = f"must be a positive number of minutes, got {duration!r}"
                    duration = None
                if local and time_text and duration and nonempty_text(doctor_id):
                    hours, minutes = map(int, time_text.split(":"))
                    begins = local.toordinal() * 1440 + hours * 60 + minutes  # minutes, local
                    spans.setdefault(where, []).append((begins, duration, spot))
    for entry_spans in spans.values():  # one doctor at one branch: local times compare
        entry_spans.sort(key=lambda span: span[0])
        for (start_a, length_a, before), (start_b, _, after) in zip(entry_spans, entry_spans[1:], strict=False):
            if start_b < start_a + length_a:
                details[f"{after}.time"] = f"overlaps {before}"
    summary = {"branches": len(branch_ids), "doctors": len(entries), "slots": slots_total}
    return details, summary


def _id_key(value: Any) -> tuple:
    text = str(value)
    return (text.zfill(20), text) if text.isdigit() else ("~" + text, text)


def _integer(details: dict, params: dict, name: str, default: int, low: int, high: int | None) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not re.fullmatch(r"\s*-?\d+\s*", raw):
        details[name] = "must be an integer"
        return default
    value = int(raw)
    if value < low or (high is not None and value > high):
        details[name] = f"must be between {low} and {high}" if high is not None else f"must be at least {low}"
    return value


def create(ctx: SandboxContext) -> Service:
    service = Top32(ctx)
    router = APIRouter()
    control = APIRouter()

    def guard(account: str, request: Request, route: str) -> _Account | Response:
        """Unknown account name → 404; missing or wrong Bearer key → 401; then a forced error, if any."""
        if not _ACCOUNT.fullmatch(account):
            return error("not_found", f"Unknown account {account!r}")
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        acc = service.account(account)
        if scheme.lower() != "bearer" or not token.strip():
            acc.errors["unauthorized"] += 1
            return error("unauthorized", "Missing Authorization: Bearer <API key>")
        if not hmac.compare_digest(token.strip().encode(), ctx.settings.key.encode()):
            acc.errors["unauthorized"] += 1
            return error("unauthorized")
        if acc.forced:
            forced = acc.forced.popleft()
            acc.errors[forced.code] += 1
            return error(forced.code, forced.message, retry_after=forced.retry_after)
        acc.calls[route] += 1
        return acc

    @router.get(f"/{{account}}/{API}/me")
    async def me(account: str, request: Request) -> Response:
        acc = guard(account, request, "me")
        if isinstance(acc, Response):
            return acc
        clinic_id = str(10_000 + stable_int(ctx.settings.seed, account, "top32-clinic") % 90_000)
        return JSONResponse(
            {"data": {"clinic_id": clinic_id, "name": f"Стоматология «Дента» ({account})", "timezone": ctx.tz.key}}
        )

    @router.get(f"/{{account}}/{API}/leads")
    async def leads(account: str, request: Request) -> Response:
        acc = guard(account, request, "leads")
        if isinstance(acc, Response):
            return acc
        params = dict(request.query_params)
        details: dict[str, str] = {}
        bounds: dict[str, datetime | None] = {}
        for name in ("created_from", "created_to", "updated_from"):
            raw = params.get(name)
            bounds[name] = None
            if raw not in (None, ""):
                bounds[name] = parse_bound(raw)
                if bounds[name] is None:
                    details[name] = "must be an ISO 8601 date-time with an offset, e.g. 2025-03-10T00:00:00+03:00"
        page = _integer(details, params, "page", 1, 1, None)
        per_page = _integer(details, params, "per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
        if details:
            acc.errors["validation_error"] += 1
            return error("validation_error", "The request is invalid", details=details)
        selected = service.select(acc, bounds["created_from"], bounds["created_to"], bounds["updated_from"])
        chunk = selected[(page - 1) * per_page : page * per_page]
        meta = {"page": page, "per_page": per_page, "total": len(selected),
                "total_pages": math.ceil(len(selected) / per_page)}  # fmt: skip
        return JSONResponse({"data": chunk, "meta": meta})

    @router.put(f"/{{account}}/{API}/schedule")
    async def put_schedule(account: str, request: Request) -> Response:
        """The free slots, a full snapshot (the contract in the hook's docstring); gzip accepted."""
        acc = guard(account, request, "schedule")
        if isinstance(acc, Response):
            return acc
        try:
            body, encoding = await read_json(request)
        except BodyError as exc:
            acc.errors["validation_error"] += 1
            acc.schedules.reject([str(exc)])
            return error("validation_error", f"The request body cannot be read: {exc}")
        details, summary = validate_schedule(body)
        if details:
            acc.errors["validation_error"] += 1
            acc.schedules.reject([f"{path}: {text}" for path, text in details.items()])
            return error("validation_error", "The schedule is invalid", details=details)
        acc.schedules.accept(body, at=format_iso(service.now(), ctx.tz), encoding=encoding, summary=summary)
        return JSONResponse({"data": {"doctors": summary["doctors"], "slots": summary["slots"]}})

    @router.api_route("/{account}/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(account: str, rest: str, request: Request) -> Response:
        return error("not_found", f"No route {request.method} /{rest}")

    # -- control API ------------------------------------------------------------------------------
    def known(account: str) -> _Account | JSONResponse:
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        return service.account(account)

    @control.post("/{account}/leads", status_code=201)
    async def add_lead(account: str, lead: Annotated[dict[str, Any], Body()]) -> Response:
        """Store a raw lead, served as-is; ``id`` and ``created_at`` (now) are made up when absent,
        ``updated_at`` defaults to ``created_at``."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        body = dict(lead)
        body.setdefault("id", acc.leads.id_base + 500_000 + len(acc.injected))
        body.setdefault("created_at", wire_time(service.now().replace(microsecond=0), ctx.tz))
        body.setdefault("updated_at", body["created_at"])
        acc.injected.append(body)
        return JSONResponse({"stored": body, "injected_total": len(acc.injected)}, status_code=201)

    @control.post("/{account}/errors")
    async def force_errors(account: str, forced: ForcedError) -> Response:
        """The next ``count`` API calls (after the key check) answer error ``code`` with its status."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        if forced.code not in ERRORS:
            return JSONResponse({"detail": f"unknown code {forced.code!r}; one of {sorted(ERRORS)}"}, status_code=422)
        acc.forced.extend([forced] * forced.count)
        return JSONResponse({"account": account, "forced": [f.code for f in acc.forced]})

    @control.get("/{account}/defects")
    async def defects(account: str) -> Response:
        """Intended defect (and harmless quirks) of every visible generated lead; injected ones excluded."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        gen = acc.leads
        shown = [gen.lead(i) for i in range(gen.visible_count(service.now()))]
        return JSONResponse(
            {
                "account": account,
                "defects": {str(lead.id): lead.defect for lead in shown if lead.defect},
                "quirks": {str(lead.id): list(lead.quirks) for lead in shown if lead.quirks},
            }
        )

    @control.get("/received")
    async def received_by_account() -> Response:
        """Every account that was pushed a schedule, with its counts and where to see it."""
        logs = [(name, acc.schedules) for name, acc in list(service._accounts.items())]
        return JSONResponse(received_index(NAME, [(name, log.accepted, log.rejected) for name, log in logs]))

    @control.get("/{account}/received")
    async def received(account: str, bodies: bool = True) -> Response:
        """The PUT schedule pushes accepted (the last 20, each whole unless ``bodies=false``) and the
        last rejection's errors."""
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        return JSONResponse({"account": account, **acc.schedules.as_json(bodies)})

    @control.get("/{account}/stats")
    async def stats(account: str) -> Response:
        acc = known(account)
        if isinstance(acc, Response):
            return acc
        gen = acc.leads
        visible = gen.visible_count(service.now())
        return JSONResponse(
            {
                "account": account,
                "now": format_iso(service.now(), ctx.tz),
                "leads_visible": visible,
                "invalid_visible": sum(1 for i in range(visible) if gen.defect(i)),
                "injected": len(acc.injected),
                "forced_pending": len(acc.forced),
                "calls_by_route": dict(acc.calls),
                "errors_by_code": dict(sorted(acc.errors.items())),
                **ctx.served(NAME, account),
            }
        )

    @control.delete("/{account}/state")
    async def reset_state(account: str) -> Response:
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        service.reset(account)
        return JSONResponse({"account": account, "reset": True})

    return Service(NAME, router, control)
