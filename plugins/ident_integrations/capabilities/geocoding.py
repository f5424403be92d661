"""Geocoding ("Геокодирование", DaData): every ``geocoding.interval_minutes`` patients' addresses
from ``ident_patients`` to DaData's standardised address, coordinates and quality codes in
``ident_geocodes`` — IDENT's map of where the patients live.

A run picks the addresses that are new or changed since they were checked, then the poorly
recognised ones checked more than ``recheck_days`` ago (IDENT's "интервалы проверки распознанных
адресов"; good ones after ``good_results_recheck_days``, if set), and sends them one per request
(DaData's own client does so), committing every ``batch_size``. Each answer gets the distance from
the clinic ("Адрес и координаты") and a review flag with its reason: a poor quality code, or
farther than ``max_distance_km`` (a same-named street in another town). DaData's requests are
paid: at most ``daily_limit`` a clinic day (counted in ``ident_service_usage``); at the limit the
run stops green and the rest waits for the next day.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from airflow.sdk import DAG, task
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ident_integrations.capabilities import Capability, ident_dag, service_hook
from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability
from ident_integrations.records import RejectedRecord, canonical_json

log = logging.getLogger(__name__)
NAME = "geocoding"
EARTH_RADIUS_KM = 6371.0088

QC_MEANING = {
    0: "parsed with confidence",
    1: "leftover or extra parts, or too little data: check by hand",
    2: "empty or garbage input",
    3: "several possible matches: check by hand",
}
QC_GEO_MEANING = {
    0: "exact coordinates (house)",
    1: "nearest house",
    2: "street",
    3: "settlement",
    4: "city",
    5: "coordinates not determined",
}
QC_COMPLETE_MEANING = {
    0: "fine for mail",
    1: "no region",
    2: "no city",
    3: "no street",
    4: "no house",
    5: "no flat (fine for companies and private houses)",
    6: "incomplete",
    7: "foreign address",
    8: "PO box or poste restante",
    9: "check the parse first",
    10: "house not in FIAS",
}
QC_HOUSE_MEANING = {2: "house found in FIAS", 3: "similar house in FIAS (block differs)", 4: "range match",
                    10: "house not found in FIAS"}  # fmt: skip


class PoorQc(BaseModel):
    """When a result counts as poorly recognised (rechecked after ``recheck_days``, flagged for
    review): ``qc`` above ``max_qc`` or ``qc_geo`` above ``max_qc_geo``. The default is IDENT's
    practical rule, qc != 0 or coordinates coarser than the nearest house."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_qc: Annotated[int, Field(ge=0, le=3)] = 0
    max_qc_geo: Annotated[int, Field(ge=0, le=5)] = 1

    def reasons(self, qc: int | None, qc_geo: int | None) -> list[str]:
        reasons = []
        if qc is None or qc > self.max_qc:
            reasons.append(f"qc {qc}: {QC_MEANING.get(qc, 'no code')}")
        if qc_geo is None or qc_geo > self.max_qc_geo:
            reasons.append(f"qc_geo {qc_geo}: {QC_GEO_MEANING.get(qc_geo, 'no code')}")
        return reasons


Latitude = Annotated[float, Field(ge=-90, le=90)]
Longitude = Annotated[float, Field(ge=-180, le=180)]


class GeocodingSettings(CapabilitySettings):
    """An integration's ``geocoding:`` block (IDENT's DaData settings)."""

    interval_minutes: IntervalMinutes = 60
    batch_size: Annotated[int, Field(ge=1, le=1000)] = 50  # addresses per commit
    recheck_days: Annotated[int, Field(ge=1, le=3650)] = 30  # poorly recognised results checked again after
    good_results_recheck_days: Annotated[int | None, Field(ge=1, le=3650)] = None  # None: never
    poor_qc: PoorQc = PoorQc()
    clinic_address: Annotated[str | None, Field(max_length=500)] = None  # geocoded when no coordinates are set
    clinic_lat: Latitude | None = None
    clinic_lon: Longitude | None = None
    # The network's other branches (e.g. another city's): a distance is to the nearest of them and the clinic.
    branch_points: tuple[tuple[Latitude, Longitude], ...] = ()
    max_distance_km: Annotated[float | None, Field(gt=0, le=20000)] = 100.0  # farther: needs review
    daily_limit: Annotated[int | None, Field(ge=1, le=10_000_000)] = 1000  # paid requests per clinic day

    @model_validator(mode="after")
    def _both_coordinates(self) -> GeocodingSettings:
        if (self.clinic_lat is None) != (self.clinic_lon is None):
            raise ValueError("set both clinic_lat and clinic_lon, or neither")
        return self


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """The great-circle distance between two points, in kilometres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlmb = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlmb / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


class BadAnswer(ValueError):
    """DaData's answer for one address is not in the documented shape: the record is rejected."""


def _code(answer: dict, name: str) -> int | None:
    value = answer.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadAnswer(f"{name} is {value!r}, not an integer code")
    try:
        return int(value)
    except ValueError:
        raise BadAnswer(f"{name} is {value!r}, not an integer code") from None


def _coordinate(answer: dict, name: str, bound: float) -> Decimal | None:
    value = answer.get(name)
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise BadAnswer(f"{name} is {value!r}, not a number") from None
    if not number.is_finite() or abs(number) > bound:
        raise BadAnswer(f"{name} {value!r} is out of range")
    return number.quantize(Decimal("0.0000001"))


@dataclass(frozen=True)
class Geocode:
    """One address's answer as ``ident_geocodes`` keeps it (and the CLI prints it)."""

    source_address: str
    result: str | None
    geo_lat: Decimal | None
    geo_lon: Decimal | None
    qc: int | None
    qc_geo: int | None
    qc_complete: int | None
    qc_house: int | None
    distance_km: float | None
    reasons: tuple[str, ...]
    raw: dict = field(repr=False, default_factory=dict)

    @property
    def needs_review(self) -> bool:
        return bool(self.reasons)

    def row(self, patient_id: int, checked_at: datetime) -> dict[str, Any]:
        return {
            "patient_id": patient_id,
            "source_address": self.source_address[:500],
            "result": (self.result or None) and self.result[:500],
            "geo_lat": self.geo_lat,
            "geo_lon": self.geo_lon,
            "qc": self.qc,
            "qc_geo": self.qc_geo,
            "qc_complete": self.qc_complete,
            "qc_house": self.qc_house,
            "distance_km": None if self.distance_km is None else round(self.distance_km, 3),
            "needs_review": self.needs_review,
            "review_reason": "; ".join(self.reasons)[:255] or None,
            "checked_at": checked_at,
            "raw_payload": canonical_json(self.raw),
        }


def interpret(source: str, answer: Any, block: GeocodingSettings, clinic: tuple[float, float] | None) -> Geocode:
    """DaData's answer for ``source`` checked and judged: quality codes, the distance from the
    clinic, and why it needs review (if it does). Raises :class:`BadAnswer` for an answer that is
    not in the documented shape."""
    if not isinstance(answer, dict):
        raise BadAnswer(f"the answer is {type(answer).__name__}, not an object")
    result = answer.get("result")
    if result is not None and not isinstance(result, str):
        raise BadAnswer(f"result is {result!r}, not a string")
    lat, lon = _coordinate(answer, "geo_lat", 90), _coordinate(answer, "geo_lon", 180)
    if (lat is None) != (lon is None):
        raise BadAnswer("only one of geo_lat and geo_lon is set")
    qc, qc_geo = _code(answer, "qc"), _code(answer, "qc_geo")
    qc_complete, qc_house = _code(answer, "qc_complete"), _code(answer, "qc_house")
    reasons = block.poor_qc.reasons(qc, qc_geo)
    distance = None
    points = ([clinic] if clinic is not None else []) + list(block.branch_points)
    if points and lat is not None:
        distance = min(haversine_km(point[0], point[1], float(lat), float(lon)) for point in points)
        if block.max_distance_km is not None and distance > block.max_distance_km:
            reasons.append(
                f"{distance:.1f} km from the clinic (over {block.max_distance_km:g} km): another town's street"
                " of the same name?"
            )
    return Geocode(source, result, lat, lon, qc, qc_geo, qc_complete, qc_house, distance, tuple(reasons), answer)


def _clinic_point(settings: ResolvedCapability, hook: Any, store: Any, day: Any) -> tuple[float, float] | None:
    """The clinic's coordinates: the configured ones, else its address geocoded (one paid request,
    counted), else None (no distances)."""
    block = settings.block
    if block.clinic_lat is not None:
        return block.clinic_lat, block.clinic_lon
    if not block.clinic_address:
        log.info("No clinic coordinates (geocoding.clinic_lat/clinic_lon or clinic_address): no distances checked")
        return None
    answer = hook.clean_address(block.clinic_address)
    store.count_usage(day, 1)
    clinic = interpret(block.clinic_address, answer, block, None)
    if clinic.geo_lat is None:
        log.warning("DaData found no coordinates for the clinic's address %r: no distances checked",
                    block.clinic_address)  # fmt: skip
        return None
    log.info("Clinic address %r -> %s (%s, %s; qc_geo %s): put clinic_lat/clinic_lon in the settings to save"
             " this request", block.clinic_address, clinic.result, clinic.geo_lat, clinic.geo_lon,
             clinic.qc_geo)  # fmt: skip
    return float(clinic.geo_lat), float(clinic.geo_lon)


def geocode_addresses(settings: ResolvedCapability, *, now: datetime | None = None) -> dict[str, Any]:
    """One run: pick the addresses to (re)check, geocode them batch by batch (a commit each), stop
    green at the daily limit. 401/402/403 fail at once with DaData's message; 429 and 5xx are
    retried by the hook, honouring Retry-After."""
    from ident_integrations.store.geocoding import GeocodingStore

    now = now or datetime.now(UTC)
    block: GeocodingSettings = settings.block
    day = now.astimezone(settings.tz).date()
    store = GeocodingStore.open(settings)
    blank = store.blank_addresses()
    if blank:
        log.info("%d patient(s) without an address: skipped", blank)
    good_days = block.good_results_recheck_days
    good_before = None if good_days is None else now - timedelta(days=good_days)
    candidates = store.candidates(
        max_qc=block.poor_qc.max_qc, max_qc_geo=block.poor_qc.max_qc_geo,
        poor_before=now - timedelta(days=block.recheck_days), good_before=good_before,
    )  # fmt: skip
    reasons: dict[str, int] = {}
    for candidate in candidates:
        reasons[candidate.why] = reasons.get(candidate.why, 0) + 1
    log.info("%d address(es) to geocode: %s", len(candidates),
             ", ".join(f"{why} {n}" for why, n in reasons.items()) or "none")  # fmt: skip
    summary = {"candidates": len(candidates), "geocoded": 0, "needs_review": 0, "rejected": 0, "skipped_blank": blank,
               "requests": 0, "limit_reached": False, "waiting": 0}  # fmt: skip
    used = store.used_today(day)
    if not candidates:
        log.info("Nothing to geocode. DaData requests today (%s): %d", day, used)
        summary["requests_today"] = used
        return summary
    with service_hook(settings, store) as (_, hook, _exchanges):
        try:
            limit = block.daily_limit
            if limit is not None and used >= limit:
                return _limit_reached(summary, limit, used, day, len(candidates))
            clinic = _clinic_point(settings, hook, store, day)
            used = store.used_today(day)
            done = 0
            while done < len(candidates):
                size = block.batch_size if limit is None else min(block.batch_size, limit - used)
                if size <= 0:
                    return _limit_reached(summary, limit, used, day, len(candidates) - done)
                batch = candidates[done : done + size]
                used += _geocode_batch(settings, hook, store, batch, clinic, day, summary)
                done += len(batch)
        finally:
            hook.close()
    log.info("Geocoded %d address(es) in %d request(s): %d need review, %d rejected; DaData requests today (%s): %d%s",
             summary["geocoded"], summary["requests"], summary["needs_review"], summary["rejected"], day, used,
             f" of {block.daily_limit}" if block.daily_limit else "")  # fmt: skip
    summary["requests_today"] = used
    return summary


def _limit_reached(summary: dict, limit: int, used: int, day: Any, waiting: int) -> dict[str, Any]:
    log.warning("Daily limit of %d DaData request(s) reached for %s (%d used): %d address(es) wait for the next day",
                limit, day, used, waiting)  # fmt: skip
    summary.update(limit_reached=True, waiting=waiting, requests_today=used)
    log.info("Geocoded %d address(es) in %d request(s): %d need review, %d rejected; the rest waits for the next day",
             summary["geocoded"], summary["requests"], summary["needs_review"], summary["rejected"])  # fmt: skip
    return summary


def _geocode_batch(settings, hook, store, batch, clinic, day, summary) -> int:
    """Geocode one batch and commit it; what was answered before a failure is committed too.
    Returns the paid requests it took."""
    rows, rejected, requests = [], [], 0
    try:
        for candidate in batch:
            answer = hook.clean_address(candidate.address)
            requests += 1
            try:
                geocode = interpret(candidate.address, answer, settings.block, clinic)
            except BadAnswer as exc:
                rejected.append(RejectedRecord({"patient_id": candidate.patient_id, "address": candidate.address,
                                                "answer": answer}, f"DaData answer unusable: {exc}",
                                               str(candidate.patient_id)))  # fmt: skip
                continue
            rows.append(geocode.row(candidate.patient_id, datetime.now(UTC)))
            if geocode.needs_review:
                summary["needs_review"] += 1
    finally:
        store.save_batch(rows, rejected, requests, day, datetime.now(UTC))
        summary["geocoded"] += len(rows)
        summary["rejected"] += len(rejected)
        summary["requests"] += requests
        for record in rejected:
            log.warning("Patient %s rejected: %s", record.external_id, record.reason)
    log.info("Batch of %d committed: %d stored, %d rejected", len(batch), len(rows), len(rejected))
    return requests


def _doc(settings: ResolvedCapability) -> str:
    block = settings.block
    good = (f"good ones after {block.good_results_recheck_days} days" if block.good_results_recheck_days
            else "good ones are not rechecked")  # fmt: skip
    if block.clinic_lat is not None:
        clinic = f"the clinic's coordinates {block.clinic_lat}, {block.clinic_lon}"
    elif block.clinic_address:
        clinic = f"the clinic's address `{block.clinic_address}` (geocoded each run: one paid request)"
    else:
        clinic = "no clinic coordinates (set `clinic_lat`/`clinic_lon`): no distance check"
    if block.branch_points:
        clinic += f" or the nearest of {len(block.branch_points)} other branch(es) (`branch_points`)"
    limit = f"{block.daily_limit} requests" if block.daily_limit else "no limit"
    return f"""
## Geocoding of patients' addresses through `{settings.integration}` (DaData)

{settings.description}

**What it does.** Every {block.interval_minutes} min it reads `ident_patients.address` from the IDENT
database (connection `{settings.ident_conn_id}`) and sends to DaData's Cleaner (connection
`{settings.conn_id}`) the addresses that are new or changed since they were checked, then the poorly
recognised ones (qc > {block.poor_qc.max_qc} or qc_geo > {block.poor_qc.max_qc_geo}) checked more than
{block.recheck_days} days ago; {good}. Patients without an address are skipped (counted in the log).
Each answer goes to `ident_geocodes` (standardised address, lat/lon, qc, qc_geo, qc_complete,
qc_house, distance from {clinic}, `needs_review` with its reason, the raw answer), committed every
{block.batch_size} addresses. Farther than {block.max_distance_km} km = needs review (a same-named
street in another town). Paid requests per clinic day ({settings.timezone}) are counted in
`ident_service_usage`; limit: {limit}. At the limit the run ends green and says how many wait.

**Review.** `SELECT * FROM ident_geocodes WHERE needs_review = 1` lists what a person should look at;
fix the patient's address in IDENT and the next run checks it again. Try one address with
`ident geocode "<address>" --integration {settings.integration}`.

**When it fails.** 401/402/403 fail at once with DaData's message: check the API key (login) and
secret (password) of `{settings.conn_id}`, the confirmed e-mail and the balance. 429, 5xx and
timeouts are retried with backoff (Retry-After honoured). An answer in an unexpected shape is
quarantined in `ident_rejects` with the reason; the rest loads.
"""


def build_dag(settings: ResolvedCapability) -> DAG:
    every = settings.block.interval_minutes
    with ident_dag(
        settings,
        description=f"Patients' addresses geocoded through {settings.integration} (DaData) every {every} min",
        doc_md=_doc(settings),
    ) as dag:

        @task(task_id="geocode_addresses", doc_md="Geocode new, changed and due addresses into ident_geocodes.")
        def geocode_task() -> dict:
            return geocode_addresses(settings)

        geocode_task()
    return dag


GEOCODING = Capability(name=NAME, settings=GeocodingSettings, action="geocode addresses", build_dag=build_dag,
                       run=geocode_addresses)  # fmt: skip
