"""SMSC.ru (reference external-apis.md §4): ``/smsc/sys/{send,status,balance,senders}.php``.

Every script takes GET or POST, parameters in the query or a form body, and answers JSON (only
``fmt=3`` is served; another ``fmt`` gets error 1). Errors come with HTTP 200 as
``{"error": "...", "error_code": N}``, as SMSC's do.

Accounts: any login works with ``psw`` = the sandbox key, each login an account of its own (its
balance, senders and messages), so tests do not share state; ``apikey`` = the sandbox key is the
account ``apikey``. Anything else: error 2.

Send: ``phones`` (comma or semicolon list), ``mes``, ``sender``, ``id``, ``mail=1`` + ``subj`` for
e-mail (``phones`` then holds addresses), ``cost`` 0-3. Checked in this order:
1. forced errors (control API) - the next sends answer the forced code;
2. **our own ``id``** - a send with an id already used for that recipient returns the existing
   message (``{"id","cnt"}`` as first answered) and sends nothing. This is the emulator's reading of
   SMSC's id semantics (the docs only say the id is yours to query statuses by): it is how a resend
   after a crash between the send and the commit is recognised;
3. duplicate protection - identical ``phones + mes + sender`` within 60 s: error 9;
4. sender - when given it must be among the account's confirmed senders (for e-mail it is
   required), else error 6; recipients - a phone must be 11-15 digits (``+`` optional), an e-mail
   address must have an ``@``, else error 7; a number ending in ``0000`` cannot be delivered (8);
5. cost - per part (70 Cyrillic / 160 Latin characters; 67/153 per part once split), 1.80 per SMS
   part, 0.50 per e-mail; not enough balance: error 3. The balance goes down by the cost.

Statuses progress on the sandbox clock: -1 (waiting) for ``queued_seconds``, then 0 (at the
operator) until ``final_seconds``, then final - 1 (delivered), or, deterministically by number,
about 4 % each 20 / 22 / 25. E-mails go to 1, and a third of them later (another ``final_seconds``)
to 2 (read). Control API under ``/_sandbox/smsc/{login}/``: ``balance`` (POST {"balance"}),
``errors`` (POST {"code", "count"}), ``timing`` (POST {"queued_seconds", "final_seconds"}),
``senders`` (POST {"senders": [...]}), ``messages`` (GET: what was received),
``messages/{id}/status`` (POST {"status", "err"?}), ``stats`` (GET), ``state`` (DELETE).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from ..clock import format_iso
from ..context import SandboxContext, Service

NAME = "smsc"
SMS_PART_PRICE = Decimal("1.80")
EMAIL_PRICE = Decimal("0.50")
START_BALANCE = Decimal("10000.00")  # a demo day of reminders to a 2000-patient network
DEFAULT_SENDERS = ("IDENT", "SMSC.RU", "clinic@example.ru")
DUPLICATE_WINDOW = 60.0
_PHONE = re.compile(r"^\+?\d{11,15}$")
ERRORS = {
    1: "parameter error",
    2: "authorise error",
    3: "no money",
    4: "IP is blocked",
    5: "wrong date format",
    6: "message is denied",
    7: "wrong phone number format",
    8: "message to this number cannot be delivered",
    9: "duplicate request, wait a minute",
}


def parts_of(text: str) -> int:
    """Billed parts: 70 Cyrillic / 160 Latin characters in one, 67 / 153 per part once split."""
    cyrillic = any(ord(ch) > 127 for ch in text)
    single, multi = (70, 67) if cyrillic else (160, 153)
    if len(text) <= single:
        return 1
    return -(-len(text) // multi)


def final_status(recipient: str) -> int:
    """Deterministic by number: ~88 % delivered, ~4 % each 20, 22 and 25."""
    bucket = int(hashlib.sha256(recipient.encode()).hexdigest()[:8], 16) % 100
    return 20 if bucket < 4 else 22 if bucket < 8 else 25 if bucket < 12 else 1


@dataclass
class _Message:
    id: str
    recipient: str
    text: str
    sender: str | None
    mail: bool
    subject: str | None
    parts: int
    cost: Decimal
    sent_at: float  # sandbox clock, seconds since start
    forced: tuple[int, int] | None = None  # (status, err) set by the control API


@dataclass
class _Account:
    login: str
    balance: Decimal = START_BALANCE
    senders: list[str] = field(default_factory=lambda: list(DEFAULT_SENDERS))
    messages: dict[tuple[str, str], _Message] = field(default_factory=dict)  # (recipient, id) -> message
    recent: dict[tuple[str, str, str], float] = field(default_factory=dict)  # duplicate protection
    forced_errors: list[int] = field(default_factory=list)
    queued_seconds: float = 5.0
    final_seconds: float = 15.0
    next_id: int = 1
    requests: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    duplicates_recognised: int = 0


def _error(code: int, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": ERRORS[code], "error_code": code, **extra})


def create(ctx: SandboxContext) -> Service:
    accounts: dict[str, _Account] = {}
    router = APIRouter()
    control = APIRouter()

    def account(login: str) -> _Account:
        return accounts.setdefault(login, _Account(login))

    def seconds() -> float:
        return ctx.clock.elapsed()

    def status_of(acc: _Account, msg: _Message) -> tuple[int, int]:
        if msg.forced is not None:
            return msg.forced
        age = seconds() - msg.sent_at
        if age < acc.queued_seconds:
            return -1, 0
        if age < acc.final_seconds:
            return 0, 0
        if msg.mail:
            read = int(hashlib.sha256(msg.id.encode()).hexdigest()[:4], 16) % 3 == 0
            return (2, 0) if read and age >= 2 * acc.final_seconds else (1, 0)
        final = final_status(msg.recipient)
        return final, (0 if final == 1 else final)

    async def params(request: Request) -> dict[str, str]:
        values = dict(request.query_params)
        if request.method == "POST":
            form = await request.form()
            values.update({k: str(v) for k, v in form.items()})
        return values

    def authenticate(values: dict[str, str]) -> _Account | None:
        key = ctx.settings.key.encode()
        if values.get("apikey"):
            return account("apikey") if hmac.compare_digest(values["apikey"].encode(), key) else None
        login, psw = values.get("login", ""), values.get("psw", "")
        if login and hmac.compare_digest(psw.encode(), key):
            return account(login)
        return None

    async def begin(script: str, request: Request) -> tuple[_Account | None, dict[str, str], Response | None]:
        values = await params(request)
        acc = authenticate(values)
        if acc is None:
            return None, values, _error(2)
        acc.requests[script] = acc.requests.get(script, 0) + 1
        if values.get("fmt") != "3":
            return acc, values, _error(1)
        return acc, values, None

    def failed(acc: _Account, code: int, **extra: Any) -> JSONResponse:
        acc.errors[str(code)] = acc.errors.get(str(code), 0) + 1
        return _error(code, **extra)

    @router.api_route("/sys/send.php", methods=["GET", "POST"])
    async def send(request: Request) -> Response:
        acc, values, refused = await begin("send", request)
        if refused is not None:
            return refused
        if acc.forced_errors:
            return failed(acc, acc.forced_errors.pop(0))
        recipients = [p.strip() for p in re.split(r"[,;]", values.get("phones", "")) if p.strip()]
        text, sender, own_id = values.get("mes", ""), values.get("sender") or None, values.get("id") or None
        mail = values.get("mail") == "1"
        if not recipients or not text:
            return failed(acc, 1)
        if own_id is not None:
            known = [acc.messages.get((recipient, own_id)) for recipient in recipients]
            if all(known):  # a resend of what was sent already: answered as then, nothing sent
                acc.duplicates_recognised += 1
                return JSONResponse({"id": own_id, "cnt": sum(m.parts for m in known)})
        fingerprint = (",".join(recipients), text, sender or "")
        now = seconds()
        if now - acc.recent.get(fingerprint, -1e9) < DUPLICATE_WINDOW:
            return failed(acc, 9)
        message_id = own_id or str(acc.next_id)
        if mail and not sender or sender is not None and sender not in acc.senders:
            return failed(acc, 6, id=message_id)
        for recipient in recipients:
            if (mail and "@" not in recipient) or (not mail and not _PHONE.match(recipient)):
                return failed(acc, 7, id=message_id)
            if not mail and recipient.endswith("0000"):
                return failed(acc, 8, id=message_id)
        parts = 1 if mail else parts_of(text)
        price = EMAIL_PRICE if mail else SMS_PART_PRICE * parts
        cost = price * len(recipients)
        if acc.balance < cost:
            return failed(acc, 3, id=message_id)
        acc.recent[fingerprint] = now
        acc.next_id += 1
        acc.balance -= cost
        for recipient in recipients:
            acc.messages[(recipient, message_id)] = _Message(
                message_id, recipient, text, sender, mail, values.get("subj") if mail else None, parts, price, now
            )
        answer: dict[str, Any] = {"id": message_id, "cnt": parts * len(recipients)}
        if values.get("cost") in ("2", "3"):
            answer["cost"] = f"{cost:.2f}"
        if values.get("cost") == "3":
            answer["balance"] = f"{acc.balance:.2f}"
        return JSONResponse(answer)

    @router.api_route("/sys/status.php", methods=["GET", "POST"])
    async def status(request: Request) -> Response:
        acc, values, refused = await begin("status", request)
        if refused is not None:
            return refused
        phones_raw, ids_raw = values.get("phone", ""), values.get("id", "")
        many = "," in ids_raw
        phones = [p.strip() for p in phones_raw.split(",")]
        ids = [i.strip() for i in ids_raw.split(",")]
        if many and phones and phones[-1] == "" and ids[-1] == "":
            phones, ids = phones[:-1], ids[:-1]
        if not ids or len(phones) != len(ids) or any(not x for x in (*phones, *ids)):
            return failed(acc, 1)
        answers = []
        for phone, message_id in zip(phones, ids, strict=True):
            msg = acc.messages.get((phone, message_id))
            if msg is None:
                answers.append({"id": message_id, "phone": phone, "status": -3, "err": 0})
                continue
            code, err = status_of(acc, msg)
            at = ctx.clock.start_time.timestamp() + msg.sent_at
            answers.append({"id": message_id, "phone": phone, "status": code, "err": err,
                            "last_timestamp": int(at), "flag": 0})  # fmt: skip
        return JSONResponse(answers if many else answers[0])

    @router.api_route("/sys/balance.php", methods=["GET", "POST"])
    async def balance(request: Request) -> Response:
        acc, values, refused = await begin("balance", request)
        if refused is not None:
            return refused
        answer = {"balance": f"{acc.balance:.2f}"}
        if values.get("cur") == "1":
            answer["currency"] = "RUR"
        return JSONResponse(answer)

    @router.api_route("/sys/senders.php", methods=["GET", "POST"])
    async def senders(request: Request) -> Response:
        acc, values, refused = await begin("senders", request)
        if refused is not None:
            return refused
        if values.get("get") != "1":
            return failed(acc, 1)
        return JSONResponse([{"sender": name} for name in acc.senders])

    # -- control API ------------------------------------------------------------------------------
    @control.post("/{login}/balance")
    async def set_balance(login: str, request: Request) -> Response:
        acc = account(login)
        acc.balance = Decimal(str((await request.json())["balance"]))
        return JSONResponse({"login": login, "balance": f"{acc.balance:.2f}"})

    @control.post("/{login}/errors")
    async def force_errors(login: str, request: Request) -> Response:
        body = await request.json()
        code = int(body["code"])
        if code not in ERRORS:
            return JSONResponse({"detail": f"unknown error code {code}"}, status_code=400)
        acc = account(login)
        acc.forced_errors += [code] * int(body.get("count", 1))
        return JSONResponse({"login": login, "forced_errors": acc.forced_errors})

    @control.post("/{login}/timing")
    async def set_timing(login: str, request: Request) -> Response:
        body, acc = await request.json(), account(login)
        acc.queued_seconds = float(body.get("queued_seconds", acc.queued_seconds))
        acc.final_seconds = float(body.get("final_seconds", acc.final_seconds))
        return JSONResponse({"login": login, "queued_seconds": acc.queued_seconds, "final_seconds": acc.final_seconds})

    @control.post("/{login}/senders")
    async def set_senders(login: str, request: Request) -> Response:
        acc = account(login)
        acc.senders = [str(name) for name in (await request.json())["senders"]]
        return JSONResponse({"login": login, "senders": acc.senders})

    @control.get("/{login}/messages")
    async def messages(login: str) -> Response:
        acc = account(login)
        rows = []
        for msg in acc.messages.values():
            code, err = status_of(acc, msg)
            rows.append({
                "id": msg.id, "recipient": msg.recipient, "text": msg.text, "sender": msg.sender, "mail": msg.mail,
                "subject": msg.subject, "parts": msg.parts, "cost": f"{msg.cost:.2f}", "status": code, "err": err,
                "sent_at": format_iso(ctx.clock.start_time + timedelta(seconds=msg.sent_at), ctx.tz),
            })  # fmt: skip
        return JSONResponse({"login": login, "messages": rows})

    @control.post("/{login}/messages/{message_id}/status")
    async def force_status(login: str, message_id: str, request: Request) -> Response:
        body, acc = await request.json(), account(login)
        hits = [msg for (recipient, mid), msg in acc.messages.items() if mid == message_id]
        if body.get("recipient"):
            hits = [msg for msg in hits if msg.recipient == body["recipient"]]
        if not hits:
            return JSONResponse({"detail": f"no message {message_id!r}"}, status_code=404)
        for msg in hits:
            msg.forced = (int(body["status"]), int(body.get("err", 0)))
        return JSONResponse({"login": login, "id": message_id, "forced": len(hits)})

    @control.get("/{login}/stats")
    async def stats(login: str) -> Response:
        acc = account(login)
        return JSONResponse({
            "login": login, "balance": f"{acc.balance:.2f}", "messages": len(acc.messages),
            "requests": acc.requests, "errors": acc.errors, "duplicates_recognised": acc.duplicates_recognised,
        })  # fmt: skip

    @control.delete("/{login}/state")
    async def reset(login: str) -> Response:
        accounts.pop(login, None)
        return JSONResponse({"login": login, "reset": True})

    return Service(NAME, router, control)
