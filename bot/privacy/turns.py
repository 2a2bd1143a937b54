"""What the channel guard does for privacy around each turn, on every channel (bot/channels/guard.py).

- The privacy notice, once, at first contact: after the turn's own replies, so a first message that is a
  crisis gets its crisis answer first.
- Erasure: the "Yes, delete it" button (`/confirm_erasure`) is handled here without a Rasa turn, so the
  confirmation itself is never stored; a typed "yes" goes through Rasa (`action_erase_my_data` records the
  request) and is carried out here once Rasa has saved the turn. The confirmation is sent after the erasure.

Blocking (database work): the guard calls these off the event loop. Failures are logged and never stop a
reply; an erasure that failed says so, so the person can ask again.
"""
from __future__ import annotations

import logging
from datetime import datetime

from bot import config
from bot.db import session_scope
from bot.models import ErasureRequest, PrivacyNotice
from bot.privacy import erasure

logger = logging.getLogger(__name__)

ERASURE_FAILED = ("Sorry, I couldn't delete your data just now. Please try again in a few minutes by "
                  "saying \"delete my data\".")


def _response(name: str) -> str:
    from bot.channels.guard import response_text
    settings = config.settings()
    text = response_text(name).replace("{retention_days}", str(settings.retention_days))
    if "{privacy_url}" in text:
        url = settings.privacy_notice_url
        text = text.replace("{privacy_url}", url) if url else text.split(" More: {privacy_url}")[0]
    return text


def notice_text() -> str:
    return _response("utter_privacy_notice")


def is_erasure_confirmation(text: str | None) -> bool:
    return (text or "").strip() == erasure.CONFIRM_PAYLOAD


def erase_now(conversation_id: str, channel: str | None) -> list[str]:
    """The confirmation button: erase, then say so."""
    try:
        done = erasure.erase(conversation_id, channel)
    except Exception:  # noqa: BLE001
        logger.exception("Erasing a conversation failed")
        return [ERASURE_FAILED]
    return [_response("utter_erasure_done_waiting" if done.waiting else "utter_erasure_done")]


def after_turn(conversation_id: str, channel: str | None, now: datetime | None = None) -> tuple[list[str], bool]:
    """(Replies to add after the turn's own, whether the conversation was erased in this turn). One database
    round trip on an ordinary turn: is an erasure pending, else has the notice been sent."""
    try:
        with session_scope() as session:
            request = session.get(ErasureRequest, conversation_id)
            erase = request is not None and request.status == "pending"
            if not erase:
                if session.get(PrivacyNotice, conversation_id) is not None:
                    return [], False
                session.add(PrivacyNotice(conversation_id=conversation_id, sent_at=now or datetime.utcnow()))
                from bot.evaluation import record
                record(session, "conversation", conversation_id, channel)
    except Exception:  # noqa: BLE001 - the database is down: the next turn (or the worker) tries again
        logger.exception("Checking for an erasure request or the privacy notice failed")
        return [], False
    return (erase_now(conversation_id, channel), True) if erase else ([notice_text()], False)
