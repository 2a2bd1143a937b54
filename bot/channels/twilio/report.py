"""The delivery report: `python -m bot.channels.twilio report`."""
from __future__ import annotations

from datetime import timedelta
from typing import List, Optional

from sqlalchemy import func, select

from bot import privacy
from bot.channels.twilio.settings import FAILED_STATUSES, utcnow
from bot.channels.twilio.store import failure_counts
from bot.db import session_scope
from bot.models import TwilioDelivery


def main(argv: Optional[List[str]] = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bot.channels.twilio", description=(
        "The Twilio channel's delivery log (DATABASE_URL). A failed crisis reply is an incident: "
        "someone in crisis may not have received the emergency numbers."))
    parser.add_argument("command", choices=["report"])
    parser.add_argument("--days", type=float, default=7, help="how far back to look (default 7)")
    args = parser.parse_args(argv)
    since = utcnow() - timedelta(days=args.days)
    with session_scope() as session:
        by_status = session.execute(select(TwilioDelivery.kind, TwilioDelivery.status, func.count())
                                    .where(TwilioDelivery.created_at >= since)
                                    .group_by(TwilioDelivery.kind, TwilioDelivery.status)).all()
        crisis_failures = session.scalars(select(TwilioDelivery).where(
            TwilioDelivery.crisis.is_(True), TwilioDelivery.status.in_(FAILED_STATUSES + ("not_sent",)),
            TwilioDelivery.created_at >= since).order_by(TwilioDelivery.id)).all()
        print(f"Texts in the last {args.days:g} days, by channel and status:")
        for kind, status, count in sorted(by_status):
            print(f"  {kind}\t{status}\t{count}")
        counts = failure_counts(since)
        print(f"Not delivered: {counts['failed']}, of which crisis replies: {counts['crisis_failed']}")
        for row in crisis_failures:
            print(f"  INCIDENT {row.created_at:%Y-%m-%d %H:%M} UTC  conversation {privacy.ref(row.conversation_id)}"
                  f"  {row.kind} text {row.part}/{row.parts}  {row.status}  {row.error_code or ''} "
                  f"{row.last_error or ''}".rstrip())
    return 1 if crisis_failures else 0


if __name__ == "__main__":
    sys.exit(main())
