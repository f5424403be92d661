"""What every service hook shares: the exchange-log record, secret redaction, errors and retries.

Hooks never write the IDENT database. They hand each request's :class:`Exchange` to a callback;
the caller stores it (IDENT's "Подробнее" log), so a failed run still leaves its trail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
import tenacity
from airflow.sdk.exceptions import AirflowException, AirflowFailException

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

SECRET_PARAMS = frozenset({"key", "apikey", "api_key", "token", "access_token", "password", "psw", "secret"})
REDACTED = "***"
MAX_ERROR_TEXT = 2000


@dataclass(frozen=True)
class Exchange:
    """One request as IDENT's exchange log shows it; the URL carries no secrets."""

    method: str
    url: str
    status: int | None
    duration_ms: int
    error: str | None
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


ExchangeRecorder = Callable[[Exchange], None]


class ServiceAuthError(AirflowFailException):
    """401/403 or a rejected key: retrying cannot help, so the task fails at once."""


class TransientServiceError(AirflowException):
    """Timeouts, 5xx, rate limits and unreadable bodies: worth another attempt."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class ServiceResponseError(AirflowException):
    """The service answered, but not in the agreed shape (and retrying will not change it)."""


def redact_url(url: str) -> str:
    parts = urlsplit(url)
    query = [
        (k, REDACTED if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    netloc = parts.netloc.rsplit("@", 1)[-1]  # drop user:password@
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=":*"), ""))


def redact_text(text: str, secrets: tuple[str | None, ...]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text[:MAX_ERROR_TEXT]


def retry_after_seconds(response: requests.Response | httpx.Response) -> float | None:
    """Honour the service's own hint (seconds or an HTTP date) when it sends one."""
    return parse_retry_after(response.headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    """A ``Retry-After`` header's value (seconds or an HTTP date) as seconds from now."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            return None


class _WaitHonouringRetryAfter(tenacity.wait.wait_base):
    def __init__(self, backoff_seconds: float, max_wait: float = 60.0):
        self.exponential = tenacity.wait_exponential(multiplier=backoff_seconds, max=max_wait)
        self.max_wait = max_wait

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return min(hinted, self.max_wait)
        return self.exponential(retry_state)


def call_with_retries(
    send: Callable[[], Any],
    *,
    describe: str,
    attempts: int,
    backoff_seconds: float,
) -> Any:
    """Run ``send`` until it returns, retrying transient faults with exponential backoff."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        log.warning(
            "%s: attempt %d of %d failed (%s); retrying in %.1f s",
            describe,
            state.attempt_number,
            attempts,
            state.outcome.exception() if state.outcome else "?",
            state.next_action.sleep if state.next_action else 0,
        )

    retrying = tenacity.Retrying(
        stop=tenacity.stop_after_attempt(attempts),
        wait=_WaitHonouringRetryAfter(backoff_seconds),
        retry=tenacity.retry_if_exception_type(TransientServiceError),
        before_sleep=before_sleep,
        reraise=True,
    )
    return retrying(send)


def timed_request(
    session: requests.Session,
    prepared: requests.PreparedRequest,
    *,
    timeout: float,
    record: ExchangeRecorder | None,
    secrets: tuple[str | None, ...],
    parse: Callable[[requests.Response], Any] = lambda response: response,
    send_kwargs: dict | None = None,
    describe_url: str | None = None,
    inspect_error: Callable[[requests.Response], None] | None = None,
) -> Any:
    """Send one request, parse the answer, record it in the exchange log, and classify failures
    for the retry policy: auth errors fail at once, transient ones are retried by the caller.

    ``describe_url`` is what the exchange log and the messages show instead of the request's own URL
    (a POST whose parameters travel in the body describes them there, without the secrets).
    ``inspect_error`` sees every answer with a status of 400 or more before the generic rules do,
    and may raise a more precise error (a JSON-RPC error object sent with a 4xx/5xx status).
    Any :class:`AirflowException` raised by ``parse`` or ``inspect_error`` is recorded as the
    exchange's error and re-raised as it is."""
    url = redact_url(describe_url if describe_url is not None else (prepared.url or ""))
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        try:
            response = session.send(prepared, timeout=timeout, **(send_kwargs or {}))
        except requests.Timeout:
            error = f"no answer within {timeout:g} s"
            raise TransientServiceError(f"{prepared.method} {url}: {error}") from None
        except requests.ConnectionError as exc:
            error = redact_text(f"connection failed: {exc}", secrets)
            raise TransientServiceError(f"{prepared.method} {url}: {error}") from None
        status = response.status_code
        if status >= 400 and inspect_error is not None:
            inspect_error(response)
        if status in (401, 403):
            error = redact_text(response.text.strip() or response.reason or "", secrets)
            raise ServiceAuthError(f"{prepared.method} {url} was refused with {status}: {error}")
        if status == 429 or status >= 500:
            error = redact_text(f"{status} {response.reason}: {response.text.strip()}", secrets)
            raise TransientServiceError(f"{prepared.method} {url}: {error}", retry_after_seconds(response))
        if status >= 400:
            error = redact_text(f"{status} {response.reason}: {response.text.strip()}", secrets)
            raise ServiceResponseError(f"{prepared.method} {url}: {error}")
        try:
            return parse(response)
        except AirflowException:
            raise  # the service's own refusal, already classified: recorded below
        except ValueError as exc:
            # A truncated or garbled body is usually a passing fault of the service.
            error = redact_text(f"unreadable body ({exc}): {response.text[:200]!r}", secrets)
            raise TransientServiceError(f"{prepared.method} {url}: {error}") from None
    except AirflowException as exc:
        if error is None:  # raised by parse or inspect_error, not by the rules above
            error = redact_text(str(exc), secrets)
        raise
    finally:
        duration_ms = int((time.monotonic() - started) * 1000)
        if record is not None:
            record(Exchange(prepared.method or "?", url, status, duration_ms, error))
        log.info("%s %s -> %s in %d ms", prepared.method, url, status if status is not None else error, duration_ms)
