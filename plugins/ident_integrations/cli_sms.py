"""``ident sms preview``: the texts the next reminder run would send, without sending or recording
anything (the IDENT database is only read)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime


def add_commands(commands) -> None:
    sms = commands.add_parser("sms", help="SMS and e-mail reminders").add_subparsers(dest="action", required=True)
    preview = sms.add_parser(
        "preview",
        help="print the reminders the next run would send",
        description="Print, per patient, the reminder texts the next run of the integration's sms (or email)"
        " DAG would send, and the pending ones it would send again. Nothing is sent or recorded.",
    )
    preview.add_argument("--integration", required=True, help="the integration's name in integrations.yaml")
    preview.add_argument("--channel", choices=("sms", "email"), default="sms", help="default: sms")
    preview.add_argument("--at", help="as if the run were at this ISO date-time (default: now)")
    preview.add_argument("--file", help="default: $IDENT_INTEGRATIONS_FILE or include/integrations.yaml")
    preview.set_defaults(handler=sms_preview)


def sms_preview(args: argparse.Namespace) -> int:
    from ident_integrations.capabilities.reminders import preview, quiet_until, window
    from ident_integrations.cli import OK, USAGE, CommandError, _load

    config = _load(args.file)
    try:
        settings = config.resolve(args.integration, args.channel)
    except ValueError as exc:  # ConfigError: no such enabled block
        raise CommandError(str(exc), USAGE) from None
    now = datetime.now(UTC)
    if args.at:
        try:
            now = datetime.fromisoformat(args.at)
        except ValueError:
            raise CommandError(f"--at {args.at!r} is not an ISO date-time", USAGE) from None
        now = (now if now.tzinfo else now.replace(tzinfo=settings.tz)).astimezone(UTC)
    plan, pending = preview(settings, now=now)
    start, end = window(settings, now)
    tz = settings.tz
    print(f"{settings.dag_id}: visits from {start.astimezone(tz):%Y-%m-%d %H:%M} to {end.astimezone(tz):%Y-%m-%d %H:%M}"
          f" ({settings.timezone})")  # fmt: skip
    quiet = quiet_until(settings, now)
    if quiet is not None:
        print(f"quiet hours: nothing is sent before {quiet.astimezone(tz):%Y-%m-%d %H:%M}")
    for message in plan.messages:
        visits = ", ".join(map(str, message.appointment_ids))
        print(f"\n[{message.variant}] patient {message.patient_id} -> {message.recipient} (visits {visits})")
        if message.subject:
            print(f"Subject: {message.subject}")
        print(message.text)
    for message in pending:
        print(f"\n[pending, sent again with id {message.smsc_id}] -> {message.recipient}\n{message.text}")
    contact = "an e-mail address" if args.channel == "email" else "a phone"
    print(f"\n{len(plan.messages)} new message(s), {len(pending)} pending, {plan.no_contact} patient(s) without"
          f" {contact}, {len(plan.rejects)} rejected")  # fmt: skip
    for record in plan.rejects:
        print(f"  rejected: {record.reason}")
    return OK
