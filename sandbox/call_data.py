"""Deterministic telephony calls of a dental clinic, shared by the UIS and clinic_http emulators.

One generator, two renderings: this module decides *what happened* (when, who, how long, which
line, recordings, staff, attribution); ``services/uis.py`` renders a call as a ``get.calls_report``
row and ``services/clinic_http.py`` as IDENT's call object.

Every call is a pure function of (seed, account, day) or, for live calls, (seed, account, k):
  * history: the ``call_days`` whole local days before the start day, and the start day up to the
    start time. A day's calls come from one RNG seeded by (seed, account, day), so a day is the
    same in every run whatever the start time (the start day is only cut at the start);
  * live calls: one every ``live_interval`` seconds after the start, on a grid anchored at the Unix
    epoch (call k starts at ceil(k * interval)), so a restarted sandbox serves the same live call
    at the same second under the same id, never one id for two different calls.
Nothing runs in the background: what is visible (finished, ongoing, corrected) is computed from the
clock on each request. Days are generated on first use and kept in bounded LRU caches.

Ids are unique per account and grow with time: ``base + day * 1_000_000 + index`` (history indexes
below 500 000, live calls above). A call has a *stub* (cheap: times, durations, direction, lost,
defect and correction slots; enough to select, count and order) and *details* (who, which line,
recordings, attribution), generated only for the rows a page needs.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from functools import partial
from math import exp as _exp
from math import log as _log
from typing import Any, NamedTuple

from .demo_data import FEMALE_NAMES, MALE_NAMES, MOBILE_CODES, PATRONYMICS, SURNAMES, UTM_CAMPAIGNS, UTM_TERMS
from .faults import stable_int

EPOCH = date(2000, 1, 1).toordinal()  # day numbers in ids count from here
DAY_STRIDE = 1_000_000
LIVE_OFFSET = 500_000  # index of the first live call of a day
MIN_LIVE_INTERVAL = 0.2  # 86 400 / 0.2 = 432 000 live calls a day still fit below DAY_STRIDE
COMMUNICATION_OFFSET = 3_000_000_000  # communication_id = id + this (a sequence of its own at UIS)
WEEKEND_FACTOR = 0.6  # a weekend day has this share of a weekday's calls
DEFECT_RATE = 0.005
CORRECTION_RATE = 0.015
DEFECT_SLOTS = 12  # a defective call carries a slot; each rendering maps it onto its own kinds
CORRECTION_KINDS = ("recording_added", "talk_duration_fixed", "employee_added")
FIX_RECORDING, FIX_TALK, FIX_EMPLOYEE = range(len(CORRECTION_KINDS))
CORRECTION_HOUR = 3  # corrections of day D appear at 03:00 of D + 1 (IDENT caches up to 00:00)
MAX_CALL_SECONDS = 60 + 900 + 30  # the longest call this generator makes (wait + talk + postprocess)
PATIENT_POOL = 3000  # regular patients per account who call again and again

# fmt: off
# Share of a day's calls starting in each hour: a Moscow clinic open 9-21 on weekdays, 10-18 at weekends.
# A few per cent at night (tracked numbers ring around the clock; the IVR takes them).
WEEKDAY_HOURS = [0.8, 0.5, 0.3, 0.3, 0.3, 0.4, 0.8, 1.5, 4, 9, 10, 10, 9, 8.5, 8.5, 9, 8.5, 8, 7, 5, 3.5, 2,
                 1.2, 1.0]
WEEKEND_HOURS = [0.8, 0.5, 0.3, 0.3, 0.3, 0.3, 0.5, 0.8, 1.5, 3, 7, 9, 9, 8.5, 8, 7.5, 6, 4, 2, 1.5, 1.2, 1.0,
                 0.9, 0.8]
# (description, UIS source, attribution) of the clinic's lines; attribution: None = none, "site" = dynamic
# call tracking (a site visit), or fixed (utm_source, utm_medium) of a number printed in one channel.
LINES = [("Основная линия", "va", None), ("Сайт: динамический коллтрекинг", "dynamic_call_tracking", "site"),
         ("Яндекс.Директ", "call_tracking", ("yandex", "cpc")), ("Google Ads", "call_tracking", ("google", "cpc")),
         ("ВКонтакте", "call_tracking", ("vk", "social")), ("2ГИС", "call_tracking", ("2gis", "referral"))]
LINE_WEIGHTS = [50, 25, 10, 5, 5, 5]
SITE_UTMS = [("yandex", "cpc"), ("google", "cpc"), ("vk", "social"), ("telegram", "social"), ("email", "newsletter")]
SEARCH_REFERRERS = ["https://yandex.ru/", "https://www.google.com/", "https://ya.ru/"]
SITE_PAGES = ["", "implantatsiya", "ortodontiya/brekety", "akcii/profgigiena", "kontakty", "vrachi", "ceny"]
UTM_CONTENTS = ["banner_1", "text_ad_a", "story", "cta_button"]
REGIONS = [(1, "Москва"), (2, "Московская область"), (3, "Санкт-Петербург"), (4, "Тверская область"),
           (5, "Тульская область")]
GROUPS = ["Администраторы", "Колл-центр", "Терапия", "Ортодонтия", "Хирургия", "Имплантология",
          "Детская стоматология"]
DOCTOR_NAMES = ["Смирнова Ольга Викторовна", "Ахмедов Руслан Тимурович", "Ковалёв Игорь Петрович",
                "Белова Анастасия Сергеевна", "Захаров Денис Олегович", "Григорьева Марина Андреевна"]
# fmt: on
_CUM_WEEKDAY = [sum(WEEKDAY_HOURS[: i + 1]) for i in range(24)]
_CUM_WEEKEND = [sum(WEEKEND_HOURS[: i + 1]) for i in range(24)]
_CUM_LINES = [sum(LINE_WEIGHTS[: i + 1]) for i in range(len(LINES))]
_CUM_REGIONS = [70, 88, 92, 96, 100]  # REGIONS by share of callers


class Stub(NamedTuple):
    """What selecting, counting and ordering need. ``start`` is POSIX seconds (whole)."""

    start: int
    id: int
    day: int  # local date ordinal
    index: int  # position in the day's history, or LIVE_OFFSET + n for the n-th live call of the day
    wait: int  # total wait (every leg)
    talk: int  # 0 for a lost call
    post: int  # postprocess seconds, part of the total
    direction: str  # "in" / "out"
    lost: bool
    working: bool  # inside the clinic's opening hours
    defect: int  # -1, or a slot 0..DEFECT_SLOTS-1
    fix: int  # -1, or an index into CORRECTION_KINDS

    @property
    def total(self) -> int:
        return self.wait + self.talk + self.post

    @property
    def finish(self) -> int:
        return self.start + self.total


class Details(NamedTuple):
    """Who and what of a call; generated only for the rows a page shows."""

    contact: str | None  # digits as UIS sends them (79161234567), None = anonymous caller
    line: int  # index into the account's lines
    finish_reason: str
    records: tuple[str, ...]  # hex record ids, () without a recording
    answered_by: tuple[int, ...]  # staff indexes who talked, the last one last
    rung: tuple[int, ...]  # staff indexes rung who did not answer
    transfer_wait: int  # wait of the second leg (part of Stub.wait)
    utm: tuple[str | None, str | None, str | None, str | None, str | None] | None
    referrer: str | None
    entrance: str | None
    region: int  # index into REGIONS, -1 unknown
    talk_delta: int  # seconds missing from the talk before a talk_duration_fixed correction


class Employee(NamedTuple):
    id: int
    full_name: str
    role: str  # "admin", "call_center", "doctor"


class LruCache:
    """A small bounded mapping: generated days are cheap to rebuild, memory is not free."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self._data.get(key)
        if value is not None:
            self._data.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> Any:
        self._data[key] = value
        self._data.move_to_end(key)
        while len(self._data) > self.size:
            self._data.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._data)


class WallClock:
    """POSIX seconds -> local wall time text, fast (a page formats tens of thousands of them)."""

    def __init__(self, tz: tzinfo) -> None:
        self.tz = tz
        self._offsets: dict[int, int] = {}  # UTC hour -> offset seconds (zones change offset on hours)
        self._hours: dict[int, str] = {}  # UTC hour -> "YYYY-MM-DD hh:" of its local wall time

    def offset(self, ts: int) -> int:
        hour = ts // 3600
        offset = self._offsets.get(hour)
        if offset is None:
            moment = datetime.fromtimestamp(hour * 3600, UTC)
            offset = self._offsets[hour] = int(self.tz.utcoffset(moment.astimezone(self.tz)).total_seconds())
        return offset

    def wall(self, ts: int) -> str:
        """``YYYY-MM-DD hh:mm:ss`` (UIS's format)."""
        prefix = self._hours.get(ts // 3600)
        if prefix is None:
            offset = self.offset(ts)
            if offset % 3600:  # a zone off by a fraction of an hour: no shared prefix
                return datetime.fromtimestamp(ts, self.tz).strftime("%Y-%m-%d %H:%M:%S")
            local = datetime.fromtimestamp(ts // 3600 * 3600 + offset, UTC)
            prefix = self._hours[ts // 3600] = local.strftime("%Y-%m-%d %H:")
        rest = ts % 3600
        return f"{prefix}{rest // 60:02d}:{rest % 60:02d}"

    def iso(self, ts: int) -> str:
        """``YYYY-MM-DDTHH:MM:SS+03:00`` (IDENT's format)."""
        offset = self.offset(ts)
        if offset % 3600:
            return datetime.fromtimestamp(ts, self.tz).isoformat(timespec="seconds")
        sign = "-" if offset < 0 else "+"
        hours, minutes = divmod(abs(offset) // 60, 60)
        text = self.wall(ts)
        return f"{text[:10]}T{text[11:]}{sign}{hours:02d}:{minutes:02d}"


def _start(stub: Stub) -> int:
    return stub.start


def _state(stubs: list[Stub], now: float, finished: bool, ongoing: bool) -> list[Stub]:
    if finished and ongoing:
        return stubs
    return [s for s in stubs if (s.start + s.wait + s.talk + s.post <= now) == finished]


class Selection:
    """Calls of a window in order. Whole closed days are parts of known size whose stubs are made
    only when a page reaches them: a 90-day total_items costs 90 RNG seeds, not 27 000 calls."""

    def __init__(self) -> None:
        self._parts: list[tuple[int, Callable[[], list[Stub]]]] = []
        self._total = 0

    def add(self, count: int, load: Callable[[], list[Stub]]) -> None:
        if count:
            self._parts.append((count, load))
            self._total += count

    def extend(self, stubs: list[Stub]) -> None:
        self.add(len(stubs), lambda: stubs)

    def __len__(self) -> int:
        return self._total

    def page(self, offset: int, limit: int, reverse: bool = False) -> list[Stub]:
        """Items [offset, offset + limit) of the order, or of the reversed order."""
        if reverse:
            lo, hi = max(0, self._total - offset - limit), max(0, self._total - offset)
        else:
            lo, hi = offset, min(self._total, offset + limit)
        out: list[Stub] = []
        position = 0
        for count, load in self._parts:
            if position + count > lo and position < hi:
                out.extend(load()[max(0, lo - position) : hi - position])
            position += count
            if position >= hi:
                break
        return out[::-1] if reverse else out

    def all(self) -> list[Stub]:
        return [stub for _, load in self._parts for stub in load()]


def midnight(day: int, tz: tzinfo) -> int:
    """POSIX seconds of 00:00 local on the date with this ordinal."""
    d = date.fromordinal(day)
    return int(datetime(d.year, d.month, d.day, tzinfo=tz).timestamp())


class CallGenerator:
    """Calls of one account (UIS) or tenant (clinic_http). Cheap to build; days are made on use."""

    def __init__(
        self,
        seed: int,
        account: str,
        tz: tzinfo,
        start_time: datetime,
        *,
        call_days: int = 365,
        calls_per_day: float = 300,
        live_interval: float = 90.0,
        defect_rate: float = DEFECT_RATE,
        stub_cache: LruCache | None = None,
    ) -> None:
        self.seed, self.account, self.tz = seed, account, tz
        self.start_ts = start_time.timestamp()
        self.start_day = start_time.astimezone(tz).date().toordinal()
        self.first_day = self.start_day - max(call_days, 0)
        self.calls_per_day = max(calls_per_day, 0)
        self.defect_rate = defect_rate
        # Integer milliseconds keep the live grid exact (0.2 s * k is not, in floating point).
        self.live_ms = round(live_interval * 1000) if live_interval and live_interval > 0 else 0
        if 0 < self.live_ms < MIN_LIVE_INTERVAL * 1000:
            raise ValueError(f"live call interval {live_interval} s is below {MIN_LIVE_INTERVAL} s")
        self.live_k0 = int(self.start_ts * 1000) // self.live_ms + 1 if self.live_ms else 0
        self.id_base = stable_int(seed, account, "call-id") % 900_000_000
        self._stubs = stub_cache or LruCache(1000)
        self._live = LruCache(20_000)
        self.staff = make_staff(seed, account)
        self.lines = make_lines(seed, account)
        self._admins = [i for i, e in enumerate(self.staff) if e.role == "admin"]
        self._call_center = [i for i, e in enumerate(self.staff) if e.role == "call_center"]
        self._others = [[j for j in range(len(self.staff)) if j != i] for i in range(len(self.staff))]
        self._site = f"https://{account.lower()}.dental-clinic.example/"
        # Regular patients call again and again: the same numbers recur across days.
        self._patients = [
            f"7{MOBILE_CODES[h % len(MOBILE_CODES)]}{h // 97 % 10**7:07d}"
            for h in (stable_int(seed, account, "patient", n) for n in range(PATIENT_POOL))
        ]

    # -- stubs ------------------------------------------------------------------------------------
    def day_stubs(self, day: int) -> list[Stub]:
        """The history calls of a local day, ordered by (start, id); [] outside the history."""
        if day < self.first_day or day > self.start_day:
            return []
        stubs = self.full_day(day)
        if day == self.start_day:
            # The start day is the same day in every run, cut at the start: later calls are live ones.
            stubs = stubs[: bisect_left(stubs, self.start_ts, key=_start)]
        return stubs

    def full_day(self, day: int) -> list[Stub]:
        key = self._key(day)
        stubs = self._stubs.get(key)
        if stubs is None:
            stubs = self._stubs.put(key, self._make_day(day))
        return stubs

    def _day_rng(self, day: int) -> tuple[random.Random, int]:
        """The day's RNG, already past its first draw: the number of calls that day."""
        rng = random.Random(stable_int(self.seed, self.account, "call-day", day))
        weekend = date.fromordinal(day).weekday() >= 5
        weekday_mean = self.calls_per_day * 7 / (5 + 2 * WEEKEND_FACTOR)  # calls_per_day = the weekly average
        mean = weekday_mean * (WEEKEND_FACTOR if weekend else 1.0)
        return rng, round(mean * rng.uniform(0.88, 1.12))

    def day_size(self, day: int) -> int:
        """Calls in a whole history day, without generating them."""
        stubs = self._stubs.get(self._key(day))
        return len(stubs) if stubs is not None else self._day_rng(day)[1]

    def _key(self, day: int) -> tuple:
        return (self.seed, self.account, self.calls_per_day, self.defect_rate, day)

    def _make_day(self, day: int) -> list[Stub]:
        rng, count = self._day_rng(day)
        weekend = date.fromordinal(day).weekday() >= 5
        day_start = midnight(day, self.tz)
        length = midnight(day + 1, self.tz) - day_start  # 23 or 25 h on a DST change
        hours = rng.choices(range(24), cum_weights=_CUM_WEEKEND if weekend else _CUM_WEEKDAY, k=count)
        seconds = sorted(min(h * 3600 + int(rng.random() * 3600), length - 1) for h in hours)
        base = self.id_base + (day - EPOCH) * DAY_STRIDE
        return [self._stub(rng, day_start + s, base + i, day, i, s // 3600, weekend) for i, s in enumerate(seconds)]

    def _stub(
        self, rng: random.Random, start: int, call_id: int, day: int, index: int, hour: int, weekend: bool
    ) -> Stub:
        rnd = rng.random  # rnd() is ~10x cheaper than choice/randint, and a year is 100 000 calls
        working = (10 <= hour < 18) if weekend else (9 <= hour < 21)
        direction = "out" if working and rnd() < 0.22 else "in"
        if direction == "in":
            lost = rnd() < (0.07 if working else 0.4)
        else:
            lost = rnd() < 0.15
        if lost:
            wait, talk, post = 3 + int(rnd() * 58), 0, 0
        else:
            wait = min(60, int(-10 * _log(1.0 - rnd())) + 2)  # exponential, mean ~12 s
            talk = int(min(900.0, max(20.0, _exp(4.6 + 0.8 * rng.gauss()))))  # log-normal, median 100 s
            post = int(rnd() * (21 if direction == "in" else 11))
        defect = int(rnd() * DEFECT_SLOTS) if rnd() < self.defect_rate else -1
        fix = -1
        if defect < 0 and not lost and rnd() < CORRECTION_RATE:
            fix = int(rnd() * len(CORRECTION_KINDS))
        return Stub(start, call_id, day, index, wait, talk, post, direction, lost, working, defect, fix)

    def live_stubs(self, lo: int, hi: int) -> list[Stub]:
        """Live calls starting in [lo, hi] (POSIX seconds), in order."""
        if not self.live_ms or hi < lo:
            return []
        first = max(self.live_k0, (lo - 1) * 1000 // self.live_ms + 1)  # ceil(k * interval) >= lo
        last = hi * 1000 // self.live_ms  # ceil(k * interval) <= hi
        return [self.live_stub(k) for k in range(first, last + 1)]

    def live_stub(self, k: int) -> Stub:
        stub = self._live.get(k)
        if stub is None:
            start = -(-k * self.live_ms // 1000)
            local = datetime.fromtimestamp(start, self.tz)
            day = local.date().toordinal()
            index = LIVE_OFFSET + k - self._first_live_k(day)
            rng = random.Random(stable_int(self.seed, self.account, "live-call", self.live_ms, k))
            weekend = date.fromordinal(day).weekday() >= 5
            call_id = self.id_base + (day - EPOCH) * DAY_STRIDE + index
            stub = self._live.put(k, self._stub(rng, start, call_id, day, index, local.hour, weekend))
        return stub

    def select(self, lo: int, hi: int, now: float, *, finished: bool = True, ongoing: bool = False) -> Selection:
        """Calls starting in [lo, hi] (POSIX seconds) that are finished by ``now`` and/or (``ongoing``)
        started but not finished, in (start, id) order."""
        selection = Selection()
        hi = min(hi, math.floor(now))
        if hi < lo:
            return selection
        settled = now - MAX_CALL_SECONDS  # every call started before this has finished
        for day in range(max(self.day_of(lo), self.first_day), min(self.day_of(hi), self.start_day) + 1):
            day_lo, day_hi = midnight(day, self.tz), midnight(day + 1, self.tz) - 1
            if lo <= day_lo and day_hi <= hi and day_hi < settled and day != self.start_day:
                if finished:  # a whole closed day: counted now, generated only if a page reaches it
                    selection.add(self.day_size(day), partial(self.day_stubs, day))
                continue
            stubs = self.day_stubs(day)
            if stubs:
                i = bisect_left(stubs, lo, key=_start) if stubs[0].start < lo else 0
                j = bisect_right(stubs, hi, key=_start) if stubs[-1].start > hi else len(stubs)
                selection.extend(_state(stubs[i:j], now, finished, ongoing))
        selection.extend(_state(self.live_stubs(lo, hi), now, finished, ongoing))
        return selection

    def day_of(self, ts: int) -> int:
        return datetime.fromtimestamp(ts, self.tz).date().toordinal()

    def find(self, call_id: int) -> Stub | None:
        """The stub with this id, if the id is one this generator makes (visible or not)."""
        rel = call_id - self.id_base
        if rel < 0:
            return None
        day, index = rel // DAY_STRIDE + EPOCH, rel % DAY_STRIDE
        if index < LIVE_OFFSET:
            stubs = self.day_stubs(day)
            return stubs[index] if index < len(stubs) else None
        k = self._first_live_k(day) + index - LIVE_OFFSET if self.live_ms else 0
        if k < self.live_k0:
            return None
        stub = self.live_stub(k)
        return stub if stub.id == call_id else None

    def _first_live_k(self, day: int) -> int:
        """The first grid point of a local day, whatever the start: live ids do not depend on it."""
        return (midnight(day, self.tz) - 1) * 1000 // self.live_ms + 1

    def fix_time(self, day: int) -> int:
        """When the corrections of a day become visible: 03:00 local of the next day."""
        return midnight(day + 1, self.tz) + CORRECTION_HOUR * 3600

    # -- details ----------------------------------------------------------------------------------
    def day_details(self, day: int) -> list[Details]:
        """Details of the history calls of a day, aligned with the full day (start day uncut)."""
        if day < self.first_day or day > self.start_day:
            return []
        rng = random.Random(stable_int(self.seed, self.account, "call-details", day))
        return [self._details(rng, stub) for stub in self.full_day(day)]

    def day_calls(self, day: int) -> list[tuple[Stub, Details]]:
        """(stub, details) of every history call of a day (the start day uncut), for rendering a day at once."""
        return list(zip(self.full_day(day), self.day_details(day), strict=True))

    def live_details(self, stub: Stub) -> Details:
        k = stub.index - LIVE_OFFSET
        rng = random.Random(stable_int(self.seed, self.account, "live-details", self.live_ms, stub.id, k))
        return self._details(rng, stub)

    def _details(self, rng: random.Random, stub: Stub) -> Details:
        rnd = rng.random
        answered = not stub.lost
        incoming = stub.direction == "in"
        line = bisect_right(_CUM_LINES, rnd() * _CUM_LINES[-1]) if incoming else 0
        contact = self._contact(rnd, allow_anonymous=incoming)
        attribution = LINES[line][2]
        utm = referrer = entrance = None
        if attribution == "site":  # dynamic call tracking: the number shown to one site visitor
            entrance = self._site + _pick(rnd, SITE_PAGES)
            if rnd() < 0.7:
                source, medium = _pick(rnd, SITE_UTMS)
                term = _pick(rnd, UTM_TERMS) if medium == "cpc" and rnd() < 0.7 else None
                content = _pick(rnd, UTM_CONTENTS) if rnd() < 0.5 else None
                utm = (source, medium, _pick(rnd, UTM_CAMPAIGNS), term, content)
                if rnd() < 0.5:
                    referrer = f"{entrance}?utm_source={source}&utm_medium={medium}"
                elif medium == "cpc":
                    referrer = SEARCH_REFERRERS[0] if source == "yandex" else SEARCH_REFERRERS[1]
            elif rnd() < 0.8:
                referrer = _pick(rnd, SEARCH_REFERRERS)  # organic search, no tags
        elif attribution is not None:  # a number printed in one channel only
            source, medium = attribution
            term = _pick(rnd, UTM_TERMS) if medium == "cpc" and rnd() < 0.5 else None
            utm = (source, medium, _pick(rnd, UTM_CAMPAIGNS), term, None)

        answered_by: tuple[int, ...] = ()
        rung: tuple[int, ...] = ()
        transfer_wait = 0
        pool = self._admins if stub.working or not self._call_center else self._call_center
        if answered:
            if incoming and self._call_center and rnd() < 0.2:
                pool = self._call_center
            first = _pick(rnd, pool)
            answered_by = (first,)
            if incoming and stub.wait >= 5 and rnd() < 0.1:  # transferred to a second employee
                transfer_wait = 2 + int(rnd() * (min(20, stub.wait - 2) - 1))
                second = _pick(rnd, self._others[first])
                answered_by = (first, second)
            reason = "operator_disconnects" if rnd() < 0.5 else "subscriber_disconnects"
        elif incoming:
            if stub.working:
                rung = (_pick(rnd, pool),)
            reasons = ("timeout", "subscriber_disconnects") if stub.working else ("no_operation", "timeout")
            reason = _pick(rnd, reasons)
        else:
            reason = _pick(rnd, ("subscriber_busy", "timeout", "subscriber_disconnects"))
        records: tuple[str, ...] = ()
        if answered and (rnd() < 0.93 or stub.fix == FIX_RECORDING):
            records = tuple(f"{rng.getrandbits(48):012x}" for _ in answered_by)
        region = -1
        if contact is not None:
            region = 2 if contact.startswith("7812") else bisect_right(_CUM_REGIONS, rnd() * _CUM_REGIONS[-1])
        talk_delta = 5 + int(rnd() * (min(60, stub.talk - 1) - 4)) if stub.talk > 6 else 0
        return Details(
            contact,
            line,
            reason,
            records,
            answered_by,
            rung,
            transfer_wait,
            utm,
            referrer,
            entrance,
            region,
            talk_delta,
        )

    def _contact(self, rnd, allow_anonymous: bool) -> str | None:
        roll = rnd()
        if allow_anonymous and roll < 0.01:
            return None
        if roll < 0.3:  # a regular patient: the same numbers call again and again across days
            return self._patients[int(rnd() * PATIENT_POOL)]
        code, subscriber = _pick(rnd, MOBILE_CODES), int(rnd() * 10**7)
        if roll < 0.84:
            return f"7{code}{subscriber:07d}"
        if roll < 0.87:
            return f"8{code}{subscriber:07d}"  # 8-prefixed, as some trunks deliver it
        if roll < 0.93:
            return f"7812{subscriber:07d}"  # St Petersburg landline
        return f"7495{subscriber:07d}"


def _pick(rnd, seq):
    return seq[int(rnd() * len(seq))]


def make_staff(seed: int, account: str) -> list[Employee]:
    """A small clinic staff: administrators and a call centre answer calls, doctors form groups."""
    rng = random.Random(stable_int(seed, account, "staff"))
    base = 1000 + stable_int(seed, account, "staff-id") % 90_000
    people: list[Employee] = []
    roles = ["admin"] * rng.randint(4, 6) + ["call_center"] * rng.randint(2, 3)
    for n, role in enumerate(roles):
        female = rng.random() < 0.8
        surname = rng.choice(SURNAMES) + ("а" if female else "")
        name = rng.choice(FEMALE_NAMES if female else MALE_NAMES)
        patronymic = rng.choice(PATRONYMICS)[1 if female else 0]
        people.append(Employee(base + n, f"{surname} {name} {patronymic}", role))
    for n, full_name in enumerate(DOCTOR_NAMES):
        people.append(Employee(base + 100 + n, full_name, "doctor"))
    return people


def make_lines(seed: int, account: str) -> list[tuple[str, str, str]]:
    """(virtual number digits, description, UIS source) of each line of LINES."""
    numbers = []
    for n, (description, source, _) in enumerate(LINES):
        numbers.append((f"7495{stable_int(seed, account, 'line', n) % 10**7:07d}", description, source))
    return numbers


def make_groups(seed: int, account: str, staff: list[Employee]) -> list[dict]:
    """5-7 employee groups as ``get.group_employees`` has them."""
    rng = random.Random(stable_int(seed, account, "groups"))
    count = 5 + stable_int(seed, account, "group-count") % 3
    admins = [e for e in staff if e.role == "admin"]
    center = [e for e in staff if e.role == "call_center"]
    doctors = [e for e in staff if e.role == "doctor"]
    base = 10_000 + stable_int(seed, account, "group-id") % 80_000
    groups = []
    for n, name in enumerate(GROUPS[:count]):
        if name == "Администраторы":
            members = admins
        elif name == "Колл-центр":
            members = center
        else:
            members = rng.sample(doctors, rng.randint(1, 3))
        groups.append(
            {
                "id": base + n,
                "name": name,
                "members": [{"employee_id": e.id, "employee_full_name": e.full_name} for e in members],
                "phone_numbers": [
                    {
                        "employee_phone_number": f"7495{stable_int(seed, account, 'phone', e.id) % 10**7:07d}",
                        "employee_phone_number_id": e.id * 10 + 1,
                        "employee_full_name": e.full_name,
                        "employee_id": e.id,
                        "available": rng.random() < 0.8,
                    }
                    for e in members
                ],
                "group_phone_number": str(201 + n),
                "queue_enabled": name in ("Администраторы", "Колл-центр"),
                "channels_count": len(members) if members else 1,
            }
        )
    return groups
