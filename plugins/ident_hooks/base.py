"""What the hooks of the services share: the request settings and exchange recorder every hook
takes (:class:`ServiceHook` for those built on an official client or a database driver); and for
the HTTP hooks (:class:`ServiceHttpHook`) the connection read once (the base URL from host and port
by the service's own rule, the secret from the password, the extras), one session with the
connection's extras as the HTTP provider applies them, and the timeout from the task's settings or
the connection's ``timeout`` extra."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

import requests
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk import BaseHook

from ident_hooks.exchange import ExchangeRecorder, ServiceAuthError, call_with_retries, redact_text, timed_request


def service_url(host: str | None, port: int | None = None, default: str = "") -> str:
    """A connection's URL as the hooks call it: ``default`` when the host is empty, https when it has
    no scheme, the connection's port added when the host names none, no trailing slash."""
    url = (host or "").strip() or default
    if "://" not in url:
        url = f"https://{url}"
    parts = urlsplit(url)
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def error_member(body: Any) -> dict | None:
    """The JSON error object of an answer ``{"error": {...}}``, else None."""
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    return None


def raise_error_object(
    response: requests.Response,
    to_error: Callable[[dict], Exception],
    error_of: Callable[[Any], dict | None] = error_member,
) -> None:
    """For ``timed_request``'s ``inspect_error``: a service that answers an error status with its
    own JSON error object (by default ``{"error": {...}}``; ``error_of`` finds another service's)
    is classified by that object, whatever the status. A body that is not JSON is left to the
    generic rules, which classify it by its status."""
    try:
        body = response.json()
    except ValueError:
        return
    error = error_of(body)
    if error is not None:
        raise to_error(error)


class ServiceHook(BaseHook):
    """A service's hook that is not an HTTP one (DaData's and Google's official clients, the clinic's
    database): the connection id under the subclass's ``conn_name_attr``, and the request settings
    and exchange recorder, as :class:`ServiceHttpHook` keeps them."""

    DEFAULT_TIMEOUT_SECONDS: ClassVar[float] = 45.0  # IDENT's default

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout_seconds: float | None = None,
        request_attempts: int = 4,
        request_backoff_seconds: float = 2.0,
        on_exchange: ExchangeRecorder | None = None,
    ) -> None:
        super().__init__()
        setattr(self, self.conn_name_attr, conn_id or self.default_conn_name)
        self.timeout_seconds = timeout_seconds
        self.request_attempts = request_attempts
        self.request_backoff_seconds = request_backoff_seconds
        self.on_exchange = on_exchange


class ServiceHttpHook(HttpHook):
    """Subclasses set the hook attributes (``conn_name_attr``, ``default_conn_name``, ``conn_type``,
    ``hook_name``), :meth:`api_url`, and where the secret goes (:meth:`session_headers`, or in the
    requests they build)."""

    HTTP_METHOD: ClassVar[str] = "GET"
    DEFAULT_TIMEOUT_SECONDS: ClassVar[float] = 45.0  # IDENT's default
    SECRET_MISSING: ClassVar[str] = "no key: put the service's key in its password"
    # Connection extras that configure the hook; the HTTP provider would otherwise send them as headers.
    HOOK_EXTRAS: ClassVar[tuple[str, ...]] = ()
    # How :meth:`_prepare` writes a JSON body: ``json.dumps``'s separators (None: its defaults) and
    # the Content-Type sent with it — each service's own wire format.
    JSON_SEPARATORS: ClassVar[tuple[str, str] | None] = None
    JSON_CONTENT_TYPE: ClassVar[str] = "application/json"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        timeout_seconds: float | None = None,
        request_attempts: int = 4,
        request_backoff_seconds: float = 2.0,
        on_exchange: ExchangeRecorder | None = None,
    ) -> None:
        conn_id = conn_id or self.default_conn_name
        super().__init__(method=self.HTTP_METHOD, http_conn_id=conn_id)
        setattr(self, self.conn_name_attr, conn_id)
        self.timeout_seconds = timeout_seconds
        self.request_attempts = request_attempts
        self.request_backoff_seconds = request_backoff_seconds
        self.on_exchange = on_exchange
        self._loaded = False
        self._secret: str | None = None
        self._extras: dict[str, Any] = {}
        self._session: requests.Session | None = None

    @staticmethod
    def api_url(host: str | None, port: int | None = None) -> str:
        raise NotImplementedError

    def session_headers(self, secret: str) -> dict[str, str]:
        """Headers every request of the session carries besides ``Accept`` (e.g. a Bearer token)."""
        return {}

    def _set_base_url(self, connection) -> None:
        self.base_url = self.api_url(connection.host, connection.port)
        self._base_url_initialized = True

    def _extract_auth(self, connection):  # the secret travels as the service wants it, never as basic auth
        return None

    def _load_connection(self) -> None:
        if not self._loaded:
            connection = self.get_connection(self.http_conn_id)
            self._set_base_url(connection)
            self._secret = connection.password or None
            self._extras = dict(connection.extra_dejson or {})
            self._loaded = True

    def _session_and_secret(self) -> tuple[requests.Session, str]:
        """The session and the secret; a connection without one fails at once, saying where it goes."""
        self._load_connection()
        if not self._secret:
            raise ServiceAuthError(f"connection {self.http_conn_id!r} has {self.SECRET_MISSING}")
        if self._session is None:
            session = self.get_conn(headers={"Accept": "application/json", **self.session_headers(self._secret)})
            for name in self.HOOK_EXTRAS:
                session.headers.pop(name, None)
            self._session = session
            if self.timeout_seconds is None:
                self.timeout_seconds = float(self.merged_extra.get("timeout") or self.DEFAULT_TIMEOUT_SECONDS)
        return self._session, self._secret

    def _attempt(
        self,
        prepared: requests.PreparedRequest,
        *,
        parse: Callable[[requests.Response], Any],
        describe_url: str | None = None,
        inspect_error: Callable[[requests.Response], None] | None = None,
    ) -> Any:
        """One HTTP attempt on the session (its proxies and TLS settings), recorded in the exchange
        log without the secret; the caller retries (``call_with_retries``)."""
        session = self._session
        send_kwargs = session.merge_environment_settings(
            prepared.url, proxies=session.proxies, stream=False, verify=session.verify, cert=session.cert
        )
        return timed_request(
            session,
            prepared,
            timeout=self.timeout_seconds,
            record=self.on_exchange,
            secrets=(self._secret,),
            parse=parse,
            send_kwargs=send_kwargs,
            describe_url=describe_url,
            inspect_error=inspect_error,
        )

    def _redact(self, text: str) -> str:
        return redact_text(text, (self._secret,))

    def _prepare(self, method: str, path: str, body: Any = None, *, query: str = "") -> requests.PreparedRequest:
        """A request on the session (:meth:`_session_and_secret` first): ``path`` under the base URL,
        ``query`` (already encoded) after a ``?`` when not empty, ``body`` (unless None) as UTF-8
        JSON written as ``JSON_SEPARATORS`` and ``JSON_CONTENT_TYPE`` say."""
        url = f"{self.base_url}/{path.lstrip('/')}"
        if query:
            url = f"{url}?{query}"
        if body is None:
            return self._session.prepare_request(requests.Request(method, url))
        data = json.dumps(body, ensure_ascii=False, separators=self.JSON_SEPARATORS).encode("utf-8")
        headers = {"Content-Type": self.JSON_CONTENT_TYPE}
        return self._session.prepare_request(requests.Request(method, url, data=data, headers=headers))

    def _call(self, what: str, prepared: requests.PreparedRequest, **attempt: Any) -> Any:
        """``prepared`` sent by :meth:`_attempt` (``attempt``: its keywords), retrying transient
        faults; the retries are logged as ``<connection id> <what>``."""
        return call_with_retries(
            lambda: self._attempt(prepared, **attempt),
            describe=f"{getattr(self, self.conn_name_attr)} {what}",
            attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )
