"""UIS / CoMagic Data API v2.0 (reference external-apis.md §1): JSON-RPC 2.0 at ``POST /uis/{account}/v2.0``.

Methods ``get.account``, ``get.calls_report``, ``get.offline_messages_report`` (site leads: the
clinic_http lead generator's leads as UIS renders them) and ``get.group_employees``; the token is the
sandbox key (``params.access_token``); every answer is HTTP 200 with ``result`` or ``error`` and the
account's rate limits in its metadata. Recordings at ``GET /uis/{account}/system/media/talk/…``.
Facts the reference marks [UNCONFIRMED] (inclusive ``date_till``, dates in the account's zone,
HTTP 200 for errors) are emulated the way the hook assumes them; the README lists them.
"""

from __future__ import annotations

import gc
import hmac
import json
import math
import re
from collections import Counter, deque
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from operator import itemgetter
from typing import Annotated, Any, NamedTuple

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ..call_data import (
    COMMUNICATION_OFFSET,
    DEFECT_RATE,
    FIX_EMPLOYEE,
    FIX_RECORDING,
    FIX_TALK,
    LIVE_OFFSET,
    REGIONS,
    CallGenerator,
    Details,
    LruCache,
    Selection,
    Stub,
    WallClock,
    make_groups,
    midnight,
)
from ..context import SandboxContext, Service
from ..demo_data import LeadGenerator
from ..faults import stable_int

try:  # an Airflow dependency, so present in this venv; ~10x faster than json for a 10 000-row page
    import msgspec
except ImportError:  # pragma: no cover - a sandbox installed without Airflow
    msgspec = None


def _encode(obj: Any) -> bytes:
    if msgspec is not None:
        return _MSGSPEC_ENCODER.encode(obj)
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


_MSGSPEC_ENCODER = msgspec.json.Encoder() if msgspec is not None else None


NAME = "uis"
MAX_LIMIT, MAX_OFFSET, DEFAULT_LIMIT = 10_000, 100_000, 1000
MAX_MONTHS = 3
WIRE = "%Y-%m-%d %H:%M:%S"
_WIRE_RE = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_ACCOUNT = re.compile(r"[A-Za-z0-9_.-]{1,64}")
DEFAULT_MINUTE_LIMIT, DEFAULT_DAY_LIMIT = 1000, 1_000_000  # generous: normal loads never meet them
# A tiny but real MPEG-1 Layer III frame (128 kbit/s, 44.1 kHz) of silence behind an ID3v2 header.
SILENT_MP3 = b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\xff\xfb\x90\x64" + b"\x00" * 413

# mnemonic -> (code, English message as the reference §1.8 gives it; {names} filled from data.params)
ERRORS: dict[str, tuple[int, str]] = {
    "access_token_expired": (-32001, "Access token has been expired"),
    "access_token_blocked": (-32001, "Access token has been blocked"),
    "access_token_invalid": (-32001, "Access token is invalid"),
    "auth_error": (-32001, "Login or password is wrong"),
    "ip_not_whitelisted": (-32003, "Your IP {ip} is not whitelisted"),
    "forbidden": (-32003, "Permission denied"),
    "account_inactive": (-32009, "Your account has been disabled, contact the support service"),
    "limit_exceeded": (
        -32029,
        "Limit per {limit_type} has been exceeded. Value of current limit per {limit_type} is {limit_max_value}",
    ),
    "method_not_found": (-32601, "The method does not exist / is not available"),
    "parse_error": (-32700, "Invalid JSON was received by the server."),
    "required_parameter_missed": (-32602, "The required parameter has been missed"),
    "invalid_parameter_value": (-32602, "Invalid parameter value"),
    "unexpected_parameters": (-32602, "Unexpected method parameter(s)"),
    "date_interval_limit_reached": (-32602, "Max value of requested date interval is 3 months"),
    "internal_error": (-32603, "Internal error, contact the support service"),
    "method_component_disabled": (
        -32008,
        "You need at least on of the following components to access this method: {components}",
    ),
    # Not in the reference's table: messages of our own, codes from its code groups.
    "filter_prohibited": (-32602, "Filtering by this field is prohibited"),
    "sort_prohibited": (-32602, "Sorting by this field is prohibited"),
    "invalid_request": (-32600, "Invalid Request"),
    "batch_opreations_not_supported": (-32099, "Batch operations are not supported"),  # sic, as in the docs
    "notifications_not_supported": (-32099, "Notifications are not supported"),
}

# get.calls_report fields served: name -> (default ✔, filter F, sort S), from the reference §1.3.
# fmt: off
CALL_FIELDS: dict[str, tuple[bool, bool, bool]] = {
    "id": (True, True, False), "start_time": (True, False, True), "finish_time": (True, False, False),
    "finish_reason": (True, True, True), "direction": (True, True, True), "source": (True, True, True),
    "is_lost": (True, True, True), "is_transfer": (False, True, True), "communication_id": (True, True, False),
    "communication_type": (True, False, False), "communication_page_url": (False, False, False),
    "cpn_region_id": (True, True, True), "cpn_region_name": (True, True, True),
    "cpn_country_id": (True, True, True), "cpn_country_name": (True, True, True),
    "contact_phone_number": (True, True, False), "virtual_phone_number": (True, True, True),
    "wait_duration": (True, False, False), "total_wait_duration": (True, False, False),
    "talk_duration": (True, False, False), "clean_talk_duration": (True, False, False),
    "total_duration": (True, False, False), "postprocess_duration": (False, False, False),
    "call_records": (True, False, False), "wav_call_records": (True, False, False),
    "full_record_file_link": (True, False, False),
    "utm_source": (False, True, False), "utm_medium": (False, True, False), "utm_campaign": (False, True, False),
    "utm_term": (False, True, False), "utm_content": (False, True, False),
    "referrer": (False, False, False), "referrer_domain": (False, False, False), "entrance_page": (False, False, False),
    "channel": (False, False, False), "employees": (False, False, False),
    "first_answered_employee_id": (False, False, False), "first_answered_employee_full_name": (False, False, False),
    "last_answered_employee_id": (False, False, False), "last_answered_employee_full_name": (False, False, False),
    "scenario_id": (False, False, False), "scenario_name": (False, False, False), "tags": (False, False, False),
}
# fmt: on
NAMES = tuple(CALL_FIELDS)  # the order of a rendered row tuple
DEFAULT_FIELDS = [name for name, (default, _, _) in CALL_FIELDS.items() if default]
GROUP_FIELDS = ["id", "name", "members", "phone_numbers", "group_phone_number", "queue_enabled", "channels_count"]
GROUP_FILTER, GROUP_SORT = {"id", "name"}, {"id", "name"}
CALLS_PARAMS = {"access_token", "user_id", "date_from", "date_till", "limit", "offset", "fields", "sort", "filter"}
CALLS_PARAMS |= {"include_ongoing_calls"}
GROUP_PARAMS = {"access_token", "user_id", "limit", "offset", "filter", "fields", "sort"}
# get.offline_messages_report (site leads, reference §1.4): name -> (default ✔, filter F, sort S).
# fmt: off
MESSAGE_FIELDS: dict[str, tuple[bool, bool, bool]] = {
    "id": (True, True, False), "date_time": (False, False, True), "text": (True, False, False),
    "status": (True, True, True), "form_type": (True, True, True), "form_name": (False, True, True),
    "visitor_name": (True, False, False), "visitor_phone_number": (True, False, False),
    "visitor_email": (True, False, False), "group_id": (False, True, True), "group_name": (False, True, True),
    "site_id": (True, False, False), "campaign_id": (True, False, False), "communication_id": (True, False, False),
    "utm_source": (False, True, False), "utm_medium": (False, True, False), "utm_campaign": (False, True, False),
    "utm_term": (False, True, False), "utm_content": (False, True, False), "referrer": (False, False, False),
    "communication_page_url": (False, False, False),
}
# fmt: on
MESSAGE_DEFAULT_FIELDS = [name for name, (default, _, _) in MESSAGE_FIELDS.items() if default]
MESSAGE_PARAMS = (CALLS_PARAMS - {"include_ongoing_calls"}) | {"include_tech_offline_messages"}
# The lead generator's defects that survive as an offline message (it has no name parts or plan).
PHONE_DEFECTS = ("phone_missing", "phone_empty", "phone_with_text", "phone_plus_domestic")
MESSAGE_FORMS = ("Обратный звонок", "Запись на приём", "Онлайн-консультант", None)  # None: the standard form
FAST_FILTER = {"id", "direction", "is_lost"}  # known from a call's stub, without its details

# Defects of generated calls (the start_time always parses: see README, "what is assumed").
DEFECT_KINDS = ("negative_talk_duration", "finish_before_start", "direction_null", "finish_time_unparseable")
CHANNELS = {"cpc": "paid", "social": "social", "referral": "referral", "newsletter": "email"}
_NO_UTM = (None, None, None, None, None)
_NO_REGION = _NOBODY = (None, None)
_RUSSIA = (1, "Россия")


class RpcError(Exception):
    def __init__(self, mnemonic: str, *, field: str | None = None, value: Any = None, **params: Any) -> None:
        super().__init__(mnemonic)
        self.mnemonic, self.field, self.value, self.params = mnemonic, field, value, params


# -- rate limits --------------------------------------------------------------------------------


@dataclass
class _Window:
    """A fixed window of ``length`` seconds from ``anchor``; ``used`` counts successful calls in it."""

    limit: int
    length: float
    anchor: float
    index: int = 0
    used: int = 0

    def _roll(self, now: float) -> None:
        index = math.floor((now - self.anchor) / self.length)
        if index != self.index:
            self.index, self.used = index, 0

    def remaining(self, now: float) -> int:
        self._roll(now)
        return max(self.limit - self.used, 0)

    def reset(self, now: float) -> int:
        self._roll(now)
        return max(1, math.ceil(self.anchor + (self.index + 1) * self.length - now))

    def spend(self, now: float) -> None:
        self._roll(now)
        self.used += 1


class LimitsUpdate(BaseModel):
    """Body of ``PUT /_sandbox/uis/{account}/limits``; ``*_reset`` = the window's length in seconds."""

    model_config = ConfigDict(extra="forbid")

    minute_limit: int | None = Field(default=None, ge=0)
    minute_reset: int | None = Field(default=None, ge=1, le=86_400)
    day_limit: int | None = Field(default=None, ge=0)
    day_reset: int | None = Field(default=None, ge=1, le=31 * 86_400)


class ForcedError(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mnemonic: str
    count: int = Field(default=1, ge=1, le=10_000)


# -- accounts -----------------------------------------------------------------------------------


@dataclass
class _Kit:
    """What every row of an account shares, made once: lines, people, scenarios."""

    lines: list[tuple[str, str]]  # (virtual number, source)
    staff: list[tuple[int, str]]  # (employee id, full name)
    rung: list[dict]  # employees[] items of someone rung who did not answer, by staff index
    answered: list[dict]  # ... of someone who answered and talked
    working: tuple[int, str]  # scenario (id, name) in opening hours
    after_hours: tuple[int, str]

    @classmethod
    def of(cls, generator: CallGenerator, app_id: int) -> _Kit:
        def item(person, answered: bool) -> dict:
            return {
                "employee_id": person.id,
                "employee_full_name": person.full_name,
                "is_answered": answered,
                "is_talked": answered,
            }

        return cls(
            lines=[(number, source) for number, _, source in generator.lines],
            staff=[(person.id, person.full_name) for person in generator.staff],
            rung=[item(person, False) for person in generator.staff],
            answered=[item(person, True) for person in generator.staff],
            working=(app_id * 10 + 1, "Рабочее время"),
            after_hours=(app_id * 10 + 2, "Нерабочее время"),
        )


@dataclass
class _Account:
    name: str
    generator: CallGenerator
    app_id: int
    minute: _Window
    day: _Window
    groups: list[dict]
    kit: _Kit
    forced: deque = field(default_factory=deque)  # mnemonics the next calls answer
    patches: dict[int, dict] = field(default_factory=dict)  # id -> fields merged over a generated call
    deleted: set[int] = field(default_factory=set)  # ids the service no longer has
    injected: list[dict] = field(default_factory=list)  # raw rows served as-is
    messages: LeadGenerator | None = None  # site leads (offline messages), made on first use
    injected_messages: list[dict] = field(default_factory=list)  # raw offline messages served as-is
    methods: Counter = field(default_factory=Counter)  # successful calls by method
    errors: Counter = field(default_factory=Counter)  # error answers by mnemonic

    def limits(self, now: float) -> dict:
        return {
            "day_limit": self.day.limit,
            "day_remaining": self.day.remaining(now),
            "day_reset": self.day.reset(now),
            "minute_limit": self.minute.limit,
            "minute_remaining": self.minute.remaining(now),
            "minute_reset": self.minute.reset(now),
        }


class _Extra(NamedTuple):
    """A row outside the generated order: injected, or a generated one whose start_time/id was patched."""

    key: tuple
    row: dict
    raw: bool  # injected: served as-is, not cut to `fields`


def _stub_key(stub: Stub) -> tuple:
    return (stub.start, 0, stub.id, 0)


class Uis:
    def __init__(self, ctx: SandboxContext) -> None:
        self.ctx = ctx
        self.wall = WallClock(ctx.tz)
        self._accounts: dict[str, _Account] = {}
        self._stubs = LruCache(1000)  # days of call stubs, all accounts (~60 KB a day)
        self._rows = LruCache(40)  # days of rendered rows (~0.7 MB a day); a 10 000-row page spans ~34
        self._live_rows = LruCache(5000)

    def account(self, name: str) -> _Account:
        acc = self._accounts.get(name)
        if acc is None:
            s, now = self.ctx.settings, self.now()
            generator = CallGenerator(
                s.seed,
                name,
                self.ctx.tz,
                self.ctx.clock.start_time,
                call_days=s.call_days,
                calls_per_day=s.calls_per_day,
                live_interval=s.live_call_interval,
                defect_rate=DEFECT_RATE,
                stub_cache=self._stubs,
            )
            app_id = 10_000 + stable_int(s.seed, name, "app-id") % 90_000
            acc = self._accounts[name] = _Account(
                name=name,
                generator=generator,
                app_id=app_id,
                minute=_Window(DEFAULT_MINUTE_LIMIT, 60, 0.0),
                day=_Window(DEFAULT_DAY_LIMIT, 86_400, float(midnight(generator.start_day, self.ctx.tz))),
                groups=make_groups(s.seed, name, generator.staff),
                kit=_Kit.of(generator, app_id),
            )
            acc.minute._roll(now)
            acc.day._roll(now)
        return acc

    def reset(self, name: str) -> None:
        # Rendered rows stay cached: edits are merged at serve time, never into the cache.
        self._accounts.pop(name, None)

    def now(self) -> float:
        return self.ctx.clock.now().timestamp()

    # -- rendering --------------------------------------------------------------------------------
    # Rows are tuples in NAMES order (a 44-key dict costs five times as much to build) and become
    # objects with the requested fields only when served (see _projector).
    def served_tuple(self, acc: _Account, stub: Stub, now: float) -> tuple:
        """The generated row as the service shows it now: ongoing, original or corrected (no patches)."""
        if stub.finish > now:
            return self._ongoing_row(acc, stub, now)
        original, corrected = self._cached_rows(acc, stub)
        return corrected if corrected is not None and now >= acc.generator.fix_time(stub.day) else original

    def served_row(self, acc: _Account, stub: Stub, now: float) -> dict:
        """The same as a dict, with the control API's patches merged."""
        row = dict(zip(NAMES, self.served_tuple(acc, stub, now), strict=True))
        patch = acc.patches.get(stub.id)
        return {**row, **patch} if patch else row

    def _cached_rows(self, acc: _Account, stub: Stub) -> tuple[tuple, tuple | None]:
        gen = acc.generator
        if stub.index >= LIVE_OFFSET:
            key = (acc.name, stub.id)
            pair = self._live_rows.get(key)
            if pair is None:
                pair = self._live_rows.put(key, self._render_pair(acc, stub, gen.live_details(stub)))
            return pair
        key = (acc.name, stub.day)
        day = self._rows.get(key)
        if day is None:
            day = self._rows.put(key, [self._render_pair(acc, *call) for call in gen.day_calls(stub.day)])
        return day[stub.index]

    def _render_pair(self, acc: _Account, stub: Stub, details: Details) -> tuple[tuple, tuple | None]:
        if stub.fix < 0:
            return self.render(acc, stub, details, corrected=True), None
        return self.render(acc, stub, details, corrected=False), self.render(acc, stub, details, corrected=True)

    def render(self, acc: _Account, stub: Stub, d: Details, *, corrected: bool) -> tuple:
        """A finished call as a ``get.calls_report`` row: a tuple of every field, in NAMES order."""
        kit, wall = acc.kit, self.wall
        fix = -1 if corrected else stub.fix  # the "before" state of a call that is corrected later
        talk = stub.talk - d.talk_delta if fix == FIX_TALK else stub.talk
        total = stub.wait + talk + stub.post
        records = () if fix == FIX_RECORDING else d.records
        answered = () if fix == FIX_EMPLOYEE else d.answered_by
        comm = stub.id + COMMUNICATION_OFFSET
        incoming = stub.direction == "in"
        number, source = kit.lines[d.line]
        if not incoming:
            source = "callapi" if stub.id % 10 < 3 else "va"  # click-to-call from the clinic's software
        utm = d.utm or _NO_UTM
        if utm[1]:
            channel = CHANNELS.get(utm[1])
        else:
            channel = ("organic" if d.referrer else "direct") if d.entrance else None
        if answered:
            employees = [kit.rung[i] for i in d.rung] + [kit.answered[i] for i in answered]
            first, last = kit.staff[answered[0]], kit.staff[answered[-1]]
        else:
            employees = [kit.rung[i] for i in d.rung]
            first = last = _NOBODY
        region = REGIONS[d.region] if d.region >= 0 else _NO_REGION
        country = _RUSSIA if d.contact is not None else _NO_REGION
        scenario = (kit.working if stub.working else kit.after_hours) if incoming else _NO_REGION
        finish = wall.wall(stub.start + total)
        talk_out, direction = talk, stub.direction
        if stub.defect >= 0:
            kind = DEFECT_KINDS[stub.defect % len(DEFECT_KINDS)]
            if kind == "negative_talk_duration":  # IDENT's own example of wrong data
                talk_out = -max(talk, 1 + stub.id % 30)
            elif kind == "finish_before_start":
                finish = wall.wall(stub.start - 60 - stub.id % 3000)
            elif kind == "direction_null":
                direction = None
            else:
                finish = datetime.strptime(finish, WIRE).strftime("%d.%m.%Y %H:%M:%S")
        referrer = d.referrer
        return (
            stub.id,
            wall.wall(stub.start),
            finish,
            d.finish_reason,
            direction,
            source,
            stub.lost,
            len(d.answered_by) > 1,  # is_transfer
            comm,
            "call",
            d.entrance,  # communication_page_url
            region[0],
            region[1],
            country[0],
            country[1],
            d.contact,
            number,
            stub.wait - d.transfer_wait,  # wait_duration: the first leg
            stub.wait,  # total_wait_duration
            talk_out,
            talk - talk // 20,  # clean_talk_duration: minus hold music and announcements
            total,
            stub.post,
            list(records),
            [],  # wav_call_records
            # A path: the absolute link is made per request, from the host the client used.
            f"/uis/{acc.name}/system/media/talk/{comm}/{records[0]}/" if records else None,
            utm[0],
            utm[1],
            utm[2],
            utm[3],
            utm[4],
            referrer,
            referrer.split("/")[2] if referrer else None,
            d.entrance,
            channel,
            employees,
            first[0],
            first[1],
            last[0],
            last[1],
            scenario[0],
            scenario[1],
            [],  # tags
        )

    def _ongoing_row(self, acc: _Account, stub: Stub, now: float) -> tuple:
        """A call in progress: no finish, durations counted so far, no recording yet."""
        original, corrected = self._cached_rows(acc, stub)
        row = dict(zip(NAMES, corrected or original, strict=True))
        elapsed = max(0, int(now) - stub.start)
        wait = min(elapsed, stub.wait)
        talk = max(0, min(stub.talk, elapsed - stub.wait))
        talking = stub.talk > 0 and elapsed > stub.wait
        first = (
            (row["first_answered_employee_id"], row["first_answered_employee_full_name"]) if talking else (None, None)
        )
        row.update(
            finish_time=None,
            finish_reason=None,
            is_lost=False,  # not known before the call ends
            direction=stub.direction,  # defects are only ever in finished rows
            wait_duration=min(wait, row["wait_duration"]),
            total_wait_duration=wait,
            talk_duration=talk,
            clean_talk_duration=talk,
            total_duration=elapsed,
            postprocess_duration=max(0, elapsed - stub.wait - stub.talk),
            call_records=[],
            full_record_file_link=None,
            employees=[],
            first_answered_employee_id=first[0],
            first_answered_employee_full_name=first[1],
            last_answered_employee_id=first[0],
            last_answered_employee_full_name=first[1],
        )
        return tuple(row.values())

    def defect_kind(self, stub: Stub) -> str | None:
        return DEFECT_KINDS[stub.defect % len(DEFECT_KINDS)] if stub.defect >= 0 else None

    # -- selection --------------------------------------------------------------------------------
    def selection(self, acc: _Account, lo: float, hi: float, now: float, ongoing: bool) -> Selection:
        """Generated calls starting in [lo, hi], finished by now (or started, with ``ongoing``); lazy."""
        return acc.generator.select(math.ceil(lo), math.floor(hi), now, ongoing=ongoing)

    def visible(self, acc: _Account, lo: float, hi: float, now: float, ongoing: bool) -> list[Stub]:
        """The same, as a list, without deleted calls and those a patch moved (they are extras)."""
        stubs = self.selection(acc, lo, hi, now, ongoing).all()
        if acc.deleted or acc.patches:
            hidden = acc.deleted | {i for i, p in acc.patches.items() if "start_time" in p or "id" in p}
            stubs = [s for s in stubs if s.id not in hidden]
        return stubs

    def extras(self, acc: _Account, lo: float, hi: float, now: float, ongoing: bool) -> list[_Extra]:
        """Injected rows and moved (start_time/id patched) calls in the window, as _Extra."""
        extras = []
        for i, patch in acc.patches.items():
            if ("start_time" in patch or "id" in patch) and i not in acc.deleted:
                stub = acc.generator.find(i)
                if stub is None or stub.start > now or (stub.finish > now and not ongoing):
                    continue
                row = self.served_row(acc, stub, now)
                start = self.parse_wire(row.get("start_time"))
                if start is None or lo <= start <= hi:
                    extras.append(_Extra(self._extra_key(row, start, i), row, False))
        for seq, row in enumerate(acc.injected):
            start = self.parse_wire(row.get("start_time"))
            if start is None or (lo <= start <= hi and start <= now):
                extras.append(_Extra(self._extra_key(row, start, seq), row, True))
        return extras

    @staticmethod
    def _extra_key(row: dict, start: float | None, seq: int) -> tuple:
        if start is None:  # an unparseable start_time cannot be placed: after everything, in order
            return (math.inf, 2, seq, seq)
        ident = row.get("id")
        if isinstance(ident, int) and not isinstance(ident, bool):
            return (start, 0, ident, 1 + seq)
        return (start, 1, str(ident), 1 + seq)

    def parse_wire(self, value: Any) -> float | None:
        if not isinstance(value, str) or not _WIRE_RE.fullmatch(value):
            return None
        try:
            return datetime.strptime(value, WIRE).replace(tzinfo=self.ctx.tz).timestamp()
        except ValueError:
            return None


# -- parameters ---------------------------------------------------------------------------------


def _check_unexpected(params: dict, allowed: set[str]) -> None:
    for name in params:
        if name not in allowed:
            raise RpcError("unexpected_parameters", field=name, value=params[name])


def _int_param(params: dict, name: str, default: int, maximum: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= maximum:
        raise RpcError("invalid_parameter_value", field=name, value=value)
    return value


def _fields_param(params: dict, known: list[str], default: list[str]) -> list[str]:
    value = params.get("fields")
    if value is None:
        return default
    if not isinstance(value, list) or not value or not all(isinstance(f, str) for f in value):
        raise RpcError("invalid_parameter_value", field="fields", value=value)
    for name in value:
        if name not in known:
            raise RpcError("invalid_parameter_value", field="fields", value=name)
    return list(dict.fromkeys(value))


def _sort_param(params: dict, known: set[str], sortable: set[str]) -> list[tuple[str, bool]]:
    """[(field, descending)]; errors name the offending field."""
    value = params.get("sort")
    if value is None:
        return []
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list):
        raise RpcError("invalid_parameter_value", field="sort", value=value)
    spec = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("field"), str):
            raise RpcError("invalid_parameter_value", field="sort", value=item)
        name, order = item["field"], item.get("order", "asc")
        if name not in known:
            raise RpcError("unexpected_parameters", field="sort.field", value=name)
        if name not in sortable:
            raise RpcError("sort_prohibited", field="sort.field", value=name)
        if order not in ("asc", "desc"):
            raise RpcError("invalid_parameter_value", field="sort.order", value=order)
        spec.append((name, order == "desc"))
    return spec


_OPS = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a is not None and a < b,
    ">": lambda a, b: a is not None and a > b,
    "<=": lambda a, b: a is not None and a <= b,
    ">=": lambda a, b: a is not None and a >= b,
    "in": lambda a, b: a in b,
    "not_in": lambda a, b: a not in b,
    "is_null": lambda a, b: a is None,
    "is_not_null": lambda a, b: a is not None,
}
_LIKE = {"like": (False, False), "ilike": (True, False), "not_like": (False, True), "not_ilike": (True, True)}


def _compile_filter(spec: Any, known: set[str], filterable: set[str], used: set[str]):
    """A predicate over ``get(field)`` for a simple filter or a tree of them (reference §1.7)."""
    if not isinstance(spec, dict):
        raise RpcError("invalid_parameter_value", field="filter", value=spec)
    if "filters" in spec:
        children, condition = spec.get("filters"), spec.get("condition", "and")
        if not isinstance(children, list) or not children or condition not in ("and", "or"):
            raise RpcError("invalid_parameter_value", field="filter", value=spec)
        preds = [_compile_filter(child, known, filterable, used) for child in children]
        if condition == "and":
            return lambda get: all(p(get) for p in preds)
        return lambda get: any(p(get) for p in preds)
    name, operator, value = spec.get("field"), spec.get("operator"), spec.get("value")
    if not isinstance(name, str):
        raise RpcError("invalid_parameter_value", field="filter.field", value=name)
    if name not in known:
        raise RpcError("unexpected_parameters", field="filter.field", value=name)
    if name not in filterable:
        raise RpcError("filter_prohibited", field="filter.field", value=name)
    used.add(name)
    if operator in ("in", "not_in") and not isinstance(value, list):
        raise RpcError("invalid_parameter_value", field="filter.value", value=value)
    if operator in _LIKE:
        if not isinstance(value, str):
            raise RpcError("invalid_parameter_value", field="filter.value", value=value)
        fold, negate = _LIKE[operator]
        pattern = re.compile("^" + ".*".join(map(re.escape, value.split("%"))) + "$", re.I if fold else 0)
        return lambda get: (isinstance(get(name), str) and bool(pattern.match(get(name)))) != negate
    if operator == "regexp":
        try:
            pattern = re.compile(str(value))
        except re.error:
            raise RpcError("invalid_parameter_value", field="filter.value", value=value) from None
        return lambda get: isinstance(get(name), str) and bool(pattern.search(get(name)))
    op = _OPS.get(operator)
    if op is None:
        raise RpcError("invalid_parameter_value", field="filter.operator", value=operator)

    def predicate(get):
        try:
            return op(get(name), value)
        except TypeError:  # comparing a number with a text: no match, as SQL would have it
            return False

    return predicate


def _window(params: dict, tz) -> tuple[float, float]:
    """date_from/date_till: required, ``YYYY-MM-DD hh:mm:ss`` in the account's zone, at most 3 months."""
    moments = []
    for name in ("date_from", "date_till"):
        raw = params.get(name)
        if raw is None:
            raise RpcError("required_parameter_missed", field=name)
        if not isinstance(raw, str) or not _WIRE_RE.fullmatch(raw):
            raise RpcError("invalid_parameter_value", field=name, value=raw)
        try:
            moments.append(datetime.strptime(raw, WIRE))
        except ValueError:
            raise RpcError("invalid_parameter_value", field=name, value=raw) from None
    start, end = moments
    if start > end:
        raise RpcError("invalid_parameter_value", field="date_from", value=params["date_from"])
    if end > _add_months(start, MAX_MONTHS):
        raise RpcError("date_interval_limit_reached", field="date_till", value=params["date_till"])
    return start.replace(tzinfo=tz).timestamp(), end.replace(tzinfo=tz).timestamp()


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    last = [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    return moment.replace(year=year, month=month, day=min(moment.day, last[month - 1]))


def _sort_key(value: Any) -> tuple:
    return (0,) if value is None else (1, value)  # nulls first in ascending order


def _message_row(acc: _Account, lead: Any) -> dict:
    """A generated lead (IDENT's ticket) as a UIS offline message: the visitor's name in one field,
    the phone as a number when it is only digits (the reference's type) and as typed otherwise, the
    group from the account's employee groups, the form's name or the standard form."""
    ticket = lead.ticket
    n = int(lead.id)
    name = ticket.get("ClientFullName") or " ".join(
        part for part in (ticket.get("ClientSurname"), ticket.get("ClientName")) if part
    )
    phone = ticket.get("ClientPhone")
    if isinstance(phone, str) and phone.isdigit():
        phone = int(phone)
    group = acc.groups[n % len(acc.groups)]
    form = MESSAGE_FORMS[n % len(MESSAGE_FORMS)]
    at = lead.arrival.astimezone(acc.generator.tz)
    return {
        "id": n,
        "date_time": at.strftime(WIRE),
        "text": ticket.get("Comment"),
        "status": ("not_processed", "processing", "processed")[n % 3],
        "form_type": "custom" if form else "standard",
        "form_name": form,
        "visitor_name": name or None,
        "visitor_phone_number": phone,
        "visitor_email": ticket.get("ClientEmail"),
        "group_id": group["id"],
        "group_name": group["name"],
        "site_id": 55,
        "campaign_id": 100 + n % 5,
        "communication_id": n + COMMUNICATION_OFFSET,
        "utm_source": ticket.get("UtmSource"),
        "utm_medium": ticket.get("UtmMedium"),
        "utm_campaign": ticket.get("UtmCampaign"),
        "utm_term": ticket.get("UtmTerm"),
        "utm_content": ticket.get("UtmContent"),
        "referrer": ticket.get("HttpReferer"),
        "communication_page_url": None,
    }


# -- the service ----------------------------------------------------------------------------------


def create(ctx: SandboxContext) -> Service:
    uis = Uis(ctx)
    router = APIRouter()
    control = APIRouter()

    def error_body(acc: _Account | None, request_id: Any, exc: RpcError) -> dict:
        code, template = ERRORS[exc.mnemonic]
        try:
            message = template.format(**exc.params)
        except (KeyError, IndexError):
            message = template
        metadata = {"limits": acc.limits(uis.now())} if acc is not None else {}
        if acc is not None:
            acc.errors[exc.mnemonic] += 1
        data = {
            "mnemonic": exc.mnemonic,
            "field": exc.field,
            "value": exc.value,
            "params": exc.params,
            "extended_helper": None,
            "metadata": metadata,
        }
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message, "data": data}}

    def forced_error(acc: _Account, mnemonic: str, request: Request) -> RpcError:
        if mnemonic == "limit_exceeded":
            return RpcError(mnemonic, limit_type="minute", limit_max_value=acc.minute.limit)
        if mnemonic == "ip_not_whitelisted":
            return RpcError(mnemonic, ip=request.client.host if request.client else "")
        if mnemonic == "method_component_disabled":
            return RpcError(mnemonic, components="calls_report")
        return RpcError(mnemonic)

    @router.post("/{account}/v2.0")
    async def rpc(account: str, request: Request) -> Response:
        if not _ACCOUNT.fullmatch(account):
            return PlainTextResponse("Unknown account", status_code=404)
        acc = uis.account(account)
        raw = await request.body()
        request_id = None
        try:
            try:
                body = json.loads(raw)
            except ValueError:
                raise RpcError("parse_error") from None
            if isinstance(body, list):
                raise RpcError("batch_opreations_not_supported")
            if not isinstance(body, dict):
                raise RpcError("invalid_request", value=body)
            request_id = body.get("id")
            if body.get("jsonrpc") != "2.0":
                raise RpcError("invalid_request", field="jsonrpc", value=body.get("jsonrpc"))
            if "id" not in body:
                raise RpcError("notifications_not_supported")
            method = body.get("method")
            if not isinstance(method, str):
                raise RpcError("invalid_request", field="method", value=method)
            handler = METHODS.get(method)
            if handler is None:
                raise RpcError("method_not_found", field="method", value=method)
            params = body.get("params", {})
            if not isinstance(params, dict):
                raise RpcError("invalid_parameter_value", field="params", value=params)
            if acc.forced:
                raise forced_error(acc, acc.forced.popleft(), request)
            token = params.get("access_token")
            if not isinstance(token, str) or not hmac.compare_digest(token.encode(), ctx.settings.key.encode()):
                raise RpcError("access_token_invalid", field="access_token")  # never echoed: value stays None
            now = uis.now()
            for kind, window in (("day", acc.day), ("minute", acc.minute)):
                if window.remaining(now) <= 0:
                    raise RpcError("limit_exceeded", limit_type=kind, limit_max_value=window.limit)
            with _no_gc():
                data, metadata = handler(acc, params, now, request)
        except RpcError as exc:
            return Response(_encode(error_body(acc, request_id, exc)), media_type="application/json")
        # Only successful calls consume points (reference §1.9).
        acc.minute.spend(now)
        acc.day.spend(now)
        acc.methods[method] += 1
        metadata["limits"] = acc.limits(now)
        answer = {"jsonrpc": "2.0", "id": request_id, "result": {"data": data, "metadata": metadata}}
        return Response(_encode(answer), media_type="application/json")

    def get_account(acc: _Account, params: dict, now: float, request: Request) -> tuple[Any, dict]:
        _check_unexpected(params, {"access_token", "user_id"})
        data = [{"app_id": acc.app_id, "name": acc.name, "timezone": ctx.settings.timezone}]
        return data, {"total_items": 1}

    def get_calls_report(acc: _Account, params: dict, now: float, request: Request) -> tuple[Any, dict]:
        _check_unexpected(params, CALLS_PARAMS)
        user_id = params.get("user_id")
        if user_id is not None and (not isinstance(user_id, int) or isinstance(user_id, bool)):
            raise RpcError("invalid_parameter_value", field="user_id", value=user_id)
        lo, hi = _window(params, ctx.tz)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _int_param(params, "offset", 0, MAX_OFFSET)
        fields = _fields_param(params, list(CALL_FIELDS), DEFAULT_FIELDS)
        known = set(CALL_FIELDS)
        sort = _sort_param(params, known, {n for n, (_, _, s) in CALL_FIELDS.items() if s})
        used: set[str] = set()
        predicate = None
        if params.get("filter") is not None:
            predicate = _compile_filter(params["filter"], known, {n for n, (_, f, _) in CALL_FIELDS.items() if f}, used)
        ongoing = params.get("include_ongoing_calls", False)
        if not isinstance(ongoing, bool):
            raise RpcError("invalid_parameter_value", field="include_ongoing_calls", value=ongoing)

        extras = uis.extras(acc, lo, hi, now, ongoing)
        plain = predicate is None and not extras and not acc.deleted and not acc.patches
        rows_of: dict = {}
        if plain and sort in ([], [("start_time", False)], [("start_time", True)]):
            # The common case: count without generating, make only the page's calls.
            selection = uis.selection(acc, lo, hi, now, ongoing)
            total, page = len(selection), selection.page(offset, limit, reverse=bool(sort and sort[0][1]))
        else:
            stubs = uis.visible(acc, lo, hi, now, ongoing)
            if predicate is not None:
                stubs = [s for s in stubs if predicate(_getter(uis, acc, s, now, used))]
                extras = [e for e in extras if predicate(e.row.get)]
            items: list = stubs
            if extras:
                items = sorted(
                    [*stubs, *extras], key=lambda item: item.key if isinstance(item, _Extra) else _stub_key(item)
                )
            if sort == [("start_time", True)]:
                items = items[::-1]
            elif sort and sort != [("start_time", False)]:
                # Any other sort needs every selected row: slower, but correct, and rare.
                rows_of = {id(item): _row_of(uis, acc, item, now) for item in items}
                for name, descending in reversed(sort):
                    items.sort(key=lambda item: _sort_key(rows_of[id(item)].get(name)), reverse=descending)
            total, page = len(items), items[offset : offset + limit]
        base = str(request.base_url).rstrip("/")
        project = _projector(tuple(fields))
        data = []
        for item in page:
            if isinstance(item, _Extra):
                data.append(item.row if item.raw else _project_dict(item.row, fields, base))  # injected: as-is
            elif id(item) in rows_of:
                data.append(_project_dict(rows_of[id(item)], fields, base))
            elif item.id in acc.patches:
                data.append(_project_dict(uis.served_row(acc, item, now), fields, base))
            else:
                data.append(project(uis.served_tuple(acc, item, now), base))
        return data, {"total_items": total}

    def get_group_employees(acc: _Account, params: dict, now: float, request: Request) -> tuple[Any, dict]:
        _check_unexpected(params, GROUP_PARAMS)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _int_param(params, "offset", 0, MAX_OFFSET)
        fields = _fields_param(params, GROUP_FIELDS, GROUP_FIELDS)
        sort = _sort_param(params, set(GROUP_FIELDS), GROUP_SORT)
        groups = list(acc.groups)
        if params.get("filter") is not None:
            predicate = _compile_filter(params["filter"], set(GROUP_FIELDS), GROUP_FILTER, set())
            groups = [g for g in groups if predicate(g.get)]
        for name, descending in reversed(sort):
            groups.sort(key=lambda g: _sort_key(g.get(name)), reverse=descending)
        page = [{name: g[name] for name in fields} for g in groups[offset : offset + limit]]
        return page, {"total_items": len(groups)}

    def offline_messages(acc: _Account, now: float) -> list[tuple[float, dict, str | None]]:
        """(time, row, intended defect) of every visible offline message: the clinic_http lead
        generator's leads (the same people, phones and UTM tags) as UIS renders a site form. The time
        is the whole second the row shows (``date_time``), so a window's bounds select what they show."""
        s = ctx.settings
        if acc.messages is None:
            acc.messages = LeadGenerator(s.seed, f"uis:{acc.name}", ctx.clock.start_time, ctx.tz, s.days,
                                         s.live_interval)  # fmt: skip
        moment = datetime.fromtimestamp(now, ctx.tz)
        rows = [
            (
                math.floor(lead.arrival.timestamp()),
                _message_row(acc, lead),
                lead.defect if lead.defect in PHONE_DEFECTS else None,
            )
            for lead in acc.messages.visible(moment)
        ]
        for row in acc.injected_messages:
            try:
                at = datetime.strptime(str(row.get("date_time")), WIRE).replace(tzinfo=ctx.tz).timestamp()
            except ValueError:
                at = math.inf
            rows.append((at, row, None))
        return sorted(rows, key=lambda item: (item[0], str(item[1].get("id"))))

    def get_offline_messages_report(acc: _Account, params: dict, now: float, request: Request) -> tuple[Any, dict]:
        _check_unexpected(params, MESSAGE_PARAMS)
        lo, hi = _window(params, ctx.tz)
        limit = _int_param(params, "limit", DEFAULT_LIMIT, MAX_LIMIT)
        offset = _int_param(params, "offset", 0, MAX_OFFSET)
        fields = _fields_param(params, list(MESSAGE_FIELDS), MESSAGE_DEFAULT_FIELDS)
        known = set(MESSAGE_FIELDS)
        sort = _sort_param(params, known, {n for n, (_, _, sortable) in MESSAGE_FIELDS.items() if sortable})
        rows = [row for at, row, _ in offline_messages(acc, now) if lo <= at <= hi or at == math.inf]
        if params.get("filter") is not None:
            filterable = {n for n, (_, f, _) in MESSAGE_FIELDS.items() if f}
            predicate = _compile_filter(params["filter"], known, filterable, set())
            rows = [row for row in rows if predicate(row.get)]
        for name, descending in reversed(sort):
            rows.sort(key=lambda row: _sort_key(row.get(name)), reverse=descending)
        injected = {id(row) for row in acc.injected_messages}
        page = [
            row if id(row) in injected else {name: row.get(name) for name in fields}
            for row in rows[offset : offset + limit]
        ]
        return page, {"total_items": len(rows)}

    METHODS = {
        "get.account": get_account,
        "get.calls_report": get_calls_report,
        "get.group_employees": get_group_employees,
        "get.offline_messages_report": get_offline_messages_report,
    }

    @router.get("/{account}/system/media/talk/{communication_id}/{record_id}/")
    async def media(account: str, communication_id: str, record_id: str) -> Response:
        """A recording's playback link (the hook builds exactly this path for a non-dataapi host)."""
        if _ACCOUNT.fullmatch(account) and communication_id.isdigit():
            acc, now = uis.account(account), uis.now()
            call_id = int(communication_id) - COMMUNICATION_OFFSET
            rows = [r for r in acc.injected if str(r.get("communication_id")) == communication_id]
            stub = acc.generator.find(call_id)
            if stub is not None and stub.finish <= now and call_id not in acc.deleted:
                rows.append(uis.served_row(acc, stub, now))
            if any(record_id in (r.get("call_records") or ()) for r in rows):
                return Response(SILENT_MP3, media_type="audio/mpeg")
        return PlainTextResponse("Not found", status_code=404)

    # -- control API ------------------------------------------------------------------------------
    def known_account(account: str) -> _Account | JSONResponse:
        if not _ACCOUNT.fullmatch(account):
            return JSONResponse({"detail": f"Bad account name {account!r}"}, status_code=404)
        return uis.account(account)

    @control.put("/{account}/limits")
    async def set_limits(account: str, update: LimitsUpdate) -> Response:
        acc = known_account(account)
        if isinstance(acc, Response):
            return acc
        now = uis.now()
        for kind, window in (("minute", acc.minute), ("day", acc.day)):
            limit, length = getattr(update, f"{kind}_limit"), getattr(update, f"{kind}_reset")
            if limit is None and length is None:
                continue
            window.limit = window.limit if limit is None else limit
            window.length = window.length if length is None else length
            # The window restarts now, with nothing used: tests get a clean, predictable budget.
            window.anchor, window.index, window.used = now, 0, 0
        return JSONResponse(acc.limits(now))

    @control.post("/{account}/errors")
    async def force_errors(account: str, forced: ForcedError) -> Response:
        acc = known_account(account)
        if isinstance(acc, Response):
            return acc
        if forced.mnemonic not in ERRORS:
            return JSONResponse({"detail": f"Unknown mnemonic; known: {sorted(ERRORS)}"}, status_code=422)
        acc.forced.extend([forced.mnemonic] * forced.count)
        return JSONResponse({"pending": list(acc.forced)})

    @control.delete("/{account}/state")
    async def reset_state(account: str) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        uis.reset(account)
        return JSONResponse({"reset": account, "limits": uis.account(account).limits(uis.now())})

    @control.patch("/{account}/calls/{call_id}")
    async def patch_call(account: str, call_id: int, fields: Annotated[dict[str, Any], Body()]) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        patched = 0
        for row in acc.injected:
            if row.get("id") == call_id:
                row.update(fields)
                patched += 1
        stub = acc.generator.find(call_id)
        if stub is not None and stub.start <= uis.now() and call_id not in acc.deleted:
            acc.patches[call_id] = {**acc.patches.get(call_id, {}), **fields}
            patched += 1
        if not patched:
            return JSONResponse({"detail": f"No call with id {call_id}"}, status_code=404)
        return JSONResponse({"patched": patched})

    @control.delete("/{account}/calls/{call_id}")
    async def delete_call(account: str, call_id: int) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        before = len(acc.injected)
        acc.injected[:] = [row for row in acc.injected if row.get("id") != call_id]
        deleted = before - len(acc.injected)
        stub = acc.generator.find(call_id)
        if stub is not None and stub.start <= uis.now() and call_id not in acc.deleted:
            acc.deleted.add(call_id)
            deleted += 1
        if not deleted:
            return JSONResponse({"detail": f"No call with id {call_id}"}, status_code=404)
        return JSONResponse({"deleted": deleted})

    @control.post("/{account}/offline_messages", status_code=201)
    async def add_offline_message(account: str, row: Annotated[dict[str, Any], Body()]) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        acc.injected_messages.append(row)
        return JSONResponse({"stored": row, "injected_total": len(acc.injected_messages)}, status_code=201)

    @control.get("/{account}/offline_message_defects")
    async def offline_message_defects(account: str) -> Response:
        """Id -> intended defect of the visible generated offline messages (never in the JSON)."""
        if isinstance(acc := known_account(account), Response):
            return acc
        rows = offline_messages(acc, uis.now())
        return JSONResponse({"defects": {str(row["id"]): defect for _, row, defect in rows if defect}})

    @control.post("/{account}/calls", status_code=201)
    async def add_call(account: str, row: Annotated[dict[str, Any], Body()]) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        acc.injected.append(row)
        return JSONResponse({"stored": row, "injected_total": len(acc.injected)}, status_code=201)

    def history_window(date_from: str | None, date_till: str | None, acc: _Account) -> tuple[float, float]:
        gen = acc.generator
        lo = uis.parse_wire(date_from) if date_from else float(midnight(gen.first_day, ctx.tz))
        hi = uis.parse_wire(date_till) if date_till else uis.now()
        return (lo if lo is not None else 0.0), (hi if hi is not None else uis.now())

    @control.get("/{account}/defects")
    async def defects(account: str, date_from: str | None = None, date_till: str | None = None) -> Response:
        """Intended defect of every visible finished generated call (the side table, never in the JSON)."""
        if isinstance(acc := known_account(account), Response):
            return acc
        lo, hi = history_window(date_from, date_till, acc)
        stubs = uis.visible(acc, lo, hi, uis.now(), ongoing=False)
        table = {str(s.id): uis.defect_kind(s) for s in stubs if s.defect >= 0 and s.id not in acc.patches}
        return JSONResponse({"account": account, "defects": table})

    @control.get("/{account}/stats")
    async def stats(account: str, date_from: str | None = None, date_till: str | None = None) -> Response:
        if isinstance(acc := known_account(account), Response):
            return acc
        now = uis.now()
        lo, hi = history_window(date_from, date_till, acc)
        finished = uis.visible(acc, lo, hi, now, ongoing=False)
        started = uis.visible(acc, lo, hi, now, ongoing=True)
        return JSONResponse(
            {
                "account": account,
                "now": uis.wall.wall(int(now)),
                "calls_visible": len(finished),
                "calls_ongoing": len(started) - len(finished),
                "invalid_visible": sum(1 for s in finished if s.defect >= 0),
                "corrected_visible": sum(1 for s in finished if s.fix >= 0 and now >= acc.generator.fix_time(s.day)),
                "injected": len(acc.injected),
                "patched": len(acc.patches),
                "deleted": len(acc.deleted),
                "forced_errors_pending": len(acc.forced),
                "limits": acc.limits(now),
                "calls_by_method": dict(acc.methods),
                "errors_by_mnemonic": dict(acc.errors),
                **ctx.served(NAME, account),
            }
        )

    return Service(NAME, router, control)


@contextmanager
def _no_gc():
    """Pause the cyclic GC while a page is made: its rows hold no cycles, and the collector's passes
    over tens of thousands of fresh objects cost a third of the time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@lru_cache(maxsize=64)
def _projector(fields: tuple[str, ...]) -> Callable[[tuple, str], Any]:
    """row tuple -> the served object with ``fields`` only (a msgspec Struct: encoded as that object)."""
    indexes = [NAMES.index(name) for name in fields]
    pick = itemgetter(*indexes) if len(indexes) > 1 else (lambda row: (row[indexes[0]],))
    link = fields.index("full_record_file_link") if "full_record_file_link" in fields else None
    if msgspec is not None:
        make = msgspec.defstruct("CallRow", list(fields))
    else:

        def make(*values: Any) -> dict:
            return dict(zip(fields, values, strict=True))

    def project(row: tuple, base: str) -> Any:
        values = pick(row)
        if link is not None and values[link]:
            values = list(values)
            values[link] = base + values[link]
        return make(*values)

    return project


def _project_dict(row: dict, fields: list[str], base: str) -> dict:
    out = {name: row.get(name) for name in fields}
    link = out.get("full_record_file_link")
    if isinstance(link, str) and link.startswith("/uis/"):
        out["full_record_file_link"] = base + link
    return out


def _row_of(uis: Uis, acc: _Account, item: Stub | _Extra, now: float) -> dict:
    return item.row if isinstance(item, _Extra) else uis.served_row(acc, item, now)


def _getter(uis: Uis, acc: _Account, stub: Stub, now: float, used: set[str]):
    """Field values for a filter: from the stub when it knows them, else from the served row."""
    if used <= FAST_FILTER and stub.defect < 0 and stub.id not in acc.patches:
        finished = stub.finish <= now
        values = {"id": stub.id, "direction": stub.direction, "is_lost": stub.lost and finished}
        return values.get
    return uis.served_row(acc, stub, now).get
