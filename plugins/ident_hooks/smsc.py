"""SMSC.ru ("СМС-центр"): SMS and e-mail through its HTTP API (reference external-apis.md §4).

Connection (``ident_smsc``): host = the base URL (empty = :data:`DEFAULT_URL`; the backup host is
``https://www2.smsc.ru``), login + password, **or** an ``apikey`` in the extras instead of both.
Extras: ``timeout``; ``busy_retry_seconds`` (how long to wait after error 9, default 20 s).

Wire facts: every script (``sys/send.php``, ``status.php``, ``balance.php``, ``senders.php``) takes
GET or POST; this hook POSTs a form (the text may be 1000 characters) with ``fmt=3`` (JSON) and
``charset=utf-8``. SMSC answers errors with HTTP 200 and ``{"error": "...", "error_code": N}``:

* 2 (wrong login/password or IP not allowed) and 4 (IP blocked) -> :class:`ServiceAuthError`, at once;
* 9 (duplicate request / too frequent / too many at once) -> :class:`TransientServiceError`, retried
  after ``busy_retry_seconds`` (SMSC's own hint is "wait a minute");
* 3 (no money), 6 (forbidden text or sender), 7 (bad number), 8 (cannot be delivered) concern one
  message -> :class:`SmscMessageError` with the code: the caller fails that message, not the run;
* 1 (parameter error) and 5 (bad date) -> :class:`ServiceResponseError`.

The exchange log shows the script and the non-personal parameters only: never login, psw or apikey
(nor the text and the recipients).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

import requests

from ident_hooks.base import ServiceHttpHook, service_url
from ident_hooks.exchange import (
    ServiceAuthError,
    ServiceResponseError,
    TransientServiceError,
    call_with_retries,
    timed_request,
)

DEFAULT_URL = "https://smsc.ru"
DEFAULT_BUSY_RETRY_SECONDS = 20.0

# send.php's error codes (reference §4.2), in our words
SEND_ERRORS = {
    1: "parameter error",
    2: "wrong login or password, or the request came from an IP address the account does not allow",
    3: "not enough money on the SMSC account",
    4: "IP address temporarily blocked after frequent bad requests",
    5: "bad date format",
    6: "message forbidden (by its text or by the sender name)",
    7: "bad phone number format",
    8: "message cannot be delivered to this number",
    9: "duplicate request or too many requests: wait a minute",
}
AUTH_CODES = frozenset({2, 4})
BUSY_CODE = 9
MESSAGE_CODES = frozenset({3, 6, 7, 8})
# The parameters the exchange log may show (never the secrets, the text or the recipients)
LOGGED_PARAMS = ("fmt", "charset", "id", "mail", "cost", "get", "all")


def api_url(host: str | None, port: int | None = None) -> str:
    return service_url(host, port, DEFAULT_URL)


class SmscMessageError(ServiceResponseError):
    """SMSC refused one message (codes 3, 6, 7, 8): that message fails, the others go on."""

    def __init__(self, code: int, text: str):
        super().__init__(f"SMSC error {code}: {text}")
        self.code, self.text = code, text


@dataclass(frozen=True)
class Sent:
    smsc_id: str
    parts: int  # billed parts (``cnt``)
    cost: Decimal | None
    balance: Decimal | None


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def error_text(code: int, service_text: str | None) -> str:
    ours = SEND_ERRORS.get(code, "unknown error")
    return f"{ours} (SMSC: {service_text})" if service_text else ours


class SmscHook(ServiceHttpHook):
    """Sends SMS and e-mail through SMSC and asks their statuses, the balance and the senders."""

    conn_name_attr = "smsc_conn_id"
    default_conn_name = "smsc_default"
    conn_type = "ident_smsc"
    hook_name = "IDENT: SMSC.ru SMS and e-mail"

    HTTP_METHOD = "POST"
    HOOK_EXTRAS = ("apikey", "timeout", "busy_retry_seconds")
    SECRET_MISSING = "no credentials: put the SMSC login and password in it, or an apikey in its extras"
    api_url = staticmethod(api_url)

    def __init__(self, smsc_conn_id: str = default_conn_name, **settings: Any) -> None:
        super().__init__(smsc_conn_id, **settings)
        self._auth: dict[str, str] = {}
        self._login: str | None = None

    def _load_connection(self) -> None:
        if not self._loaded:
            connection = self.get_connection(self.http_conn_id)
            self._set_base_url(connection)
            self._extras = dict(connection.extra_dejson or {})
            apikey = self._extras.get("apikey")
            if apikey:
                self._secret, self._auth = str(apikey), {"apikey": str(apikey)}
            elif connection.login and connection.password:
                self._secret, self._login = connection.password, connection.login
                self._auth = {"login": connection.login, "psw": connection.password}
            self._loaded = True

    def _redact(self, text: str) -> str:
        for secret in (self._secret, self._login):
            if secret:
                text = text.replace(secret, "***")
        return text

    def request(self, script: str, params: dict[str, Any]) -> Any:
        """One call of ``sys/<script>.php`` (form POST, JSON answer), transient faults and error 9
        retried; SMSC's error envelope raised as the class docstring says."""
        session, _ = self._session_and_secret()
        form = {**self._auth, **{k: v for k, v in params.items() if v is not None}, "fmt": 3, "charset": "utf-8"}
        url = f"{self.base_url}/sys/{script}.php"
        shown = {k: form[k] for k in LOGGED_PARAMS if k in form}
        if "phones" in form or "phone" in form:
            shown["recipients"] = len(str(form.get("phones") or form.get("phone")).split(","))
        describe = f"{url}?{urlencode(shown)}"
        prepared = session.prepare_request(
            requests.Request(
                "POST", url, data=urlencode(form).encode("ascii"),
                headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
            )
        )  # fmt: skip
        busy_wait = float(self._extras.get("busy_retry_seconds", DEFAULT_BUSY_RETRY_SECONDS))

        def parse(response: requests.Response) -> Any:
            body = response.json()
            if isinstance(body, dict) and "error_code" in body:
                self._raise_error(script, body, busy_wait)
            return body

        def attempt() -> Any:
            send_kwargs = session.merge_environment_settings(
                prepared.url, proxies=session.proxies, stream=False, verify=session.verify, cert=session.cert
            )
            return timed_request(
                session, prepared, timeout=self.timeout_seconds, record=self.on_exchange,
                secrets=(self._secret, self._login), parse=parse, send_kwargs=send_kwargs, describe_url=describe,
            )  # fmt: skip

        return call_with_retries(
            attempt,
            describe=f"{self.smsc_conn_id} {script}.php",
            attempts=self.request_attempts,
            backoff_seconds=self.request_backoff_seconds,
        )

    def _raise_error(self, script: str, body: dict, busy_wait: float) -> None:
        try:
            code = int(body.get("error_code"))
        except (TypeError, ValueError):
            raise ServiceResponseError(self._redact(f"SMSC {script}.php: unreadable error {body!r}")) from None
        text = error_text(code, self._redact(str(body.get("error") or "")))
        if code in AUTH_CODES:
            raise ServiceAuthError(f"SMSC refused {script}.php with error {code}: {text}")
        if code == BUSY_CODE:
            raise TransientServiceError(f"SMSC {script}.php error 9: {text}", retry_after=busy_wait)
        if code in MESSAGE_CODES and script == "send":
            raise SmscMessageError(code, text)
        raise ServiceResponseError(f"SMSC {script}.php error {code}: {text}")

    # ---- the API ----------------------------------------------------------------------------

    def send(
        self,
        phones: str | list[str],
        mes: str,
        sender: str | None = None,
        id: str | None = None,  # noqa: A002 - SMSC's own parameter name
        mail: bool = False,
        subj: str | None = None,
    ) -> Sent:
        """``send.php`` with ``cost=3`` (the answer carries the cost and the new balance). ``id`` is
        our own message id: the same id again for the same recipient is how a resend is recognised."""
        recipients = phones if isinstance(phones, str) else ",".join(phones)
        params: dict[str, Any] = {"phones": recipients, "mes": mes, "sender": sender, "id": id, "cost": 3}
        if mail:
            params.update(mail=1, subj=subj)
        body = self.request("send", params)
        if not isinstance(body, dict) or "id" not in body:
            raise ServiceResponseError(f"SMSC send.php: unexpected answer {str(body)[:200]!r}")
        return Sent(
            str(body["id"]), int(body.get("cnt") or 0), _decimal(body.get("cost")), _decimal(body.get("balance"))
        )

    def status(self, phones: list[str], ids: list[str]) -> list[dict]:
        """``status.php`` for several messages at once (comma lists in matching order; a trailing
        comma makes SMSC answer a list even for one)."""
        if len(phones) != len(ids):
            raise ValueError("status: as many phones as ids")
        if not ids:
            return []
        body = self.request("status", {"phone": ",".join(phones) + ",", "id": ",".join(ids) + ","})
        if isinstance(body, dict):
            body = [body]
        if not isinstance(body, list):
            raise ServiceResponseError(f"SMSC status.php: unexpected answer {str(body)[:200]!r}")
        return body

    def balance(self) -> Decimal:
        body = self.request("balance", {})
        value = _decimal(body.get("balance")) if isinstance(body, dict) else None
        if value is None:
            raise ServiceResponseError(f"SMSC balance.php: unexpected answer {str(body)[:200]!r}")
        return value

    def senders(self) -> list[str]:
        """The confirmed sender names and e-mail addresses (``senders.php?get=1``)."""
        body = self.request("senders", {"get": 1})
        if not isinstance(body, list):
            raise ServiceResponseError(f"SMSC senders.php: unexpected answer {str(body)[:200]!r}")
        return [str(item.get("sender")) for item in body if isinstance(item, dict) and item.get("sender")]

    def test_connection(self) -> tuple[bool, str]:
        """The UI's Test button ("Проверить"): the balance, which needs valid credentials."""
        try:
            balance = self.balance()
        except Exception as exc:  # report any failure to the UI instead of raising
            return False, str(exc)
        return True, f"SMSC at {self.base_url}: credentials accepted, balance {balance}"
