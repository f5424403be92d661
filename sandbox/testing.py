"""Run the sandbox inside a test process: ``with SandboxServer(start_time=...) as sb: ...``.

Uvicorn serves in a background thread on a free loopback port; the helpers go through the real
HTTP control API, exactly as an out-of-process client would.
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import datetime
from typing import Any

import requests

from .app import create_app
from .serve import bind, make_server
from .settings import Settings

KEY_HEADER = "IDENT-Integration-Key"


class SandboxServer:
    def __init__(
        self,
        *,
        seed: int = 42,
        days: int = 7,
        live_interval: float = 20.0,
        key: str | None = None,
        timezone: str = "Europe/Moscow",
        start_time: datetime | None = None,
        latency_ms: int = 0,
        error_rate: float = 0.0,
        auth_failure: bool = False,
        malformed_rate: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        log_requests: bool = True,
    ) -> None:
        self.key = key or secrets.token_urlsafe(24)  # random per server unless a test pins one
        self.settings = Settings(
            key=self.key,
            seed=seed,
            days=days,
            live_interval=live_interval,
            timezone=timezone,
            start_time=start_time,
            latency_ms=latency_ms,
            error_rate=error_rate,
            auth_failure=auth_failure,
            malformed_rate=malformed_rate,
            log_requests=log_requests,
        )
        self._host, self._port = host, port
        self.app = None
        self.base_url = ""
        self._server = None
        self._thread: threading.Thread | None = None
        self._sock = None
        self.http = requests.Session()

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self, timeout: float = 10.0) -> SandboxServer:
        self.app = create_app(self.settings)
        self._sock = bind(self._host, self._port)
        host, port = self._sock.getsockname()[:2]
        self.base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        self._server = make_server(self.app)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name=f"sandbox-{port}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sandbox server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()
        self.http.close()
        self._server = self._thread = self._sock = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- data for assertions ----------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self.base_url.rsplit(":", 1)[1])

    @property
    def start_time(self) -> datetime:
        """The start of the sandbox clock (the given start_time, or "now" at start-up)."""
        return self.app.state.ctx.clock.start_time

    def now(self) -> datetime:
        return self.app.state.ctx.clock.now()

    @property
    def headers(self) -> dict[str, str]:
        return {KEY_HEADER: self.key}

    def url(self, tenant: str, method: str = "GetTickets", service: str = "clinic_http") -> str:
        return f"{self.base_url}/{service}/{tenant}/{method}"

    # -- control API ------------------------------------------------------------------------------
    def _control(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, f"{self.base_url}/_sandbox{path}", timeout=10, **kwargs)
        response.raise_for_status()
        return response.json()

    def health(self) -> dict:
        return self._control("GET", "/health")

    def faults(self) -> dict:
        return self._control("GET", "/faults")

    def set_faults(self, service: str, **fields: Any) -> dict:
        return self._control("PUT", f"/faults/{service}", json=fields)

    def reset_faults(self, service: str) -> dict:
        return self._control("DELETE", f"/faults/{service}")

    def add_ticket(self, tenant: str, ticket: dict) -> dict:
        return self._control("POST", f"/clinic_http/{tenant}/tickets", json=ticket)

    def patch_ticket(self, tenant: str, id: str, fields: dict) -> dict:
        return self._control("PATCH", f"/clinic_http/{tenant}/tickets/{id}", json=fields)

    def stats(self, tenant: str) -> dict:
        return self._control("GET", f"/clinic_http/{tenant}/stats")

    def defects(self, tenant: str) -> dict[str, str]:
        """Id -> intended defect of the visible generated leads of ``tenant``."""
        return self._control("GET", f"/clinic_http/{tenant}/defects")["defects"]
