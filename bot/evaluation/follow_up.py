"""The follow-up text a person agreed to: "did you get in touch with any of the services?" (the outcome
measure a signposting service can collect). SMS and WhatsApp only; sent by the alert worker, the same
supervised process that delivers alerts and purges, so there is no new daemon to forget.

Rules: never to a number that texted STOP; never after a crisis in the conversation (the person's next
contact after a crisis is a clinician's; agreed with the clinical safety lead and logged in
docs/data-protection.md); on WhatsApp outside the 24-hour window only with an approved template
(TWILIO_WHATSAPP_FOLLOW_UP_TEMPLATE_SID), else not sent. The question goes out through the channel's
numbered-menu mechanism, so "1" means one thing and the answer comes back as a button.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import exists, select

from bot import config, privacy
from bot.db import session_scope
from bot.evaluation import record
from bot.models import Escalation, FollowUp, RiskReview

logger = logging.getLogger(__name__)

QUESTION = "utter_follow_up_question"


def schedule(conversation_id: str, channel: str, now: datetime, due_at: datetime) -> None:
    with session_scope() as session:
        row = session.get(FollowUp, conversation_id)
        if row is None:
            session.add(FollowUp(conversation_id=conversation_id, channel=channel, agreed_at=now, due_at=due_at))
        else:
            row.agreed_at, row.due_at, row.status, row.sent_at = now, due_at, "scheduled", None


def answered(conversation_id: str, outcome: str, channel: str | None) -> None:
    with session_scope() as session:
        record(session, "follow_up", conversation_id, channel, outcome=outcome)
        row = session.get(FollowUp, conversation_id)
        if row is not None:
            row.status = "answered"


def _crisis_since(session, conversation_id: str, since: datetime) -> bool:
    return session.scalar(select(exists().where(Escalation.conversation_id == conversation_id,
                                                Escalation.detected_at >= since))) or \
        session.scalar(select(exists().where(RiskReview.conversation_id == conversation_id)))


def send_due(now: datetime | None = None) -> dict[str, int]:
    """Send every follow-up that is due (the worker calls this each round). Returns counts by outcome."""
    from bot.channels.guard import domain_variations
    from bot.channels.sms import compose
    from bot.channels.twilio.settings import WHATSAPP_WINDOW, ChannelSettings
    from bot.channels.twilio.store import contact_of, is_opted_out, log_delivery, save_menu
    from bot.twilio_rest import client

    now = now or datetime.utcnow()
    counts = {"sent": 0, "cancelled": 0, "not_sent": 0}
    with session_scope() as session:
        due = [(f.conversation_id, f.agreed_at) for f in session.scalars(
            select(FollowUp).where(FollowUp.status == "scheduled", FollowUp.due_at <= now))]
    settings = ChannelSettings.from_env()
    for conversation_id, agreed_at in due:
        with session_scope() as session:
            cancelled = _crisis_since(session, conversation_id, agreed_at)
        status, reason = "sent", ""
        contact = contact_of(conversation_id)
        if cancelled or is_opted_out(conversation_id):
            status, reason = "cancelled", "a crisis since, or STOP"
        elif contact is None:
            status, reason = "not_sent", "no number held any more"
        else:
            address, last_inbound = contact
            kind = "whatsapp" if privacy.is_whatsapp(address) else "sms"
            template = None
            if kind == "whatsapp" and now - last_inbound > WHATSAPP_WINDOW:
                template = config.text("TWILIO_WHATSAPP_FOLLOW_UP_TEMPLATE_SID") or None
                if template is None:
                    status, reason = "not_sent", "outside the WhatsApp 24-hour window and no approved template"
            if status == "sent":
                turn = compose([domain_variations()[QUESTION][0]], whatsapp=kind == "whatsapp")
                try:
                    sender = settings.sender_for(kind)
                    if not sender:
                        raise RuntimeError(f"no {kind} number to send from")
                    params = dict(to=address, from_=sender, status_callback=settings.status_callback_url)
                    params.update(content_sid=template) if template else params.update(body=turn.texts[0])
                    message = client(settings.twilio).messages.create(**{k: v for k, v in params.items() if v})
                    save_menu(conversation_id, turn.options, now)
                    log_delivery(conversation_id=conversation_id, in_reply_to=None, kind=kind, part=1, parts=1,
                                 crisis=False, message_sid=message.sid, status=message.status or "queued",
                                 template_sid=template, chars=len(turn.texts[0]))
                except Exception as exc:  # noqa: BLE001 - one failure must not stop the others
                    status, reason = "not_sent", f"{type(exc).__name__}"
                    logger.error("A follow-up to conversation %s could not be sent: %s", privacy.ref(conversation_id),
                                 privacy.redact(exc))
        with session_scope() as session:
            row = session.get(FollowUp, conversation_id)
            if row is not None:
                row.status = status
                row.sent_at = now if status == "sent" else None
            if status != "sent":
                record(session, "follow_up", conversation_id, "twilio", outcome=status)
        counts[status] += 1
        if reason:
            logger.info("Follow-up to conversation %s %s: %s", privacy.ref(conversation_id), status, reason)
    return counts
