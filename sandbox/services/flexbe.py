"""Flexbe legacy per-site API (reference external-apis.md §2): ``GET|POST /flexbe/{site}/mod/api/``.

Methods ``checkConnection``, ``getLeads`` and ``changeLead``; ``api_key`` and ``method`` (and every
other parameter) from the query string or a urlencoded form body (the form wins); the key is the
sandbox key. Every answer is HTTP 200 JSON: ``{"status":1,…}`` or ``{"error":{"code","msg"}}``.

Every site name works and has its own deterministic leads: ``LEADS_PER_DAY`` a day over the
``--days`` before start-up, then one every ``--live-interval`` seconds (computed from the clock, as
``sandbox/demo_data.py``'s LeadGenerator does), from a few landing forms. About 8 % are invalid on
purpose (``DEFECT_KINDS``), recorded in a side table, never in the JSON.

What the reference leaves open ([UNCONFIRMED]) is emulated as assumed here and in
``plugins/ident_hooks/flexbe.py``: errors come with HTTP 200; codes 0 invalid key, 1 request limit,
2 unknown method, and 3 (ours) for a ``changeLead`` of an unknown lead; ``count`` defaults to
``DEFAULT_COUNT`` and larger values than ``MAX_COUNT`` are clamped to it; ``date_from`` keeps leads
with ``time >= date_from``; leads are ordered by ``time`` then id, ascending; unreadable numbers are
read as PHP's ``intval`` reads them; an empty ``data.leads`` is ``[]`` (PHP's ``json_encode`` of an
empty array); the request limit is off unless set through the control API.
"""

from __future__ import annotations

import hmac
import math
import random
import re
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..clock import format_iso
from ..context import SandboxContext, Service
from ..demo_data import (
    COMMENTS,
    EMAIL_DOMAINS,
    FEMALE_NAMES,
    MALE_NAMES,
    MOBILE_CODES,
    PHONE_TEXTS,
    SURNAMES,
    UTM_CAMPAIGNS,
    UTM_CONTENTS,
    UTM_SOURCES,
    UTM_TERMS,
    Arrivals,
    _translit,
)
from ..faults import stable_int

NAME = "flexbe"
LEADS_PER_DAY = 30
DEFAULT_COUNT = 100  # [UNCONFIRMED] getLeads without `count`
MAX_COUNT = 500  # [UNCONFIRMED] a larger `count` is clamped to this
DEFECT_CYCLE, DEFECTS_PER_CYCLE = 25, 2  # 2 leads in 25 = 8 % invalid on purpose
DEFECT_KINDS = (
    "phone_missing",  # no phone anywhere: client.phone "" and no phone field in form_data
    "phone_with_letters",  # the number followed by free text, in client.phone and in the form
    "client_empty",  # client is [] or all-empty strings, and the form has no contact fields
)
# Valid leads that are shaped unusually (listed in the side table as "quirks", not as defects).
QUIRK_TIME_STRING = "time_as_string"  # ~1 in 5: "time" is a numeric string, not an int
QUIRK_PHONE_IN_FORM = "phone_only_in_form_data"  # ~3 %: client.phone "", the number only in form_data
STATUSES = {0: "Новая", 1: "В работе", 2: "Выполнена", 10: "Отменена", 11: "Удалена"}  # [CODE] codes
ERRORS = {
    0: "Invalid API key",
    1: "Request limit exceeded",
    2: "Unknown method",
    3: "Lead not found",  # ours: the reference names no error for changeLead
}
_SITE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_INTVAL = re.compile(r"\s*([+-]?\d+)")

# fmt: off
# (type, field name, choices for select/text/checkbox): the fields of each landing form, in order.
_NAME, _PHONE, _EMAIL = ("name", "Имя", ()), ("phone", "Телефон", ()), ("email", "Email", ())
_COMMENT = ("textarea", "Комментарий", ())
_CONSENT = ("checkbox", "Согласен на обработку персональных данных", ("Да",))
SERVICES = ("Имплантация", "Брекеты и элайнеры", "Лечение кариеса", "Профгигиена", "Отбеливание",
            "Детская стоматология")
CALL_TIMES = ("с 10 до 12", "в обед", "после 18:00", "любое время", "утром, до работы")


@dataclass(frozen=True)
class Form:
    name: str
    page_path: str  # the landing page's path on the site
    page_name: str
    fields: tuple[tuple[str, str, tuple[str, ...]], ...]
    weight: float


FORMS = (
    Form("Запись на консультацию", "implantatsiya", "Имплантация зубов под ключ",
         (_NAME, _PHONE, _EMAIL, ("select", "Услуга", SERVICES), ("text", "Удобное время для звонка", CALL_TIMES),
          _COMMENT), 0.35),
    Form("Обратный звонок", "", "Стоматология на Лесной", (_NAME, _PHONE), 0.30),
    Form("Квиз: стоимость имплантации", "kviz-implantatsiya", "Рассчитайте стоимость имплантации",
         (("select", "Сколько зубов нужно восстановить?", ("1 зуб", "2–3 зуба", "4 и более", "Вся челюсть")),
          ("select", "Когда планируете лечение?", ("В ближайшую неделю", "В течение месяца", "Пока присматриваюсь")),
          _NAME, _PHONE, _CONSENT), 0.20),
    Form("Акция: профгигиена за 2990", "akciya-profgigiena", "Профгигиена за 2990 ₽",
         (_NAME, _PHONE, _EMAIL, _CONSENT), 0.15),
)
NOTES = ("Перезвонить завтра", "Не дозвонились", "Записана на консультацию", "Дубль заявки", "Просит скидку")
# fmt: on
_CONTACT_TYPES = {"name", "phone", "email"}


def site_domain(site: str) -> str:
    """The landing's domain: the site name itself when it has a dot, else ``<site>.example``."""
    return site if "." in site else f"{site}.example"


@dataclass(frozen=True)
class Lead:
    index: int
    id: int
    time: int  # Unix seconds (the body may carry it as a string)
    body: dict  # the lead object as getLeads serves it, status as generated
    defect: str | None
    quirks: tuple[str, ...]


class FlexbeLeads(Arrivals):
    """Leads of one site, a pure function of (seed, site, index) and the sandbox start time: indexes
    ``0 .. back_count-1`` are the back catalogue (stratified times over the ``days`` before the
    start), index ``back_count + j`` the j-th live lead, ``(j+1) * live_interval`` s after the start."""

    def __init__(self, seed: int, site: str, start_time: datetime, days: int, live_interval: float) -> None:
        super().__init__(seed, site, start_time, days, LEADS_PER_DAY, live_interval)
        self.site = site
        # Ids carry the start minute, as demo_data's: a restarted sandbox never serves an old id at a new time.
        self.id_base = int(start_time.timestamp()) // 60 * 1_000_000 + stable_int(seed, site, "id-base") % 900_000
        self.num_base = 100 + stable_int(seed, site, "num-base") % 900
        self._defect_phase = stable_int(seed, site, "defect-phase") % DEFECT_CYCLE
        self._cache: dict[int, Lead] = {}

    def time(self, index: int) -> int:
        return math.floor(self.arrival(index).timestamp())

    def first_at_or_after(self, seconds: int, visible: int) -> int:
        """The first index whose ``time`` is >= ``seconds`` (times grow with the index)."""
        return bisect_left(range(visible), seconds, key=self.time)

    def defect(self, index: int) -> str | None:
        cycle, slot = divmod(index - self._defect_phase, DEFECT_CYCLE)
        if slot not in (0, DEFECT_CYCLE // 2):
            return None
        return DEFECT_KINDS[(cycle * DEFECTS_PER_CYCLE + (slot != 0)) % len(DEFECT_KINDS)]

    def lead(self, index: int) -> Lead:
        cached = self._cache.get(index)
        if cached is None:
            cached = self._cache[index] = self._build(index)
        return cached

    def _build(self, index: int) -> Lead:
        rng = random.Random(stable_int(self.seed, self.site, "lead", index))
        lead_id, seconds, defect = self.id_base + index, self.time(index), self.defect(index)
        quirks: list[str] = []
        form = rng.choices(FORMS, weights=[f.weight for f in FORMS])[0]

        female = rng.random() < 0.6
        first = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        surname = rng.choice(SURNAMES) + ("а" if female else "")
        roll = rng.random()
        name = first if roll < 0.6 else f"{first} {surname}" if roll < 0.85 else f"{surname} {first}"
        code, subscriber = rng.choice(MOBILE_CODES), f"{rng.randrange(10**7):07d}"
        phone = _flexbe_phone(rng, code, subscriber)
        if defect == "phone_with_letters":
            phone = f"{phone} {rng.choice(PHONE_TEXTS)}"
        has_email_field = any(kind == "email" for kind, _, _ in form.fields)
        email = ""
        if has_email_field and rng.random() < 0.6:
            login = (
                f"{_translit(first)}.{_translit(surname)}"
                if rng.random() < 0.5
                else f"{_translit(surname)}{rng.randint(1, 99)}"
            )
            email = f"{login}@{rng.choice(EMAIL_DOMAINS)}"

        values = {"name": name, "phone": phone, "email": email}
        form_data: dict[str, dict] = {}
        for kind, label, choices in form.fields:
            if defect == "client_empty" and kind in _CONTACT_TYPES:
                continue
            if defect == "phone_missing" and kind == "phone":
                continue
            if kind in _CONTACT_TYPES:
                value = values[kind]
            elif kind == "textarea":
                value = rng.choice(COMMENTS) if rng.random() < 0.5 else ""
            elif kind == "checkbox":
                value = choices[0]
            else:
                value = rng.choice(choices)
            field_id = str(100_000 + stable_int(self.seed, self.site, form.name, label) % 900_000)
            form_data[field_id] = {"id": field_id, "name": label, "type": kind, "value": value}

        client: Any = {"name": name, "phone": phone, "email": email}
        if defect == "phone_missing":
            client["phone"] = ""
        elif defect == "client_empty":
            client = [] if rng.random() < 0.5 else {"name": "", "phone": "", "email": ""}
        elif rng.random() < 0.03:
            client["phone"] = ""  # the form's phone field is not linked to the client card
            quirks.append(QUIRK_PHONE_IN_FORM)

        domain = site_domain(self.site)
        page_url = f"{domain}/{form.page_path}" if form.page_path else domain
        utm = {"ip": f"{rng.randint(5, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"}
        utm |= dict.fromkeys(("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"), "")
        landing = f"https://{domain}/{form.page_path}"
        if rng.random() < 0.6:
            source, medium = rng.choice(UTM_SOURCES)
            utm |= {"utm_source": source, "utm_medium": medium, "utm_campaign": rng.choice(UTM_CAMPAIGNS)}
            if medium == "cpc" and rng.random() < 0.7:
                utm["utm_term"] = rng.choice(UTM_TERMS)
            if rng.random() < 0.5:
                utm["utm_content"] = rng.choice(UTM_CONTENTS)
            landing = f"{landing}?{urlencode([(k, v) for k, v in utm.items() if k.startswith('utm_') and v])}"
        utm["url"] = landing
        utm["ym_client_id"] = f"{seconds - rng.randrange(86_400 * 90)}{rng.randrange(10**9):09d}"
        utm["ga_client_id"] = f"GA1.2.{rng.randrange(10**9, 10**10)}.{seconds - rng.randrange(86_400 * 30)}"

        status = 0
        if index < self.back_count:
            age = (self.start_time - self.arrival(index)).total_seconds()
            statuses = (0, 1, 2, 10) if age > 86_400 else (0, 0, 0, 1)
            status = rng.choices(statuses, weights=(4, 2, 3, 1))[0]
        time_value: int | str = seconds
        if rng.random() < 0.2:
            time_value = str(seconds)
            quirks.append(QUIRK_TIME_STRING)
        body = {
            "id": lead_id,
            "num": self.num_base + index,
            "time": time_value,
            "status": {"code": status, "name": STATUSES[status]},
            "client": client,
            "note": rng.choice(NOTES) if status and rng.random() < 0.3 else "",
            "form_name": form.name,
            "form_data": form_data or [],  # PHP's json_encode of an empty array
            "products": [],
            "page": {"url": page_url, "name": form.page_name},
            "utm": utm,
        }
        if form.name.startswith("Акция") and rng.random() < 0.5:
            paid = rng.random() < 0.5
            body["pay"] = {
                "id": str(lead_id % 100_000),
                "summ": "2990.00",
                "status": {"code": 2 if paid else 0},
                "desc": "Профгигиена по акции",
                "pay_link": f"https://{domain}/pay/{lead_id}",
                "time_create": str(seconds),
                "time_done": str(seconds + rng.randint(60, 900)) if paid else None,
            }
        return Lead(index, lead_id, seconds, body, defect, tuple(quirks))


def _flexbe_phone(rng: random.Random, code: str, s: str) -> str:
    """Mostly the landing's input mask, sometimes what a browser's autofill typed."""
    roll = rng.random()
    if roll < 0.75:
        return f"+7 ({code}) {s[:3]}-{s[3:5]}-{s[5:]}"
    if roll < 0.85:
        return f"8{code}{s}"
    if roll < 0.95:
        return f"+7{code}{s}"
    return f"8 ({code}) {s[:3]}-{s[3:5]}-{s[5:]}"


def _intval(value: Any, default: int) -> int:
    """PHP's ``intval`` of a parameter: leading digits, else 0; a missing one is ``default``."""
    if value is None or value == "":
        return default
    match = _INTVAL.match(str(value))
    return int(match.group(1)) if match else 0


def _raw_time(lead: dict) -> int | None:
    value = lead.get("time")
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and math.isfinite(value):
        return math.floor(value)
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    return None


class LimitUpdate(BaseModel):
    """Body of ``PUT /_sandbox/flexbe/{site}/limit``: requests per window (``null`` = no limit)."""

    model_config = ConfigDict(extra="forbid")

    per_minute: int | None = Field(default=None, ge=0)
    window_seconds: float = Field(default=60.0, gt=0, le=86_400)  # shorter windows make tests quick


class ForcedError(BaseModel):
    """Body of ``POST /_sandbox/flexbe/{site}/errors``: the next ``count`` API calls answer error ``code``."""

    model_config = ConfigDict(extra="forbid")

    code: int
    count: int = Field(default=1, ge=1, le=1000)


@dataclass
class _Site:
    leads: FlexbeLeads
    statuses: dict[str, int] = field(default_factory=dict)  # id -> status set by changeLead
    injected: list[dict] = field(default_factory=list)  # raw leads served as-is
    forced: deque[int] = field(default_factory=deque)  # error codes the next API calls answer
    per_minute: int | None = None
    window_seconds: float = 60.0
    anchor: float = 0.0  # when the limit was set: windows are counted from it
    window: int = 0  # index of the current fixed window
    used: int = 0  # requests served in it
    methods: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)


class Flexbe:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self._sites: dict[str, _Site] = {}

    def site(self, name: str) -> _Site:
        state = self._sites.get(name)
        if state is None:
            s = self.ctx.settings
            leads = FlexbeLeads(s.seed, name, self.ctx.clock.start_time, s.days, s.live_interval)
            state = self._sites[name] = _Site(leads)
        return state

    def reset(self, name: str) -> None:
        self._sites.pop(name, None)

    def now(self) -> datetime:
        return self.ctx.clock.now()

    def limited(self, state: _Site) -> bool:
        """True when the site's request limit is spent in the current window; else counts this request."""
        if state.per_minute is None:
            return False
        window = math.floor((self.now().timestamp() - state.anchor) / state.window_seconds)
        if window != state.window:
            state.window, state.used = window, 0
        if state.used >= state.per_minute:
            return True
        state.used += 1
        return False

    def served(self, state: _Site, lead: dict) -> dict:
        """A lead with the status changeLead gave it."""
        code = state.statuses.get(str(lead.get("id")))
        if code is None:
            return lead
        return {**lead, "status": {"code": code, "name": STATUSES.get(code, "")}}

    def select(self, state: _Site, date_from: int | None, status: int | None, lead_id: str | None) -> list[dict]:
        """Visible leads matching the filters, ordered by time then id (injected ones with an
        unreadable time last, in every selection: they cannot be judged)."""
        gen = state.leads
        visible = gen.visible_count(self.now())
        lo = gen.first_at_or_after(date_from, visible) if date_from else 0
        now_s = math.floor(self.now().timestamp())
        picked: list[tuple[tuple, dict]] = []
        if lead_id is not None:
            number = int(lead_id) - gen.id_base if lead_id.isdigit() else -1
            indexes = [number] if lo <= number < visible else []
        else:
            indexes = range(lo, visible)
        for index in indexes:
            lead = gen.lead(index)
            picked.append(((0, lead.time, _id_key(lead.id), 0), lead.body))
        for seq, raw in enumerate(state.injected):
            seconds = _raw_time(raw)
            if seconds is not None and (seconds > now_s or (date_from and seconds < date_from)):
                continue
            if lead_id is not None and str(raw.get("id")) != lead_id:
                continue
            key = (0, seconds, _id_key(raw.get("id")), 1 + seq) if seconds is not None else (1, 0, ("", ""), seq)
            picked.append((key, raw))
        picked.sort(key=lambda item: item[0])
        leads = [self.served(state, lead) for _, lead in picked]
        if status is not None:
            leads = [lead for lead in leads if _status_code(lead) == status]
        return leads

    def find(self, state: _Site, lead_id: str) -> dict | None:
        found = self.select(state, None, None, lead_id)
        return found[0] if found else None


def _id_key(value: Any) -> tuple:
    text = str(value)
    return (text.zfill(20), text) if text.isdigit() else ("~" + text, text)


def _status_code(lead: dict) -> int | None:
    status = lead.get("status")
    code = status.get("code") if isinstance(status, dict) else status
    return _intval(code, -1) if code is not None else None


def _error(code: int, msg: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "msg": msg or ERRORS[code]}})


def _unknown_site(site: str) -> PlainTextResponse | None:
    return None if _SITE.fullmatch(site) else PlainTextResponse("Not Found", status_code=404)


def create(ctx: SandboxContext) -> Service:
    service = Flexbe(ctx)
    router = APIRouter()
    control = APIRouter()

    async def params_of(request: Request) -> dict[str, str]:
        params = dict(request.query_params)
        content_type = request.headers.get("content-type", "")
        if request.method == "POST" and content_type.startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            params.update({name: value for name, value in form.items() if isinstance(value, str)})
        return params

    def get_leads(state: _Site, params: dict[str, str]) -> dict:
        start = max(_intval(params.get("start"), 0), 0)
        count = _intval(params.get("count"), DEFAULT_COUNT)
        count = DEFAULT_COUNT if count <= 0 else min(count, MAX_COUNT)
        date_from = _intval(params.get("date_from"), 0) or None
        status = _intval(params["status"], 0) if params.get("status", "") != "" else None
        lead_id = params.get("id") or None
        selected = service.select(state, date_from, status, lead_id)[start : start + count]
        # PHP's json_encode turns an empty array into [], a filled one keyed by id into an object.
        # (Raw leads sharing an id collapse into the last one, as a PHP array keyed by id would.)
        leads: dict | list = {str(lead.get("id")): lead for lead in selected} if selected else []
        return {"status": 1, "data": {"leads": leads}}

    def change_lead(state: _Site, params: dict[str, str]) -> dict | JSONResponse:
        lead_id = params.get("id", "")
        lead = service.find(state, lead_id) if lead_id else None
        if lead is None:
            return _error(3)
        state.statuses[lead_id] = _intval(params.get("status"), 0)
        return {"status": 1, "data": {"lead": service.served(state, lead)}}

    @router.api_route("/{site}/mod/api/", methods=["GET", "POST"])
    @router.api_route("/{site}/mod/api", methods=["GET", "POST"], include_in_schema=False)
    async def api(site: str, request: Request) -> Response:
        if missing := _unknown_site(site):
            return missing
        state = service.site(site)
        params = await params_of(request)
        key = params.get("api_key", "")
        method = params.get("method", "")
        if state.forced:
            code = state.forced.popleft()
            state.errors[code] += 1
            return _error(code)
        if not key or not hmac.compare_digest(key.encode(), ctx.settings.key.encode()):
            state.errors[0] += 1
            return _error(0)
        if service.limited(state):
            state.errors[1] += 1
            return _error(1)
        if method == "checkConnection":
            answer: dict | JSONResponse = {"status": 1}
        elif method == "getLeads":
            answer = get_leads(state, params)
        elif method == "changeLead":
            answer = change_lead(state, params)
        else:
            state.errors[2] += 1
            return _error(2)
        if isinstance(answer, JSONResponse):
            state.errors[3] += 1
            return answer
        state.methods[method] += 1
        return JSONResponse(answer)

    @control.post("/{site}/leads", status_code=201)
    async def add_lead(site: str, lead: Annotated[dict[str, Any], Body()]) -> Response:
        if missing := _unknown_site(site):
            return missing
        state = service.site(site)
        state.injected.append(lead)
        return JSONResponse({"stored": lead, "injected_total": len(state.injected)}, status_code=201)

    @control.put("/{site}/limit")
    async def set_limit(site: str, update: LimitUpdate) -> Response:
        if missing := _unknown_site(site):
            return missing
        state = service.site(site)
        state.per_minute, state.window_seconds = update.per_minute, update.window_seconds
        state.anchor, state.window, state.used = service.now().timestamp(), 0, 0
        return JSONResponse({"site": site, "per_minute": state.per_minute, "window_seconds": state.window_seconds})

    @control.post("/{site}/errors")
    async def force_errors(site: str, forced: ForcedError) -> Response:
        if missing := _unknown_site(site):
            return missing
        if forced.code not in ERRORS:
            return JSONResponse({"detail": f"Unknown code; known: {sorted(ERRORS)}"}, status_code=422)
        state = service.site(site)
        state.forced.extend([forced.code] * forced.count)
        return JSONResponse({"site": site, "pending": list(state.forced)})

    @control.delete("/{site}/state")
    async def reset_state(site: str) -> Response:
        if missing := _unknown_site(site):
            return missing
        service.reset(site)
        return JSONResponse({"site": site, "reset": True})

    @control.get("/{site}/defects")
    async def defects(site: str) -> Response:
        """Intended defect (and harmless quirks) of every visible generated lead; injected ones excluded."""
        if missing := _unknown_site(site):
            return missing
        gen = service.site(site).leads
        leads = [gen.lead(i) for i in range(gen.visible_count(service.now()))]
        return JSONResponse(
            {
                "site": site,
                "defects": {str(lead.id): lead.defect for lead in leads if lead.defect},
                "quirks": {str(lead.id): list(lead.quirks) for lead in leads if lead.quirks},
            }
        )

    @control.get("/{site}/stats")
    async def stats(site: str) -> Response:
        if missing := _unknown_site(site):
            return missing
        state = service.site(site)
        gen = state.leads
        visible = gen.visible_count(service.now())
        return JSONResponse(
            {
                "site": site,
                "now": format_iso(service.now(), ctx.tz),
                "leads_visible": visible,
                "invalid_visible": sum(1 for i in range(visible) if gen.defect(i)),
                "injected": len(state.injected),
                "status_changes": len(state.statuses),
                "limit": {"per_minute": state.per_minute, "window_seconds": state.window_seconds},
                "calls_by_method": dict(state.methods),
                "errors_by_code": {str(code): n for code, n in sorted(state.errors.items())},
                **ctx.served(NAME, site),
            }
        )

    return Service(NAME, router, control)
