"""DaData Cleaner and Profile APIs (reference external-apis.md §3): address standardisation.

Routes under ``/dadata/``: ``POST api/v1/clean/address`` (a JSON array of raw addresses in, an
array of answers in the same order out) and ``GET api/v2/profile/balance``. Both need
``Authorization: Token <key>`` and ``X-Secret: <secret>``; the sandbox key is both. Missing
either → 401, a wrong one → 403; a body that is not an array of strings → 400; more than
``MAX_ITEMS`` items → 413. Error bodies are ``{"family", "reason", "message"}`` [ASSUMED: DaData's
error format is not confirmed].

Answers come from a small deterministic gazetteer: every street the demo clinic's patients live on
(Moscow and Yekaterinburg, ``ident_integrations/demo_data.py``), a few more, and same-named
streets elsewhere (``ул Ленина`` in Podolsk, Kazan and Yekaterinburg). What it answers:

* city + known street + house → ``qc 0``, ``qc_geo 0`` (exact), ``qc_house 2``;
  a house number above the street's last house → ``qc_geo 1`` (nearest house), ``qc_house 10``;
* a street word misspelt (a prefix of the real one, e.g. ``сухонска``) → ``qc 1``;
* no house → ``qc_geo 2`` (street), ``qc_complete 4``;
* a city but no street known → ``qc 1``, ``qc_geo 4`` (city);
* a street several cities have and no city, or ``Тверская-Ямская`` without its number → ``qc 3``;
* nothing recognised (garbage, digits only) → ``qc 2``, ``qc_geo 5``, null coordinates and result.

``geo_lat``/``geo_lon`` are strings, the ``qc*`` codes integers, as the real service sends them.

Control API under ``/_sandbox/dadata/``: ``GET stats`` (requests per key fingerprint, addresses
cleaned), ``PUT faults`` ``{"forbidden": true}`` / ``{"forbidden_next": N}`` (403 "not enough
money" for every / the next N requests), ``{"rate_limited_next": N, "retry_after": S}`` (429 with
``Retry-After``), ``{"bad_answer_next": N}`` (the next N answers carry ``geo_lat: "north"``, a shape
the caller must reject), ``DELETE faults``. The generic switches (``/_sandbox/faults/dadata``: 503
bursts, slow answers, 401 revoked key, broken bodies) work as for every service.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..context import SandboxContext, Service
from ..faults import stable_int

NAME = "dadata"
MAX_ITEMS = 50  # [UNCONFIRMED] old SDK texts: "more than 50 records" is a 413
LAST_HOUSE = 150  # a higher number is "not in FIAS": the nearest house's coordinates


@dataclass(frozen=True)
class City:
    key: str
    aliases: tuple[str, ...]  # lower-case forms found in raw input
    lat: float
    lon: float
    region: tuple[str, str, str]  # (region_with_type, region_type, region)
    city: tuple[str, str] | None  # (city_with_type, city) or None for a federal city
    federal_district: str
    timezone: str
    postal: str
    prefix: str  # the head of ``result``


MOSCOW = City("moscow", ("москва", "мск", "moscow"), 55.7558, 37.6173, ("г Москва", "г", "Москва"), None,
              "Центральный", "UTC+3", "1", "г Москва")  # fmt: skip
CITIES = {
    c.key: c
    for c in (
        MOSCOW,
        City("yekaterinburg", ("екатеринбург", "екб"), 56.8389, 60.6057, ("Свердловская обл", "обл", "Свердловская"),
             ("г Екатеринбург", "Екатеринбург"), "Уральский", "UTC+5", "6", "г Екатеринбург"),
        City("kazan", ("казань",), 55.7961, 49.1064, ("Респ Татарстан", "Респ", "Татарстан"), ("г Казань", "Казань"),
             "Приволжский", "UTC+3", "4", "Респ Татарстан, г Казань"),
        City("podolsk", ("подольск",), 55.4312, 37.5446, ("Московская обл", "обл", "Московская"),
             ("г Подольск", "Подольск"), "Центральный", "UTC+3", "1", "Московская обл, г Подольск"),
        City("khimki", ("химки",), 55.8887, 37.4300, ("Московская обл", "обл", "Московская"), ("г Химки", "Химки"),
             "Центральный", "UTC+3", "1", "Московская обл, г Химки"),
    )
}  # fmt: skip


@dataclass(frozen=True)
class Street:
    city: str
    type: str  # DaData's short type: ул, пр-кт, ш
    name: str  # as DaData spells it
    lat: float
    lon: float
    type_first: bool = True  # "ул Тверская" / "Ленинский пр-кт"
    ambiguous: bool = False  # several streets of this name in the city (qc 3)

    @property
    def with_type(self) -> str:
        return f"{self.type} {self.name}" if self.type_first else f"{self.name} {self.type}"

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(_norm(self.name).split())


TYPE_FULL = {"ул": "улица", "пр-кт": "проспект", "ш": "шоссе", "пер": "переулок"}

_S = Street
STREETS = (
    # Moscow: every street of the demo's patients, and the reference's example
    _S("moscow", "ул", "Тверская", 55.7648, 37.6050), _S("moscow", "ул", "Арбат", 55.7494, 37.5912),
    _S("moscow", "пр-кт", "Ленинский", 55.7000, 37.5800, False), _S("moscow", "ул", "Профсоюзная", 55.6720, 37.5510),
    _S("moscow", "ул", "Новый Арбат", 55.7527, 37.5874), _S("moscow", "пр-кт", "Кутузовский", 55.7420, 37.5290, False),
    _S("moscow", "ул", "Большая Якиманка", 55.7340, 37.6130), _S("moscow", "ул", "Мясницкая", 55.7630, 37.6380),
    _S("moscow", "ул", "Покровка", 55.7590, 37.6470), _S("moscow", "ул", "Маросейка", 55.7570, 37.6360),
    _S("moscow", "пр-кт", "Мира", 55.7960, 37.6370), _S("moscow", "ул", "Сретенка", 55.7680, 37.6320),
    _S("moscow", "пр-кт", "Ленинградский", 55.7900, 37.5350, False), _S("moscow", "ул", "Вавилова", 55.6990, 37.5750),
    _S("moscow", "ул", "Дмитрия Ульянова", 55.6930, 37.5700), _S("moscow", "ул", "Гарибальди", 55.6700, 37.5470),
    _S("moscow", "ул", "Обручева", 55.6560, 37.5290), _S("moscow", "пр-кт", "Мичуринский", 55.6980, 37.5000, False),
    _S("moscow", "ул", "Академика Янгеля", 55.5970, 37.6030), _S("moscow", "ш", "Варшавское", 55.6550, 37.6200, False),
    _S("moscow", "ул", "Бутлерова", 55.6450, 37.5370), _S("moscow", "ул", "Островитянова", 55.6440, 37.5090),
    _S("moscow", "ш", "Каширское", 55.6550, 37.6720, False), _S("moscow", "ул", "Бориса Галушкина", 55.8120, 37.6580),
    _S("moscow", "ул", "Краснопролетарская", 55.7780, 37.6060),
    _S("moscow", "пр-кт", "Волгоградский", 55.7170, 37.7300, False),
    _S("moscow", "ул", "Сухонская", 55.8783, 37.6537),
    _S("moscow", "ул", "1-я Тверская-Ямская", 55.7760, 37.5950),
    _S("moscow", "ул", "Тверская-Ямская", 55.7745, 37.5965, ambiguous=True),  # 1-я..4-я: which one?
    # Yekaterinburg: the demo's streets
    _S("yekaterinburg", "ул", "Малышева", 56.8360, 60.6100), _S("yekaterinburg", "ул", "Ленина", 56.8386, 60.6050),
    _S("yekaterinburg", "ул", "8 Марта", 56.8200, 60.6050), _S("yekaterinburg", "ул", "Белинского", 56.8150, 60.6180),
    _S("yekaterinburg", "ул", "Куйбышева", 56.8290, 60.6200), _S("yekaterinburg", "ул", "Вайнера", 56.8330, 60.5980),
    _S("yekaterinburg", "ул", "Радищева", 56.8320, 60.5900),
    _S("yekaterinburg", "ул", "Мамина-Сибиряка", 56.8380, 60.6250),
    _S("yekaterinburg", "ул", "Щорса", 56.8080, 60.6160), _S("yekaterinburg", "ул", "Фрунзе", 56.8120, 60.5950),
    # same-named streets elsewhere: the reason a clinic's coordinates catch a wrong town
    _S("kazan", "ул", "Ленина", 55.7930, 49.1120), _S("kazan", "ул", "Баумана", 55.7880, 49.1220),
    _S("podolsk", "ул", "Ленина", 55.4300, 37.5450), _S("khimki", "ул", "Маяковского", 55.8880, 37.4350),
)  # fmt: skip

TYPE_WORDS = frozenset(
    {"г", "гор", "город", "ул", "улица", "пр", "пр-т", "пр-кт", "просп", "проспект", "ш", "шоссе", "пер", "переулок",
     "д", "дом", "кв", "квартира", "обл", "область", "россия", "рф", "респ", "республика", "московская",
     "свердловская", "татарстан"}
)  # fmt: skip


def _norm(text: str) -> str:
    text = text.lower().replace("ё", "е")
    return " ".join(re.sub(r"[,.;:()\"«»]", " ", text).split())


@dataclass
class Parsed:
    city: City | None = None
    street: Street | None = None
    house: str | None = None
    flat: str | None = None
    block: tuple[str, str] | None = None  # ("стр", "1")
    misspelt: bool = False
    ambiguous: bool = False
    leftover: list[str] = field(default_factory=list)


def _match_street(tokens: list[str], candidates: list[Street]) -> tuple[Street | None, bool, list[str]]:
    """The street whose name words appear in a row in ``tokens`` (longest name first), whether a
    word matched only by prefix (a misspelling), and the tokens left."""
    best: tuple[int, int, Street, bool, int] | None = None  # (-words, misspelt, street, misspelt, at)
    for street in candidates:
        words = street.words
        for at in range(len(tokens) - len(words) + 1):
            exact = prefix = True
            for offset, word in enumerate(words):
                token = tokens[at + offset]
                if token != word:
                    exact = False
                    if not (len(token) >= 4 and word.startswith(token)):
                        prefix = False
                        break
            if exact or prefix:
                key = (-len(words), 0 if exact else 1)
                if best is None or key < best[:2]:
                    best = (*key, street, not exact, at)
    if best is None:
        return None, False, tokens
    _, _, street, misspelt, at = best
    return street, misspelt, tokens[:at] + tokens[at + len(street.words) :]


def parse(raw: str) -> Parsed:
    text = _norm(raw)
    parsed = Parsed()
    if match := re.search(r"(\d+[а-я]?)/-(\d+)", text):  # "11/-89": house 11, flat 89
        parsed.house, parsed.flat = match.group(1), match.group(2)
        text = text[: match.start()] + " " + text[match.end() :]
    if match := re.search(r"\b(?:кв|квартира)\s*(\d+)\b", text):
        parsed.flat = match.group(1)
        text = text[: match.start()] + " " + text[match.end() :]
    if match := re.search(r"\b(?:д|дом)\s*(\d+[а-я]?(?:/\d+)?)(?:\s*(к|корп|стр)\s*(\d+))?", text):
        parsed.house = match.group(1)
        if match.group(2):
            parsed.block = ("к" if match.group(2).startswith("к") else "стр", match.group(3))
        text = text[: match.start()] + " " + text[match.end() :]
    tokens = text.split()
    for city in CITIES.values():
        found = [t for t in tokens if t in city.aliases]
        if found:
            parsed.city = city
            tokens = [t for t in tokens if t not in city.aliases]
            break
    candidates = [s for s in STREETS if parsed.city is None or s.city == parsed.city.key]
    street, misspelt, tokens = _match_street(tokens, candidates)
    if street is not None and parsed.city is None:
        cities = {s.city for s in STREETS if s.words == street.words}
        parsed.ambiguous = len(cities) > 1  # "ул Ленина, 5": which town?
        parsed.city = CITIES[street.city]
    parsed.street, parsed.misspelt = street, misspelt
    parsed.ambiguous = parsed.ambiguous or bool(street and street.ambiguous)
    rest = [t for t in tokens if t not in TYPE_WORDS]
    if parsed.house is None:
        numbers = [t for t in rest if re.fullmatch(r"\d+[а-я]?(?:/\d+)?", t)]
        if numbers and street is not None:
            parsed.house = numbers[0]
            rest.remove(numbers[0])
            if parsed.flat is None and len(numbers) > 1:
                parsed.flat = numbers[1]
                rest.remove(numbers[1])
    parsed.leftover = rest
    return parsed


def _coords(street: Street, house: str) -> tuple[float, float]:
    number = int(re.match(r"\d+", house).group())
    angle = (stable_int("dadata", street.city, street.name) % 360) * math.pi / 180
    step = min(number, LAST_HOUSE)
    return street.lat + step * 0.00012 * math.cos(angle), street.lon + step * 0.0002 * math.sin(angle)


def _fias(*parts: object) -> str:
    digest = hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()  # noqa: S324 - an id, not security
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _empty(source: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"source": source, "result": None, "postal_code": None, "country": None,
                              "country_iso_code": None, "federal_district": None}  # fmt: skip
    for part in ("region", "area", "city", "city_district", "settlement", "street", "house", "flat"):
        for suffix in ("_fias_id", "_kladr_id", "_with_type", "_type", "_type_full", ""):
            answer[f"{part}{suffix}"] = None
    for name in (
        "block_type",
        "block",
        "entrance",
        "floor",
        "postal_box",
        "fias_id",
        "fias_code",
        "fias_level",
        "fias_actuality_state",
        "kladr_id",
        "geoname_id",
        "capital_marker",
        "okato",
        "oktmo",
        "tax_office",
        "tax_office_legal",
        "timezone",
        "geo_lat",
        "geo_lon",
        "beltway_hit",
        "beltway_distance",
        "metro",
        "unparsed_parts",
        "divisions",
        "flat_area",
        "square_meter_price",
        "flat_price",
        "house_flat_count",
    ):
        answer[name] = None  # fmt: skip
    answer.update(qc_geo=5, qc_complete=6, qc_house=None, qc=2, fias_level="-1")
    return answer


def clean(source: str) -> dict[str, Any]:
    """DaData's answer for one raw address."""
    answer = _empty(source)
    parsed = parse(source)
    city = parsed.city
    if city is None:
        return answer  # garbage: qc 2, qc_geo 5
    region_with_type, region_type, region = parsed.city.region
    answer.update(
        country="Россия", country_iso_code="RU", federal_district=city.federal_district,
        region_with_type=region_with_type, region_type=region_type, region=region,
        region_type_full={"г": "город", "обл": "область", "Респ": "республика"}[region_type],
        region_fias_id=_fias(region), region_kladr_id=f"{stable_int(region) % 10**13:013d}",
        timezone=city.timezone, capital_marker="0",
    )  # fmt: skip
    if city.city:
        answer.update(city_with_type=city.city[0], city=city.city[1], city_type="г", city_type_full="город",
                      city_fias_id=_fias(city.key))  # fmt: skip
    parts = [city.prefix]
    street = parsed.street
    lat, lon = city.lat, city.lon
    qc_geo, qc_complete, qc_house, level, fias_parts = 4, 3, None, "4" if city.city else "1", [city.key]
    if street is not None:
        answer.update(street_with_type=street.with_type, street=street.name, street_type=street.type,
                      street_type_full=TYPE_FULL[street.type], street_fias_id=_fias(city.key, street.name))  # fmt: skip
        parts.append(street.with_type)
        lat, lon, qc_geo, qc_complete, level = street.lat, street.lon, 2, 4, "7"
        fias_parts.append(street.name)
        if parsed.house:
            number = int(re.match(r"\d+", parsed.house).group())
            lat, lon = _coords(street, parsed.house)
            answer.update(house_type="д", house_type_full="дом", house=parsed.house,
                          house_fias_id=_fias(city.key, street.name, parsed.house))  # fmt: skip
            parts.append(f"д {parsed.house}")
            if parsed.block:
                answer.update(block_type=parsed.block[0], block=parsed.block[1])
                parts.append(" ".join(parsed.block))
            fias_parts.append(parsed.house)
            known = number <= LAST_HOUSE
            qc_geo, qc_house, level = (0, 2, "8") if known else (1, 10, "8")
            qc_complete = (0 if parsed.flat else 5) if known else 10
            answer["postal_code"] = f"{city.postal}{stable_int(city.key, street.name, number // 20) % 100000:05d}"
            if parsed.flat:
                answer.update(flat_type="кв", flat_type_full="квартира", flat=parsed.flat)
                parts.append(f"кв {parsed.flat}")
                level = "9"
    qc = 3 if parsed.ambiguous else 1 if (parsed.misspelt or parsed.leftover or street is None) else 0
    if qc == 3 and qc_complete == 0:
        qc_complete = 9  # "check the parse first"
    if parsed.leftover:
        answer["unparsed_parts"] = " ".join(parsed.leftover).upper()
    answer.update(
        result=", ".join(parts), geo_lat=f"{lat:.7f}", geo_lon=f"{lon:.7f}", qc_geo=qc_geo, qc_complete=qc_complete,
        qc_house=qc_house, qc=qc, fias_level=level, fias_id=_fias(*fias_parts), fias_actuality_state="0",
        kladr_id=f"{stable_int(*fias_parts) % 10**19:019d}",
        okato=f"{stable_int('okato', *fias_parts[:2]) % 10**11:011d}",
        oktmo=f"{stable_int('oktmo', *fias_parts[:2]) % 10**11:011d}",
        tax_office=f"{stable_int('tax', *fias_parts[:2]) % 10000:04d}",
        beltway_hit=("IN_MKAD" if city is MOSCOW else None), metro=[] if city is MOSCOW else None,
    )  # fmt: skip
    return answer


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]  # stats name keys without showing them


def _error(status: int, reason: str, message: str) -> JSONResponse:
    family = "CLIENT_ERROR" if status < 500 else "SERVER_ERROR"
    return JSONResponse({"family": family, "reason": reason, "message": message}, status_code=status)


@dataclass
class _State:
    by_key: Counter = field(default_factory=Counter)  # key fingerprint -> requests
    addresses: int = 0  # addresses cleaned (each one is paid)
    forbidden: bool = False
    forbidden_next: int = 0
    rate_limited_next: int = 0
    retry_after: int = 1
    bad_answer_next: int = 0  # the next N answers carry geo_lat "north": a shape the caller must reject
    balance: float = 9922.30


def create(ctx: SandboxContext) -> Service:
    state = _State()
    router = APIRouter()
    control = APIRouter()

    def guard(request: Request) -> Response | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token, secret = token.strip(), request.headers.get("X-Secret", "").strip()
        if scheme.lower() != "token" or not token:
            return _error(401, "Unauthorized", "API key is missing: send Authorization: Token <API key>")
        state.by_key[_fingerprint(token)] += 1
        if not secret:
            return _error(401, "Unauthorized", "Secret key is missing: send X-Secret: <secret key>")
        expected = ctx.settings.key.encode()
        if not (hmac.compare_digest(token.encode(), expected) and hmac.compare_digest(secret.encode(), expected)):
            return _error(403, "Forbidden", "Invalid API key or secret key")
        if state.forbidden or state.forbidden_next > 0:
            state.forbidden_next = max(0, state.forbidden_next - 1)
            return _error(403, "Forbidden", "Not enough money on the account balance to process the request")
        if state.rate_limited_next > 0:
            state.rate_limited_next -= 1
            response = _error(429, "Too Many Requests", "Too many requests per second")
            response.headers["Retry-After"] = str(state.retry_after)
            return response
        return None

    @router.post("/api/v1/clean/address")
    async def clean_address(request: Request) -> Response:
        refused = guard(request)
        if refused is not None:
            return refused
        try:
            body = json.loads((await request.body()).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return _error(400, "Bad Request", f"Invalid JSON: {exc}")
        if not isinstance(body, list) or not all(isinstance(item, str) for item in body):
            return _error(400, "Bad Request", 'The body must be a JSON array of strings, e.g. ["мск сухонская 11"]')
        if len(body) > MAX_ITEMS:
            return _error(413, "Request Entity Too Large", f"At most {MAX_ITEMS} addresses per request")
        state.addresses += len(body)
        answers = [clean(item) for item in body]
        if state.bad_answer_next > 0 and answers:
            state.bad_answer_next -= 1
            answers[0]["geo_lat"] = "north"
        return JSONResponse(answers)

    @router.get("/api/v2/profile/balance")
    async def balance(request: Request) -> Response:
        refused = guard(request)
        return refused if refused is not None else JSONResponse({"balance": state.balance})

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    async def unknown_route(rest: str) -> Response:
        return _error(404, "Not Found", f"No such method: /{rest}")

    # -- control API ------------------------------------------------------------------------------
    @control.get("/stats")
    async def stats() -> Response:
        return JSONResponse({
            "requests_by_key": dict(state.by_key), "sandbox_key": _fingerprint(ctx.settings.key),
            "addresses_cleaned": state.addresses, **ctx.served(NAME, "api"),
        })  # fmt: skip

    @control.put("/faults")
    async def set_faults(request: Request) -> Response:
        body = await request.json()
        allowed = {"forbidden": bool, "forbidden_next": int, "rate_limited_next": int, "retry_after": int,
                   "bad_answer_next": int, "balance": float}  # fmt: skip
        for name, value in body.items():
            if name not in allowed:
                return JSONResponse({"detail": f"unknown field {name!r}; known: {sorted(allowed)}"}, status_code=400)
            setattr(state, name, allowed[name](value))
        return JSONResponse(_faults(state))

    @control.delete("/faults")
    async def reset_faults() -> Response:
        state.forbidden, state.forbidden_next, state.rate_limited_next, state.retry_after = False, 0, 0, 1
        state.bad_answer_next = 0
        return JSONResponse(_faults(state))

    @control.delete("/stats")
    async def reset_stats() -> Response:
        state.by_key.clear()
        state.addresses = 0
        return JSONResponse({"reset": True})

    return Service(NAME, router, control)


def _faults(state: _State) -> dict[str, Any]:
    return {"forbidden": state.forbidden, "forbidden_next": state.forbidden_next,
            "rate_limited_next": state.rate_limited_next, "retry_after": state.retry_after,
            "bad_answer_next": state.bad_answer_next, "balance": state.balance}  # fmt: skip
