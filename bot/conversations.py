"""Server-side facts about a conversation, for code that must not trust the tracker it was sent.

The action server is sent a copy of the tracker with each call; a forged call could claim anything in
it. Decisions that could expose a person — whether we hold their number, their consent to a call-back —
need proof the server itself recorded: the message of this turn must be one the Twilio channel received
(signature checked) for this same conversation, recently. Rasa's tracker store can't prove it: Rasa
saves the turn's user message only after the turn's actions have run, so on a first message there is
nothing there yet. The Twilio channel's `twilio_inbound` table is written before the turn starts.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import select

from bot.db import session_scope
from bot.models import TwilioInbound
from bot.privacy import TWILIO_ID_PREFIX

RECENT = timedelta(minutes=30)  # a call-back question is answered within minutes, not hours


def arrived_by_twilio(conversation_id: str, message_id: Optional[str], now: Optional[datetime] = None) -> bool:
    """True only when `message_id` is a message the Twilio channel received for this conversation within
    the last RECENT."""
    if not conversation_id.startswith(TWILIO_ID_PREFIX) or not message_id:
        return False
    now = now or datetime.utcnow()
    with session_scope() as session:
        received = session.scalars(select(TwilioInbound.received_at).where(
            TwilioInbound.message_sid == message_id, TwilioInbound.conversation_id == conversation_id)).first()
    return received is not None and received > now - RECENT
