"""Read-only look-ups in Rasa's tracker store, for code that must trust only what the server recorded.

The action server is sent a copy of the tracker with each call; a forged call could claim anything in
it. Decisions that could expose a person — whether we hold their number, their consent to a call-back —
are made from the tracker store's own `events` table (Rasa's SQLTrackerStore schema) instead.
"""
from __future__ import annotations

import json
from typing import Optional

from sqlalchemy import text

from bot import config
from bot.db import engine_for


def last_user_channel(conversation_id: str, url: Optional[str] = None) -> Optional[str]:
    """The input channel of the conversation's latest user message as the server stored it, or None."""
    engine = engine_for(url or config.settings().tracker_store_url)
    with engine.connect() as connection:
        row = connection.execute(text("SELECT data FROM events WHERE sender_id = :sender AND type_name = 'user' "
                                      "ORDER BY id DESC LIMIT 1"), {"sender": conversation_id}).first()
    if row is None:
        return None
    try:
        return json.loads(row[0]).get("input_channel")
    except (TypeError, ValueError, AttributeError):
        return None


def arrived_by_twilio(conversation_id: str, url: Optional[str] = None) -> bool:
    """True only for an SMS/WhatsApp conversation whose latest message the server received from Twilio."""
    from bot.privacy import TWILIO_ID_PREFIX
    return conversation_id.startswith(TWILIO_ID_PREFIX) and last_user_channel(conversation_id, url) == "twilio"
