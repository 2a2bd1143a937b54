"""Retention: personal data is kept RETENTION_DAYS (default 90), then purged; run daily by the alert worker
(`python -m bot.escalation deliver --loop`) and by hand with `python -m bot.privacy purge`.

| store | after the retention period |
|---|---|
| Rasa tracker events (every word both ways) | deleted |
| escalation | words and call-back number removed; category, time, board, alert outcome kept for audit, under a random reference |
| alert | body removed once delivered or failed (a pending alert is never touched) |
| risk review | words removed; kind, time, answer kept |
| channel_contact (phone numbers) | deleted 90 days after the person's last message |
| twilio_inbound, twilio_menu, twilio_delivery | deleted |
| privacy_notice, follow_up (done) | deleted |
| twilio_opt_out | kept until START, or two years (a suppression list: honours the STOP) |
| evaluation_event (anonymised) | EVALUATION_RETENTION_DAYS (default 730) |
"""
from __future__ import annotations

import logging
import secrets
from datetime import date, datetime, timedelta

from sqlalchemy import delete, select, text

from bot import config
from bot.db import checkpoint, session_scope, tracker_events
from bot.models import (Alert, ChannelContact, Escalation, EvaluationEvent, FollowUp, PrivacyNotice, RiskReview,
                        TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut)

logger = logging.getLogger(__name__)

EXPIRED = "[removed after the retention period]"
OPT_OUT_KEPT = timedelta(days=2 * 365)


def purge(older_than: timedelta | None = None, now: datetime | None = None) -> dict[str, int]:
    """Remove personal data older than the retention period; returns counts per store."""
    settings = config.settings()
    now = now or datetime.utcnow()
    cutoff = now - (older_than or timedelta(days=settings.retention_days))
    counts: dict[str, int] = {}
    tracker = tracker_events(settings.tracker_store_url)
    if tracker is not None:
        with tracker.begin() as connection:
            counts["tracker events"] = connection.execute(
                text("DELETE FROM events WHERE timestamp < :cutoff"), {"cutoff": cutoff.timestamp()}).rowcount
    with session_scope() as session:
        old = session.scalars(select(Escalation).where(Escalation.detected_at < cutoff,
                                                       Escalation.message != EXPIRED)).all()
        expired = 0
        for escalation in old:
            if any(a.status == "pending" for a in escalation.alerts):
                continue  # still on its way to a clinician: never touched
            escalation.conversation_id = "expired:" + secrets.token_hex(8)
            escalation.message, escalation.callback_number, escalation.language = EXPIRED, None, None
            for alert in escalation.alerts:
                alert.body = EXPIRED
            expired += 1
        counts["escalations"] = expired
        reviews = session.scalars(select(RiskReview).where(RiskReview.detected_at < cutoff,
                                                           RiskReview.message != EXPIRED)).all()
        for review in reviews:
            review.conversation_id, review.message = "expired:" + secrets.token_hex(8), EXPIRED
        counts["risk reviews"] = len(reviews)
        for table, column in ((ChannelContact, ChannelContact.last_inbound_at),
                              (TwilioInbound, TwilioInbound.received_at), (TwilioMenu, TwilioMenu.sent_at),
                              (TwilioDelivery, None), (PrivacyNotice, PrivacyNotice.sent_at)):
            if column is None:  # the delivery log has no time of its own: it goes with its conversation
                live = select(ChannelContact.conversation_id)
                statement = delete(table).where(table.conversation_id.not_in(live))
            else:
                statement = delete(table).where(column < cutoff)
            counts[table.__tablename__] = session.execute(
                statement.execution_options(synchronize_session=False)).rowcount
        counts["follow_up"] = session.execute(delete(FollowUp).where(
            FollowUp.agreed_at < cutoff, FollowUp.status != "scheduled")).rowcount
        counts["twilio_opt_out"] = session.execute(delete(TwilioOptOut).where(
            TwilioOptOut.opted_out_at < now - OPT_OUT_KEPT)).rowcount
        counts["evaluation_event"] = session.execute(delete(EvaluationEvent).where(
            EvaluationEvent.occurred_on < (now - timedelta(days=settings.evaluation_retention_days)).date()
        )).rowcount
    for url in (settings.tracker_store_url, settings.database_url):
        checkpoint(url)
    logger.info("Retention purge (older than %s): %s", cutoff.date(),
                ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "nothing to remove")
    return counts


def parse_age(text_: str) -> timedelta:
    """"90d", "12w", "90" (days)."""
    value = text_.strip().lower()
    unit = value[-1] if value[-1] in "dw" else "d"
    number = int(value.rstrip("dw"))
    if number < 1:
        raise ValueError("the age must be at least one day")
    return timedelta(days=number * (7 if unit == "w" else 1))


def due(last_run: date | None, today: date | None = None) -> bool:
    return last_run != (today or date.today())
