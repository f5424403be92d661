"""Per-service fault injection, switchable at runtime through the control API.

Applied by a middleware in front of every emulated service, so a new service gets
latency, late answers, 5xx bursts, revoked keys and broken bodies for free.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
from dataclasses import asdict, dataclass

from fastapi import Request
from fastapi.responses import PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

# Short bodies like the ones a reverse proxy or a crashed handler would send.
_ERRORS = [
    (500, "Internal Server Error"),
    (502, "Bad Gateway"),
    (503, "Service Unavailable"),
]
AUTH_FAILURE_TEXT = "Integration key revoked by the clinic administrator"
_MAINTENANCE_PAGE = (
    "<html><head><title>Technical works</title></head><body><h1>Сайт на техническом обслуживании</h1></body></html>"
)


def stable_int(*parts: object) -> int:
    """A hash that is the same in every process (unlike ``hash()``, which is salted per run)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class FaultUpdate(BaseModel):
    """Body of ``PUT /_sandbox/faults/{service}``: any subset of the fault fields."""

    model_config = ConfigDict(extra="forbid")

    latency_ms: int | None = Field(default=None, ge=0, le=600_000)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    fail_next: int | None = Field(default=None, ge=0)
    auth_failure: bool | None = None
    slow_next: int | None = Field(default=None, ge=0)
    slow_ms: int | None = Field(default=None, ge=0, le=600_000)
    malformed_rate: float | None = Field(default=None, ge=0, le=1)
    malformed_next: int | None = Field(default=None, ge=0)


@dataclass
class FaultState:
    latency_ms: int = 0  # sleep before answering
    error_rate: float = 0.0  # probability of a random 500/502/503
    fail_next: int = 0  # the next N requests get 503 (deterministic bursts for tests)
    auth_failure: bool = False  # every request gets 401, as if the key had been revoked
    slow_next: int = 0  # the next N requests are answered only after slow_ms (timeouts for tests)
    slow_ms: int = 2000
    malformed_rate: float = 0.0  # probability of a 200 whose body is not valid JSON
    malformed_next: int = 0  # the next N successful answers get a broken body

    def as_dict(self) -> dict:
        return asdict(self)


class FaultRegistry:
    """Fault state of every registered service, with one seeded RNG each (reproducible runs)."""

    def __init__(self, seed: int, defaults: FaultState | None = None) -> None:
        self._seed = seed
        self._defaults = defaults or FaultState()
        self._states: dict[str, FaultState] = {}
        self._rngs: dict[str, random.Random] = {}

    def register(self, service: str) -> None:
        self._states[service] = FaultState(**self._defaults.as_dict())
        self._rngs[service] = random.Random(stable_int(self._seed, "faults", service))

    def services(self) -> list[str]:
        return list(self._states)

    def get(self, service: str) -> FaultState | None:
        return self._states.get(service)

    def update(self, service: str, update: FaultUpdate) -> FaultState:
        state = self._states[service]
        for name, value in update.model_dump(exclude_none=True).items():
            setattr(state, name, value)
        return state

    def reset(self, service: str) -> FaultState:
        # "Reset" means healthy, not "back to the start-up flags": tests expect a clean service.
        self._states[service] = FaultState()
        return self._states[service]

    def snapshot(self) -> dict[str, dict]:
        return {name: state.as_dict() for name, state in self._states.items()}

    async def apply(self, service: str, request: Request, call_next) -> Response:
        """Run the faults of ``service`` around the real handler."""
        state = self._states[service]
        rng = self._rngs[service]
        if state.latency_ms:
            await asyncio.sleep(state.latency_ms / 1000)
        if state.auth_failure:
            return PlainTextResponse(AUTH_FAILURE_TEXT, status_code=401)
        if state.fail_next > 0:
            state.fail_next -= 1
            return PlainTextResponse("Service Unavailable", status_code=503)
        if state.slow_next > 0:
            state.slow_next -= 1
            await asyncio.sleep(state.slow_ms / 1000)  # the real answer, too late for a short timeout
        if state.error_rate and rng.random() < state.error_rate:
            status, text = rng.choice(_ERRORS)
            return PlainTextResponse(text, status_code=status)

        response = await call_next(request)
        if response.status_code != 200:
            return response
        if state.malformed_next > 0:
            state.malformed_next -= 1
        elif not (state.malformed_rate and rng.random() < state.malformed_rate):
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        return _malformed(body, rng)


def _malformed(body: bytes, rng: random.Random) -> Response:
    """A 200 whose body does not parse: a truncated transfer, or a proxy's maintenance page."""
    if rng.random() < 0.5:
        text = body.decode("utf-8", errors="replace")
        # Any strict prefix of compact JSON array/object text is invalid; cut on a character boundary.
        cut = text[: max(1, len(text) // 2)] if len(text) > 1 else '[{"Id": '
        return Response(cut.encode("utf-8"), status_code=200, media_type="application/json")
    return Response(_MAINTENANCE_PAGE.encode("utf-8"), status_code=200, media_type="text/html")
