"""The Twilio channel's tables: inbound claims, contacts, menus, opt-outs and the delivery log.

Every function is blocking and opens its own short transaction; the channel runs them off the event loop.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, Optional

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from bot import privacy
from bot.channels import sms
from bot.channels.twilio.settings import (CHANNEL, FAILED_STATUSES, FOLLOW_UP_MENU_TTL, INBOUND_RETENTION, MENU_TTL,
                                          RECOVER_AFTER, RECOVER_WITHIN, _STATUS_RANK, utcnow)
from bot.db import session_scope
from bot.models import ChannelContact, TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut

logger = logging.getLogger(__name__)


def claim_inbound(message_sid: str, conversation_id: str, kind: str, address: str, body: str,
                  now: datetime, retry: bool = True) -> bool:
    """Record an inbound message and the number behind its conversation; False if it was seen before."""
    try:
        with session_scope() as session:
            session.add(TwilioInbound(message_sid=message_sid, conversation_id=conversation_id, kind=kind,
                                      received_at=now, status="received", body=body))
            session.flush()  # a retried webhook stops here, with IntegrityError
            contact = session.get(ChannelContact, conversation_id)
            if contact is None:
                session.add(ChannelContact(conversation_id=conversation_id, channel=CHANNEL, address=address,
                                           last_inbound_at=now))
            else:
                contact.channel, contact.address, contact.last_inbound_at = CHANNEL, address, now
        return True
    except IntegrityError:
        with session_scope() as session:
            if session.get(TwilioInbound, message_sid) is not None:
                return False
        if not retry:
            raise
        # Not this message: two first messages from one new number raced to add its contact. Once more.
        return claim_inbound(message_sid, conversation_id, kind, address, body, now, retry=False)


def finish_inbound(message_sid: str, status: str) -> None:
    with session_scope() as session:
        session.execute(update(TwilioInbound).where(TwilioInbound.message_sid == message_sid)
                        .values(status=status, body=None))


def is_opted_out(conversation_id: str) -> bool:
    with session_scope() as session:
        return session.get(TwilioOptOut, conversation_id) is not None


def opt_out(conversation_id: str, keyword: str, now: datetime) -> None:
    with session_scope() as session:
        if session.get(TwilioOptOut, conversation_id) is None:
            session.add(TwilioOptOut(conversation_id=conversation_id, keyword=keyword[:20], opted_out_at=now))
        session.execute(delete(TwilioMenu).where(TwilioMenu.conversation_id == conversation_id))


def opt_in(conversation_id: str) -> bool:
    with session_scope() as session:
        return session.execute(delete(TwilioOptOut).where(TwilioOptOut.conversation_id == conversation_id)
                               ).rowcount > 0


def pending_menu(conversation_id: str, now: datetime) -> list[sms.Option]:
    with session_scope() as session:
        menu = session.get(TwilioMenu, conversation_id)
        if menu is None:
            return []
        options = [sms.Option.from_dict(o) for o in json.loads(menu.options_json)]
        # A follow-up question (bot/evaluation/follow_up.py) may be answered days after it was sent.
        ttl = FOLLOW_UP_MENU_TTL if any(o.payload.startswith("/follow_up_outcome") for o in options) else MENU_TTL
        return options if now - menu.sent_at <= ttl else []


def save_menu(conversation_id: str, options: list[sms.Option], now: datetime) -> None:
    """The menu just sent replaces the last one; a turn without buttons leaves no menu pending."""
    with session_scope() as session:
        menu = session.get(TwilioMenu, conversation_id)
        if not options:
            if menu is not None:
                session.delete(menu)
            return
        options_json = json.dumps([o.as_dict() for o in options])
        if menu is None:
            session.add(TwilioMenu(conversation_id=conversation_id, options_json=options_json, sent_at=now))
        else:
            menu.options_json, menu.sent_at = options_json, now


def contact_of(conversation_id: str) -> Optional[tuple[str, datetime]]:
    with session_scope() as session:
        contact = session.get(ChannelContact, conversation_id)
        return (contact.address, contact.last_inbound_at) if contact else None


def log_delivery(**values: Any) -> int:
    now = utcnow()
    with session_scope() as session:
        row = TwilioDelivery(created_at=now, updated_at=now, **values)
        session.add(row)
        session.flush()
        return row.id


def update_delivery(delivery_id: int, **values: Any) -> None:
    with session_scope() as session:
        session.execute(update(TwilioDelivery).where(TwilioDelivery.id == delivery_id)
                        .values(updated_at=utcnow(), **values))


def record_status(message_sid: str, status: str, error_code: Optional[str]) -> Optional[dict[str, Any]]:
    """A status callback: update the text's row (never back to an earlier status). None if unknown."""
    try:
        with session_scope() as session:
            row = session.scalars(select(TwilioDelivery).where(TwilioDelivery.message_sid == message_sid)).first()
            if row is None:
                return None
            changed = _STATUS_RANK.get(status, 2) >= _STATUS_RANK.get(row.status, 0) and status != row.status
            if changed:
                row.status, row.updated_at = status, utcnow()
                if error_code:
                    row.error_code = error_code
            found = {"conversation_id": row.conversation_id, "crisis": row.crisis, "part": row.part,
                     "changed": changed, "id": row.id}
    except StaleDataError:  # the row was erased (the person asked) between reading and updating it: unknown now
        return None
    return found


def failure_counts(since: Optional[datetime] = None) -> dict[str, int]:
    """Texts that could not be delivered: all, and crisis replies (an incident each)."""
    with session_scope() as session:
        query = select(TwilioDelivery.crisis, func.count()).where(TwilioDelivery.status.in_(FAILED_STATUSES))
        if since is not None:
            query = query.where(TwilioDelivery.created_at >= since)
        rows = dict(session.execute(query.group_by(TwilioDelivery.crisis)).all())
    return {"failed": sum(rows.values()), "crisis_failed": rows.get(True, 0)}


def claim_interrupted(now: datetime) -> list[tuple[str, str, str, str]]:
    """Messages claimed but never answered (the process stopped mid-turn): claim them again to answer
    now if recent, give up on older ones (visibly). Prunes old claims. Returns (sid, conversation, kind, body)."""
    recovered = []
    with session_scope() as session:
        session.execute(delete(TwilioInbound).where(TwilioInbound.received_at < now - INBOUND_RETENTION))
        stuck = session.scalars(select(TwilioInbound).where(TwilioInbound.status == "received",
                                                            TwilioInbound.received_at < now - RECOVER_AFTER)).all()
        for row in stuck:
            claimed = session.execute(update(TwilioInbound).where(TwilioInbound.message_sid == row.message_sid,
                                                                  TwilioInbound.status == "received")
                                      .values(status="recovering")).rowcount
            if not claimed:
                continue  # another process took it
            if row.received_at >= now - RECOVER_WITHIN and row.body is not None:
                recovered.append((row.message_sid, row.conversation_id, row.kind, row.body))
            else:
                row.status, row.body = "failed", None
                logger.error("Message %s in conversation %s was never answered (the server stopped mid-turn)",
                             row.message_sid, privacy.ref(row.conversation_id))
    return recovered

