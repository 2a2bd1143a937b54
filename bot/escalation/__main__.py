"""python -m bot.escalation — clinical contacts, crisis alerts and their delivery.

Commands:
  contacts list | add | remove   who is alerted, per health board or the national default
  alerts [--status failed]        every alert with its delivery status (failed ones need a person)
  deliver [--loop]                send due alerts from the outbox (and replay the local journal); then
                                  finish erasures that waited for an alert, and purge daily (bot/privacy)
  report                          detections and alerts by category, board and status
  review [--days N]               possible-risk signals and urgent-help requests (no alert was sent):
                                  the clinical safety lead reads these weekly, with the person's answer

The database is DATABASE_URL (default: SQLite at var/directory.db).
"""
from __future__ import annotations

import argparse
import logging
import sys
import time
from collections import Counter
from datetime import date, timedelta

from sqlalchemy import select

from bot import config, logs, migrate, privacy
from bot.db import session_scope
from bot.escalation import CATEGORY_NAMES, Detection, deliver_due, on_duty, record, replay_journal, utcnow
from bot.escalation import journal
from bot.escalation.notifiers import NOTIFIERS, check_webhook_address
from bot.models import Alert, ClinicalContact, Escalation, RiskReview
from bot.vocabulary import areas

logger = logging.getLogger("bot.escalation.__main__")  # its name under `python -m` too

MAX_RETRY_DELAY_SECONDS = 60


def cmd_contacts(args) -> int:
    with session_scope() as session:
        if args.action == "add":
            if args.board and args.board not in areas():
                print(f"Unknown health board code '{args.board}'.", file=sys.stderr)
                return 2
            on_duty(args.hours, utcnow())  # refuse hours we cannot read, now rather than at 3 a.m.
            contact = ClinicalContact(name=args.name, role=args.role, board_code=args.board, channel=args.channel,
                                      address=args.address, hours=args.hours)
            session.add(contact)
            session.flush()
            print(f"Added contact {contact.id}.")
        elif args.action == "remove":
            contact = session.get(ClinicalContact, args.id)
            if contact is None:
                print(f"No contact {args.id}.", file=sys.stderr)
                return 2
            contact.active = False
            print(f"Contact {args.id} is no longer alerted.")
        else:
            for c in session.scalars(select(ClinicalContact).order_by(ClinicalContact.board_code, ClinicalContact.id)):
                board = areas()[c.board_code].name if c.board_code else "national default"
                print(f"{c.id}\t{board}\t{c.name} ({c.role})\t{c.channel}:{c.address}\t{c.hours}\t"
                      f"{'active' if c.active else 'inactive'}")
    return 0


def cmd_alerts(args) -> int:
    with session_scope() as session:
        query = select(Alert).order_by(Alert.id)
        if args.status:
            query = query.where(Alert.status == args.status)
        alerts = session.scalars(query).all()
        for a in alerts:
            who = f"{a.contact.name} {a.contact.channel}" if a.contact else "nobody configured"
            print(f"{a.id}\t{a.status}\t{a.escalation.category}\t{a.reason}\t{who}\tattempts {a.attempts}\t"
                  f"{a.created_at:%Y-%m-%d %H:%M}\t{a.last_error or ''}")
        print(f"{len(alerts)} alert(s).")
    return 1 if args.status == "failed" and alerts else 0


def housekeeping(last_purge: date | None) -> date | None:
    """The worker's other duties, after each delivery round (one supervised process, nothing to forget):
    erasures that waited for an alert, follow-up texts that are due, then once a day the retention purge."""
    from bot.evaluation.follow_up import send_due
    from bot.privacy.erasure import finish_waiting
    from bot.privacy.retention import due, purge
    finish_waiting()
    send_due()
    if due(last_purge):
        purge()
        return date.today()
    return last_purge


def cmd_deliver(args) -> int:
    """One round, or (--loop) rounds for ever. In a loop, a failed round (database down, a bug) is logged and
    retried with back-off: the worker must outlive any fault, since alerts wait for it in the outbox."""
    delay = args.interval
    last_purge: date | None = None
    while True:
        try:
            replayed = replay_journal()
            counts = deliver_due(NOTIFIERS)
            last_purge = housekeeping(last_purge)
        except Exception:
            if not args.loop:
                raise
            logger.critical("An alert delivery round failed; retrying in %.0f s", delay, exc_info=True)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)
            continue
        delay = args.interval
        if replayed or any(counts.values()):
            logger.info("Replayed %d, delivered %d, retrying %d, failed %d", replayed, counts["delivered"],
                        counts["retrying"], counts["failed"])
        if not args.loop:
            return 1 if counts["failed"] else 0
        time.sleep(args.interval)


def cmd_report(args) -> int:
    with session_scope() as session:
        escalations = session.scalars(select(Escalation)).all()
        alerts = session.scalars(select(Alert)).all()
    board_names = {code: a.name for code, a in areas().items()}
    print(f"Detections: {len(escalations)} ({sum(e.alerted for e in escalations)} alerted)")
    for category, count in Counter(e.category for e in escalations).most_common():
        print(f"  {CATEGORY_NAMES.get(category, category)}: {count}")
    print("By health board:")
    for board, count in Counter(board_names.get(e.board_code, "unknown") for e in escalations).most_common():
        print(f"  {board}: {count}")
    print("Alerts: " + ", ".join(f"{status} {count}" for status, count in Counter(a.status for a in alerts).items()))
    print(f"Call-backs agreed: {sum(e.callback_consent for e in escalations)}")
    return 0


def cmd_review(args) -> int:
    since = utcnow() - timedelta(days=args.days)
    with session_scope() as session:
        reviews = session.scalars(select(RiskReview).where(RiskReview.detected_at >= since)
                                  .order_by(RiskReview.detected_at)).all()
        for r in reviews:
            print(f"{r.detected_at:%Y-%m-%d %H:%M}\t{privacy.ref(r.conversation_id)}\t{r.channel or '?'}\t{r.kind}\t"
                  f"asked: {r.reason or '?'}\tanswer: {r.answer or 'pending'}\t{privacy.redact(r.message)[:200]}")
        doubted = sum((r.reason or "").startswith("alarm_doubted") for r in reviews)
        print(f"{len(reviews)} signal(s) to review in the last {args.days} day(s); "
              f"{sum(r.answer in ('yes', 'unsure') for r in reviews)} answered yes or unsure (each of those is also an "
              f"escalation); {doubted} a lexicon's alarm the languages net doubted (H58), asked instead.")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.escalation", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    contacts = sub.add_parser("contacts", help="list, add or remove clinical contacts")
    contacts.add_argument("action", choices=("list", "add", "remove"))
    contacts.add_argument("--id", type=int, help="(remove) the contact's id")
    contacts.add_argument("--name")
    contacts.add_argument("--role", help="e.g. 'Perinatal mental health team duty clinician'")
    contacts.add_argument("--board", help="health board GSS code (S08…); omit for the national default")
    contacts.add_argument("--channel", choices=sorted(NOTIFIERS))
    contacts.add_argument("--address", help="phone number, email address or https URL")
    contacts.add_argument("--hours", default="24/7", help="'24/7' or e.g. 'Mon-Fri 09:00-17:00' (UK time)")
    contacts.set_defaults(run=cmd_contacts)
    alerts = sub.add_parser("alerts", help="list alerts; exit 1 if --status failed finds any")
    alerts.add_argument("--status", choices=("pending", "delivered", "failed"))
    alerts.set_defaults(run=cmd_alerts)
    deliver = sub.add_parser("deliver", help="send due alerts")
    deliver.add_argument("--loop", action="store_true", help="keep running (as `make run` does)")
    deliver.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    deliver.set_defaults(run=cmd_deliver)
    sub.add_parser("report", help="counts for operators").set_defaults(run=cmd_report)
    review = sub.add_parser("review", help="possible-risk signals kept for clinical review")
    review.add_argument("--days", type=int, default=7, help="how far back (default 7)")
    review.set_defaults(run=cmd_review)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        logs.setup("alert-worker")  # redacted: this process handles alert bodies and call-back numbers too
        config.enforce()
    except config.ConfigError as error:
        print(f"configuration: {error}", file=sys.stderr)
        return 1
    if args.command == "contacts" and args.action == "add" and not all(
            (args.name, args.role, args.channel, args.address)):
        print("contacts add needs --name, --role, --channel and --address.", file=sys.stderr)
        return 2
    if args.command == "contacts" and args.action == "add" and args.channel == "webhook":
        try:
            check_webhook_address(args.address)
        except ValueError as error:
            print(f"contacts add: {error}", file=sys.stderr)
            return 2
    migrate.upgrade()
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
