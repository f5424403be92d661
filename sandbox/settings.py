"""Start-up settings shared by the CLI (``python -m sandbox``) and ``sandbox.testing.SandboxServer``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass
class Settings:
    key: str  # IDENT-Integration-Key every service request must carry; never logged
    seed: int = 42
    days: int = 7  # back catalogue length
    live_interval: float = 20.0  # seconds between live leads; 0 disables them
    timezone: str = "Europe/Moscow"
    start_time: datetime | None = None  # None = real "now"; fix it for reproducible data
    # Fault switches applied to every service at start-up (all switchable later via /_sandbox/faults).
    latency_ms: int = 0
    error_rate: float = 0.0
    auth_failure: bool = False
    malformed_rate: float = 0.0
    log_requests: bool = True  # one line per request on stdout
