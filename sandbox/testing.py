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
        call_days: int = 365,
        calls_per_day: float = 300,
        live_call_interval: float | None = None,
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
        clinic_db: str | None = None,
    ) -> None:
        self.key = key or secrets.token_urlsafe(24)  # random per server unless a test pins one
        self.settings = Settings(
            key=self.key,
            seed=seed,
            days=days,
            live_interval=live_interval,
            call_days=call_days,
            calls_per_day=calls_per_day,
            # None = the lead interval, so a server quiet for leads (live_interval=3600) is quiet for calls.
            live_call_interval=live_interval if live_call_interval is None else live_call_interval,
            timezone=timezone,
            start_time=start_time,
            latency_ms=latency_ms,
            error_rate=error_rate,
            auth_failure=auth_failure,
            malformed_rate=malformed_rate,
            log_requests=log_requests,
            clinic_db=clinic_db,
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

    def add_call(self, tenant: str, call: dict) -> dict:
        """Store a raw IDENT call object for GetFinishedCalls, served as-is."""
        return self._control("POST", f"/clinic_http/{tenant}/calls", json=call)

    def call_defects(self, tenant: str) -> list[dict]:
        """[{DateAndTime, Direction, PhoneFrom, PhoneTo, defect}] of the visible generated calls of ``tenant``."""
        return self._control("GET", f"/clinic_http/{tenant}/call_defects")["defects"]

    # -- UIS / CoMagic ------------------------------------------------------------------------------
    def uis_url(self, account: str = "clinic") -> str:
        """The Data API URL of ``account`` (a connection's host)."""
        return f"{self.base_url}/uis/{account}/v2.0"

    def uis_rpc(self, account: str, method: str, **params: Any) -> dict:
        """One JSON-RPC call with the sandbox key as the token; the whole answer (result or error)."""
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"access_token": self.key, **params}}
        response = self.http.post(self.uis_url(account), json=body, timeout=60)
        response.raise_for_status()
        return response.json()

    def uis_calls(self, account: str, date_from: datetime | str, date_till: datetime | str, **params: Any) -> list:
        """Every row of ``get.calls_report`` in [date_from, date_till] (both inclusive; aware datetimes are
        turned into the account's wall time), through the real API, pages of 10 000."""
        dates = {"date_from": self._uis_time(date_from), "date_till": self._uis_time(date_till)}
        rows: list = []
        while True:
            answer = self.uis_rpc(account, "get.calls_report", **dates, limit=10_000, offset=len(rows), **params)
            if "error" in answer:
                raise RuntimeError(f"get.calls_report: {answer['error']}")
            rows.extend(answer["result"]["data"])
            if not answer["result"]["data"] or len(rows) >= answer["result"]["metadata"]["total_items"]:
                return rows

    def _uis_time(self, moment: datetime | str) -> str:
        if isinstance(moment, str):
            return moment
        return moment.astimezone(self.app.state.ctx.tz).strftime("%Y-%m-%d %H:%M:%S")

    def uis_set_limits(self, account: str, **limits: int) -> dict:
        """Any of minute_limit, minute_reset, day_limit, day_reset (``*_reset`` = window seconds)."""
        return self._control("PUT", f"/uis/{account}/limits", json=limits)

    def uis_force_error(self, account: str, mnemonic: str, count: int = 1) -> dict:
        return self._control("POST", f"/uis/{account}/errors", json={"mnemonic": mnemonic, "count": count})

    def uis_reset(self, account: str) -> dict:
        """Limits back to defaults; forced errors, patches, deletions and injected rows gone."""
        return self._control("DELETE", f"/uis/{account}/state")

    def uis_patch_call(self, account: str, id: int, fields: dict) -> dict:
        return self._control("PATCH", f"/uis/{account}/calls/{id}", json=fields)

    def uis_delete_call(self, account: str, id: int) -> dict:
        return self._control("DELETE", f"/uis/{account}/calls/{id}")

    def uis_add_call(self, account: str, row: dict) -> dict:
        return self._control("POST", f"/uis/{account}/calls", json=row)

    def uis_defects(self, account: str, **window: str) -> dict[str, str]:
        """id (as text) -> intended defect of the visible finished generated calls; ``date_from``/``date_till``
        (UIS wire format) narrow it, default the whole history."""
        return self._control("GET", f"/uis/{account}/defects", params=window)["defects"]

    def uis_stats(self, account: str) -> dict:
        return self._control("GET", f"/uis/{account}/stats")
