"""DaData Cleaner ("Стандартизация адресов"): one raw address in, the standardised address with its
coordinates and quality codes out (reference external-apis.md §3, ident-protocol.md §9).

Connection type ``ident_dadata``:

* **host** — the Cleaner base URL, default ``https://cleaner.dadata.ru`` (the sandbox:
  ``http://127.0.0.1:<port>/dadata``); requests go to ``<host>/api/v1/clean/address``;
* **login** — the API key (sent as ``Authorization: Token <key>``);
* **password** — the secret key (sent as ``X-Secret``; Cleaner refuses a request without it);
* **extra** — ``{"timeout": 45}`` (seconds, when the task's settings give none) and optionally
  ``{"profile_url": "https://dadata.ru/api/v2/"}``: where the balance is asked (the connection
  test). By default it is ``https://dadata.ru/api/v2/`` for the real Cleaner host and
  ``<host>/api/v2/`` for any other host (the sandbox serves both).

The official ``dadata`` package does the HTTP (its ``CleanClient`` and ``ProfileClient``, with the
connection's URL as base URL and the configured timeout); it raises httpx's errors unwrapped, and
this hook classifies them: 401/402/403 (no or wrong key, e-mail not confirmed, no money) →
:class:`ServiceAuthError` at once with DaData's body quoted; 429 (its ``Retry-After`` honoured),
5xx, timeouts and connection errors → :class:`TransientServiceError`, retried with backoff; any
other 4xx → :class:`ServiceResponseError`. Every request is recorded in the exchange log; neither
key ever appears there or in the task log.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from dadata.sync import CleanClient, ProfileClient

from ident_hooks.base import ServiceHook, service_url
from ident_hooks.exchange import (
    Exchange,
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
    redact_text,
    retry_after_seconds,
)

DEFAULT_URL = "https://cleaner.dadata.ru"
REAL_PROFILE_URL = "https://dadata.ru/api/v2/"
CLEAN_ADDRESS = "clean/address"
AUTH_STATUSES = (401, 402, 403)


def cleaner_url(host: str | None, port: int | None = None) -> str:
    """The Cleaner API base (``<host>/api/v1/``, the trailing slash kept so that ``clean/address``
    joins under it)."""
    return service_url(host, port, DEFAULT_URL) + "/api/v1/"


def profile_url(host: str | None, port: int | None = None, extra: dict | None = None) -> str:
    configured = (extra or {}).get("profile_url")
    if configured:
        return configured.rstrip("/") + "/"
    base = service_url(host, port, DEFAULT_URL)
    return REAL_PROFILE_URL if base == DEFAULT_URL else base + "/api/v2/"


class _Cleaner(CleanClient):
    """The package's Cleaner client on the connection's URL and with the configured timeout."""

    def __init__(self, base_url: str, token: str, secret: str, timeout: float):
        self.BASE_URL = base_url  # read by CleanClient.__init__
        super().__init__(token, secret)
        self.timeout = timeout

    def _post(self, url, data, timeout=None):
        return super()._post(url, data, timeout=self.timeout)


class _Profile(ProfileClient):
    def __init__(self, base_url: str, token: str, secret: str, timeout: float):
        self.BASE_URL = base_url
        super().__init__(token, secret)
        self.timeout = timeout

    def _get(self, url, data, timeout=None):
        return super()._get(url, data, timeout=self.timeout)


class DadataHook(ServiceHook):
    """DaData's Cleaner through the official package: :meth:`clean_address`, :meth:`balance`."""

    conn_name_attr = "dadata_conn_id"
    default_conn_name = "dadata_default"
    conn_type = "ident_dadata"
    hook_name = "IDENT: DaData address standardisation"

    def __init__(self, dadata_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(dadata_conn_id, **settings)
        self.requests_sent = 0  # every HTTP attempt to the Cleaner (each one is paid)
        self._secrets: tuple[str | None, ...] = ()
        self._cleaner: _Cleaner | None = None
        self._profile: _Profile | None = None
        self.base_url = ""
        self._profile_url = ""

    # -- connection -------------------------------------------------------------------------------
    def _load(self) -> None:
        if self._cleaner is not None:
            return
        connection = self.get_connection(self.dadata_conn_id)
        token, secret = (connection.login or "").strip(), (connection.password or "").strip()
        if not token or not secret:
            raise ServiceAuthError(
                f"connection {self.dadata_conn_id!r} needs the DaData API key in its login and the secret key"
                " in its password"
            )
        extra = dict(connection.extra_dejson or {})
        if self.timeout_seconds is None:
            self.timeout_seconds = float(extra.get("timeout") or self.DEFAULT_TIMEOUT_SECONDS)
        self._secrets = (token, secret)
        self.base_url = cleaner_url(connection.host, connection.port)
        self._profile_url = profile_url(connection.host, connection.port, extra)
        self._cleaner = _Cleaner(self.base_url, token, secret, self.timeout_seconds)
        self._profile = _Profile(self._profile_url, token, secret, self.timeout_seconds)

    def close(self) -> None:
        for client in (self._cleaner, self._profile):
            if client is not None:
                client.close()
        self._cleaner = self._profile = None

    def __enter__(self) -> DadataHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- one request --------------------------------------------------------------------------------
    def _attempt(self, method: str, url: str, send: Any) -> Any:
        """One HTTP attempt through the package, classified for the retry policy and recorded."""
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            try:
                return send()
            except httpx.HTTPStatusError as exc:
                response = exc.response
                status = response.status_code
                body = redact_text(response.text.strip() or response.reason_phrase or "", self._secrets)
                error = f"{status}: {body}"
                if status in AUTH_STATUSES:
                    raise ServiceAuthError(f"DaData refused {method} {url} with {status}: {body}") from None
                if status == 429 or status >= 500:
                    wait = retry_after_seconds(response)
                    raise TransientServiceError(f"DaData {method} {url}: {error}", wait) from None
                raise ServiceResponseError(f"DaData rejected {method} {url}: {error}") from None
            except httpx.TimeoutException:
                error = f"no answer within {self.timeout_seconds:g} s"
                raise TransientServiceError(f"DaData {method} {url}: {error}") from None
            except httpx.TransportError as exc:
                error = redact_text(f"connection failed: {exc}", self._secrets)
                raise TransientServiceError(f"DaData {method} {url}: {error}") from None
            except ValueError as exc:  # a 200 whose body is not JSON: usually a passing fault
                error = redact_text(f"unreadable body: {exc}", self._secrets)
                raise TransientServiceError(f"DaData {method} {url}: {error}") from None
        finally:
            duration_ms = int((time.monotonic() - started) * 1000)
            if status is None and error is None:
                status = 200
            if self.on_exchange is not None:
                self.on_exchange(Exchange(method, url, status, duration_ms, error))
            self.log.info("DaData %s %s -> %s in %d ms", method, url, status if status else error, duration_ms)

    def _call(self, method: str, url: str, send: Any) -> Any:
        return call_with_retries(
            lambda: self._attempt(method, url, send),
            describe=f"{self.dadata_conn_id} {method} {url}",
            attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )

    # -- API ------------------------------------------------------------------------------------------
    def clean_address(self, text: str) -> dict[str, Any]:
        """DaData's answer for one raw address (``POST clean/address`` with ``[text]``): the object
        with ``result``, ``geo_lat``/``geo_lon`` (strings or null), ``qc``, ``qc_geo``,
        ``qc_complete``, ``qc_house``… An answer that is not a one-object array is a
        :class:`ServiceResponseError`."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("an address to clean must be a non-empty string")
        self._load()
        url = self.base_url + CLEAN_ADDRESS

        def send() -> Any:
            self.requests_sent += 1
            return self._cleaner._post(CLEAN_ADDRESS, [text])

        answer = self._call("POST", url, send)
        if not isinstance(answer, list) or len(answer) != 1 or not isinstance(answer[0], dict):
            raise ServiceResponseError(f"DaData POST {url}: expected an array of one object, got {str(answer)[:200]}")
        return answer[0]

    def balance(self) -> float:
        """The account's balance in roubles (Profile API ``GET profile/balance``)."""
        self._load()
        url = self._profile_url + "profile/balance"
        answer = self._call("GET", url, lambda: self._profile._get("profile/balance", {}))
        try:
            return float(answer["balance"])
        except (KeyError, TypeError, ValueError):
            raise ServiceResponseError(f"DaData profile/balance: unexpected answer {str(answer)[:200]}") from None

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button ("Проверить"): the balance, which checks both keys and costs nothing."""
        try:
            amount = self.balance()
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, f"DaData at {self.base_url}: keys accepted, balance {amount:.2f} RUB"
