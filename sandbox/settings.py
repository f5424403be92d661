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
    call_days: int = 365  # days of call history before the start day (UIS, clinic_http)
    calls_per_day: float = 300  # UIS calls a day, averaged over a week (weekdays more, weekends fewer)
    live_call_interval: float = 90.0  # seconds between live calls after start-up; 0 disables them
    timezone: str = "Europe/Moscow"
    start_time: datetime | None = None  # None = real "now"; fix it for reproducible data
    # Fault switches applied to every service at start-up (all switchable later via /_sandbox/faults).
    latency_ms: int = 0
    error_rate: float = 0.0
    auth_failure: bool = False
    malformed_rate: float = 0.0
    log_requests: bool = True  # one line per request on stdout
    clinic_db: str | None = None  # SQLite file of the clinic's own tables (clinic_tables.py); None = off

    def __post_init__(self) -> None:
        # Call ids keep a range of live calls per day; a shorter interval would overflow it.
        if 0 < self.live_call_interval < 0.2:
            raise ValueError(f"live_call_interval must be 0 (none) or at least 0.2 s, got {self.live_call_interval}")
