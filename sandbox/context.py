"""State shared by the app, the control API and every emulated service."""

from __future__ import annotations

import ipaddress
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException, Request

from .clock import Clock
from .faults import FaultRegistry, FaultState
from .settings import Settings


@dataclass
class Service:
    """What a module under ``sandbox/services/`` hands to the app."""

    name: str  # also the first path segment of its endpoints: /{name}/...
    router: APIRouter  # the emulated API, mounted at /{name}
    control_router: APIRouter | None = None  # extra control endpoints, mounted at /_sandbox/{name}


@dataclass
class SandboxContext:
    settings: Settings
    tz: ZoneInfo
    clock: Clock
    faults: FaultRegistry
    # (service, second path segment e.g. the tenant) -> Counter of status codes served
    requests: dict[tuple[str, str], Counter] = field(default_factory=lambda: defaultdict(Counter))

    @classmethod
    def from_settings(cls, settings: Settings) -> SandboxContext:
        tz = ZoneInfo(settings.timezone)
        start = settings.start_time or datetime.now(tz).replace(microsecond=0)
        defaults = FaultState(
            latency_ms=settings.latency_ms,
            error_rate=settings.error_rate,
            auth_failure=settings.auth_failure,
            malformed_rate=settings.malformed_rate,
        )
        return cls(settings=settings, tz=tz, clock=Clock(start, tz), faults=FaultRegistry(settings.seed, defaults))

    def served(self, service: str, segment: str) -> dict[str, Any]:
        """A stats answer's ``requests_served`` and ``requests_by_status``: how the requests under
        ``/{service}/{segment}/`` were answered."""
        counts = self.requests.get((service, segment), {})
        return {
            "requests_served": sum(counts.values()),
            "requests_by_status": {str(k): v for k, v in sorted(counts.items())},
        }


def require_loopback(request: Request) -> None:
    """Dependency for the control API: it needs no key, so only local callers may use it."""
    host = request.client.host if request.client else ""
    try:
        if ipaddress.ip_address(host).is_loopback:
            return
    except ValueError:
        pass
    raise HTTPException(status_code=403, detail="The sandbox control API is available from loopback only")
