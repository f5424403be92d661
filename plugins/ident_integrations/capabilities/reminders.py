"""Appointment reminders, shared by the SMS (``sms``) and e-mail (``email``) capabilities.

**Which visits.** ``ident_appointments`` in status ``planned`` or ``confirmed`` with a patient,
starting from now to ``hours_ahead`` hours ahead (or, when ``days_ahead`` is set, to the end of the
clinic's day today + N), not reminded of yet on this channel. They are grouped per patient: one
visit -> the ``one_visit`` template, several -> ``several_visits``. A patient without a phone (an
e-mail address for e-mail) is skipped and counted; one whose phone or address is malformed goes to
``ident_rejects`` with the reason.

**Templates and tags** (IDENT's own are not documented; these are ours):

* in a message: ``{Прием}`` (the first visit, in the visit format), ``{Приемы}`` (every visit, each
  in the visit format, joined by ``visit_separator``), ``{Пациент}`` (Фамилия Имя Отчество),
  ``{Имя}``, ``{Отчество}``, ``{Клиника}`` (``clinic_name``, else the first visit's branch name),
  ``{Телефон}`` (``clinic_phone``, else the first visit's branch phone);
* in the visit format (``visit_format``; ``network_visit_format`` when the clinic has more than one
  branch, so each visit carries its branch): ``{Дата}`` (dd.mm.yyyy), ``{Время}`` (HH:MM, the
  branch's local time), ``{ДеньНедели}``, ``{Врач}``, ``{Филиал}``, ``{Адрес}``, ``{ТелефонФилиала}``.

An unknown tag is a configuration error (``ident config check`` names it).

**Never twice.** Each message is recorded (status ``pending``, ``smsc_id`` a hash of integration,
template and visits) with its visits in ``ident_message_visits`` in one transaction *before* it is
sent (``store/messages.py``); then it is sent with SMSC's ``id`` = ``smsc_id``. A retry, a re-run or
a run after a crash between the send and the commit finds the visits taken, and re-sends a pending
row with the same id, which SMSC recognises.

**Quiet hours** (clinic time, default 21:00-09:00; ``quiet_hours: false`` for none): messages are
recorded with ``not_before`` = the end of the quiet hours and sent by the first run after it; the
run stays green and says so. Visits that start before the quiet hours end are not reminded, and a
message that waited is not sent when its visits were cancelled or have started meanwhile.

**Money.** ``balance.php`` under ``low_balance_warning`` logs a warning. SMSC's error 3 (no money)
fails that message with the reason, leaves the rest pending for the next run, and fails the run at
the end. Errors 6/7/8 fail their message only. Cost and parts are stored per message.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ident_integrations.config import CapabilitySettings, IntervalMinutes, ResolvedCapability

log = logging.getLogger(__name__)

MESSAGE_TAGS = frozenset({"Прием", "Приемы", "Пациент", "Имя", "Отчество", "Клиника", "Телефон"})
VISIT_TAGS = frozenset({"Дата", "Время", "ДеньНедели", "Врач", "Филиал", "Адрес", "ТелефонФилиала"})
WEEKDAYS = ("понедельник", "вторник", "среда", "четверг", "пятница", "суббота", "воскресенье")
_TAG = re.compile(r"\{([^{}]*)\}")
_PHONE = re.compile(r"^\+\d{11,15}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DEFAULT_ONE = "{Имя} {Отчество}, напоминаем о приёме {Прием}. {Клиника}, тел. {Телефон}"
DEFAULT_SEVERAL = "{Имя} {Отчество}, напоминаем о приёмах: {Приемы}. {Клиника}, тел. {Телефон}"
DEFAULT_VISIT = "{Дата} в {Время}, врач {Врач}"
DEFAULT_NETWORK_VISIT = "{Дата} в {Время}, {Филиал} ({Адрес}, тел. {ТелефонФилиала}), врач {Врач}"


def check_tags(text: str, allowed: frozenset[str]) -> str:
    unknown = sorted({tag for tag in _TAG.findall(text) if tag not in allowed})
    if unknown:
        raise ValueError(
            f"unknown tag(s) {', '.join('{' + t + '}' for t in unknown)}; known: "
            + ", ".join("{" + t + "}" for t in sorted(allowed))
        )
    return text


def render(text: str, values: dict[str, str]) -> str:
    return _TAG.sub(lambda match: values.get(match.group(1), match.group(0)), text)


class QuietHours(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    start: str = "21:00"
    end: str = "09:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"{value!r} is not a time: write HH:MM")
        return value


MessageTemplate = Annotated[str, Field(min_length=1, max_length=1000)]


class ReminderSettings(CapabilitySettings):
    """What the ``sms:`` and ``email:`` blocks share."""

    interval_minutes: IntervalMinutes = 15
    hours_ahead: Annotated[float, Field(gt=0, le=24 * 31)] = 24  # visits starting within this many hours
    days_ahead: Annotated[int, Field(ge=0, le=31)] | None = None  # instead: through the end of today + N
    # false = none (null would mean "the default")
    quiet_hours: QuietHours | Literal[False] = QuietHours()
    sender: Annotated[str, Field(min_length=1, max_length=255)] | None = None
    clinic_name: str = ""
    clinic_phone: str = ""
    one_visit: MessageTemplate = DEFAULT_ONE
    several_visits: MessageTemplate = DEFAULT_SEVERAL
    visit_format: MessageTemplate = DEFAULT_VISIT
    network_visit_format: MessageTemplate = DEFAULT_NETWORK_VISIT
    visit_separator: str = "; "
    low_balance_warning: Annotated[float, Field(ge=0)] = 100.0  # roubles

    @field_validator("one_visit", "several_visits")
    @classmethod
    def _message_tags(cls, value: str) -> str:
        return check_tags(value, MESSAGE_TAGS)

    @field_validator("visit_format", "network_visit_format")
    @classmethod
    def _visit_tags(cls, value: str) -> str:
        return check_tags(value, VISIT_TAGS)


@dataclass(frozen=True)
class Channel:
    """How a capability's reminders travel (``Service.sources[...]``)."""

    name: str  # sms | email
    mail: bool

    @property
    def template(self) -> str:  # the key of ident_message_visits: once per visit on this channel
        return f"{self.name}_reminder"


SMS_CHANNEL = Channel("sms", mail=False)
EMAIL_CHANNEL = Channel("email", mail=True)


@dataclass(frozen=True)
class Planned:
    """One message the run would send: its recipient, text and the visits it reminds of."""

    patient_id: int
    recipient: str
    text: str
    subject: str | None
    smsc_id: str
    appointment_ids: tuple[int, ...]
    variant: str  # one_visit | several_visits


@dataclass
class Plan:
    messages: list[Planned] = field(default_factory=list)
    no_contact: int = 0  # patients skipped: no phone (no e-mail address)
    rejects: list[Any] = field(default_factory=list)  # RejectedRecord
    too_early: int = 0  # visits starting before the quiet hours end


def smsc_id(integration: str, template: str, appointment_ids: tuple[int, ...]) -> str:
    """Our SMSC ``id``: fixed by what the message reminds of, so every resend carries the same."""
    key = f"{integration}|{template}|{','.join(map(str, sorted(appointment_ids)))}"
    return "r" + hashlib.sha256(key.encode()).hexdigest()[:15]


def window(settings: ResolvedCapability, now: datetime) -> tuple[datetime, datetime]:
    block = settings.block
    if block.days_ahead is not None:
        local = now.astimezone(settings.tz).date() + timedelta(days=block.days_ahead + 1)
        return now, datetime.combine(local, time(0), settings.tz).astimezone(UTC)
    return now, now + timedelta(hours=block.hours_ahead)


def quiet_until(settings: ResolvedCapability, now: datetime) -> datetime | None:
    """The end of the quiet hours when ``now`` is in them (clinic time), else None."""
    quiet = settings.block.quiet_hours
    if not quiet:
        return None
    tz = settings.tz
    local = now.astimezone(tz)
    start, end = time.fromisoformat(quiet.start), time.fromisoformat(quiet.end)
    clock = local.time()
    if start == end:
        return None
    inside = (start <= clock or clock < end) if start > end else (start <= clock < end)
    if not inside:
        return None
    day = local.date() if clock < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tz).astimezone(UTC)


def visit_values(visit: Any) -> dict[str, str]:
    local = visit.starts_at.astimezone(ZoneInfo(visit.branch_timezone))
    return {
        "Дата": f"{local:%d.%m.%Y}",
        "Время": f"{local:%H:%M}",
        "ДеньНедели": WEEKDAYS[local.weekday()],
        "Врач": visit.doctor,
        "Филиал": visit.branch,
        "Адрес": visit.branch_address,
        "ТелефонФилиала": visit.branch_phone,
    }


def compose(block: ReminderSettings, visits: list[Any], network: bool) -> tuple[str, str]:
    """(variant, text) of one patient's message about ``visits`` (by time)."""
    fmt = block.network_visit_format if network else block.visit_format
    rendered = [render(fmt, visit_values(visit)) for visit in visits]
    first = visits[0]
    values = {
        "Прием": rendered[0],
        "Приемы": block.visit_separator.join(rendered),
        "Пациент": " ".join(part for part in (first.surname, first.name, first.patronymic) if part),
        "Имя": first.name,
        "Отчество": first.patronymic,
        "Клиника": block.clinic_name or first.branch,
        "Телефон": block.clinic_phone or first.branch_phone,
    }
    variant = "one_visit" if len(visits) == 1 else "several_visits"
    text = render(block.one_visit if variant == "one_visit" else block.several_visits, values)
    # an empty tag (no patronymic) leaves no double space nor a space before a comma
    text = re.sub(r" +([,.;:!?])", r"\1", re.sub(r"[ \t]+", " ", text))
    return variant, text.strip()


def signature_values(block: Any, visits: list[Any]) -> dict[str, str]:
    first = visits[0]
    return {"Клиника": block.clinic_name or first.branch, "Телефон": block.clinic_phone or first.branch_phone}


def plan(settings: ResolvedCapability, channel: Channel, store: Any, now: datetime) -> Plan:
    """What this run would send: the visits in the window, grouped per patient, rendered."""
    from ident_integrations.records import RejectedRecord

    block = settings.block
    start, end = window(settings, now)
    quiet = quiet_until(settings, now)
    visits = store.visits(start, end, channel.template)
    result = Plan()
    if quiet is not None:
        result.too_early = sum(1 for visit in visits if visit.starts_at < quiet)
        visits = [visit for visit in visits if visit.starts_at >= quiet]
    network = store.branch_count() > 1
    by_patient: dict[int, list[Any]] = {}
    for visit in visits:
        by_patient.setdefault(visit.patient_id, []).append(visit)
    for patient_id, own in by_patient.items():
        contact = (own[0].email if channel.mail else own[0].phone).strip()
        ids = tuple(visit.appointment_id for visit in own)
        if not contact:
            result.no_contact += 1
            continue
        pattern, what = (_EMAIL, "e-mail address") if channel.mail else (_PHONE, "phone (+ and 11-15 digits)")
        if not pattern.match(contact):
            raw = {"patient_id": patient_id, "recipient": contact, "appointment_ids": list(ids)}
            reason = f"patient {patient_id}: {contact!r} is not a valid {what}; not reminded"
            result.rejects.append(RejectedRecord(raw, reason, f"patient:{patient_id}"))
            continue
        variant, text = compose(block, own, network)
        subject = None
        if channel.mail:
            signature = render(block.signature, signature_values(block, own)).strip()
            text = f"{text}\n\n{signature}" if signature else text
            subject = render(block.subject, signature_values(block, own))[:255]
        result.messages.append(
            Planned(
                patient_id, contact, text, subject, smsc_id(settings.integration, channel.template, ids), ids, variant
            )  # fmt: skip
        )
    return result


def send_reminders(settings: ResolvedCapability, *, now: datetime | None = None) -> dict[str, Any]:
    """One run: record the new reminders (before sending), then send every pending one that may go."""
    from airflow.sdk.exceptions import AirflowFailException

    from ident_hooks.smsc import SmscMessageError
    from ident_integrations.capabilities import service_hook
    from ident_integrations.store.messages import MessageStore

    now = now or datetime.now(UTC)
    store = MessageStore.open(settings)
    block = settings.block
    with service_hook(settings, store) as (channel, hook, _):
        if channel.mail:  # an unconfirmed sender would fail every message: refuse before recording any
            confirmed = hook.senders()
            if not block.sender or block.sender not in confirmed:
                raise AirflowFailException(
                    f"e-mail sender {block.sender!r} is not among the SMSC account's confirmed senders"
                    f" ({', '.join(confirmed) or 'none'}): confirm it in SMSC or set email.sender"
                )
        planned = plan(settings, channel, store, now)
        rejected = store.reject(planned.rejects, now)
        for record in planned.rejects:
            log.warning("rejected: %s", record.reason)
        quiet = quiet_until(settings, now)
        claimed = taken = 0
        for message in planned.messages:
            message_id = store.claim(
                channel=channel.name, template=channel.template, patient_id=message.patient_id,
                recipient=message.recipient, subject=message.subject, text=message.text, smsc_id=message.smsc_id,
                appointment_ids=message.appointment_ids, now=now, not_before=quiet,
            )  # fmt: skip
            if message_id is None:
                taken += 1
            else:
                claimed += 1
                log.info("recorded %s %s for patient %s, visits %s", message.variant, message.smsc_id,
                         message.patient_id, list(message.appointment_ids))  # fmt: skip
        log.info("%d new reminder(s) recorded, %d already taken by an earlier run, %d patient(s) without %s, "
                 "%d rejected (%d new)", claimed, taken, planned.no_contact,
                 "an e-mail address" if channel.mail else "a phone", len(planned.rejects), rejected)  # fmt: skip
        summary: dict[str, Any] = {
            "recorded": claimed, "taken": taken, "no_contact": planned.no_contact, "rejected": len(planned.rejects),
            "sent": 0, "failed": 0, "waiting": 0, "dropped": 0,
        }  # fmt: skip
        pending = store.pending(channel.name)
        if quiet is not None:
            summary["waiting"] = len(pending)
            log.info("quiet hours (%s-%s %s) until %s UTC: %d message(s) wait for the morning; %d visit(s) start "
                     "before then and are not reminded", block.quiet_hours.start, block.quiet_hours.end,
                     settings.timezone, f"{quiet:%Y-%m-%d %H:%M}", len(pending), planned.too_early)  # fmt: skip
            return summary
        if not pending:
            return summary
        balance = hook.balance()
        if balance < block.low_balance_warning:
            log.warning("SMSC balance %s is under low_balance_warning %s: top it up", balance,
                        block.low_balance_warning)  # fmt: skip
        no_money: str | None = None
        live = store.live([message.id for message in pending], now)
        for message in pending:
            if message.id not in live:
                store.mark_failed(message.id, code=None, text="not sent: its visits were cancelled or have started",
                                  at=now)  # fmt: skip
                summary["dropped"] += 1
                log.info("%s not sent: its visits were cancelled or have started", message.smsc_id)
                continue
            if message.not_before is not None and message.not_before > now:
                summary["waiting"] += 1
                continue
            if no_money is not None:
                summary["waiting"] += 1  # left pending: sent by the next run once the account is topped up
                continue
            try:
                sent = hook.send(message.recipient, message.text, block.sender, message.smsc_id, mail=channel.mail,
                                 subj=message.subject)  # fmt: skip
            except SmscMessageError as exc:
                store.mark_failed(message.id, code=exc.code, text=exc.text, at=now)
                summary["failed"] += 1
                log.warning("%s %s failed: %s", channel.name, message.smsc_id, exc)
                if exc.code == 3:
                    no_money = exc.text
                continue
            store.mark_sent(message.id, parts=sent.parts, cost=sent.cost, at=now)
            summary["sent"] += 1
            log.info("sent %s: %d part(s), cost %s", message.smsc_id, sent.parts, sent.cost)
        log.info("sent %d, failed %d, waiting %d", summary["sent"], summary["failed"], summary["waiting"])
        if no_money is not None:
            raise AirflowFailException(
                f"SMSC: {no_money}; {summary['sent']} sent, {summary['waiting']} left pending for the next run"
            )
    return summary


def preview(settings: ResolvedCapability, *, now: datetime | None = None) -> tuple[Plan, list[Any]]:
    """What the next run would send (new reminders) and the pending ones it would send again; the
    database is read only."""
    from ident_integrations.registry import service_for
    from ident_integrations.store.messages import MessageStore

    now = now or datetime.now(UTC)
    store = MessageStore.open(settings)
    channel = service_for(settings).source(settings.capability)
    return plan(settings, channel, store, now), store.pending(channel.name)


def reminder_doc(settings: ResolvedCapability, what: str) -> str:
    block = settings.block
    span = f"{block.days_ahead} day(s) ahead (to the end of that day)" if block.days_ahead is not None else (
        f"{block.hours_ahead:g} h ahead")  # fmt: skip
    quiet = f"{block.quiet_hours.start}-{block.quiet_hours.end} clinic time" if block.quiet_hours else "none"
    return f"""
## {what} reminders through `{settings.integration}` ({settings.service})

{settings.description}

**What it does.** Every {block.interval_minutes} min it reads planned and confirmed visits from the
IDENT database (connection `{settings.ident_conn_id}`: `ident_appointments`, `ident_patients`,
`ident_branches`, `ident_doctors`) starting within {span}, groups them per patient and sends one
message each through SMSC (connection `{settings.conn_id}`): template `one_visit` for one visit,
`several_visits` for more. It writes `ident_messages` (text, status, cost, parts) and
`ident_message_visits` (which visits each message reminds of).

**Tags.** Message: `{{Прием}}`, `{{Приемы}}`, `{{Пациент}}`, `{{Имя}}`, `{{Отчество}}`, `{{Клиника}}`,
`{{Телефон}}`. Visit format (`visit_format`, `network_visit_format` when there are several branches):
`{{Дата}}`, `{{Время}}`, `{{ДеньНедели}}`, `{{Врач}}`, `{{Филиал}}`, `{{Адрес}}`, `{{ТелефонФилиала}}`.
Preview: `ident sms preview --integration {settings.integration} --channel {settings.capability}`.

**Never twice.** A message and its visits are recorded before the send; a retry or re-run skips
visits already taken and re-sends a pending message with the same SMSC id, which SMSC recognises.
Quiet hours: {quiet} — messages wait for the morning, the run stays green.

**When it fails.** SMSC error 2/4 (login, password or IP): fix connection `{settings.conn_id}`.
Error 3 (no money): top up the account; the unsent messages stay pending and go next run. Errors
6/7/8 fail one message (see `ident_messages.status_text`); malformed contacts go to `ident_rejects`.
Error 9 (too frequent) and timeouts are retried.
"""
