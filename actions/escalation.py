"""Call-back consent after a crisis reply (the crisis reply itself never needs this server).

Both actions act only when this turn's message is one the Twilio channel itself received for this
conversation (bot.conversations: a server-side record, not the tracker in the request): an unrequested
call can be dangerous where there is domestic abuse, and whether a number has used the service must
not be discoverable.
"""
from __future__ import annotations

import logging
from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType

from bot.conversations import arrived_by_twilio
from bot.db import session_scope
from bot.escalation import grant_callback
from bot.models import ChannelContact

logger = logging.getLogger(__name__)


class ActionOfferCallback(Action):
    """Offer a call-back only where we hold a number to call (SMS, WhatsApp)."""

    def name(self) -> Text:
        return "action_offer_callback"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        try:
            if not arrived_by_twilio(tracker.sender_id, tracker.latest_message.get("message_id")):
                return []
            with session_scope() as session:
                reachable = session.get(ChannelContact, tracker.sender_id) is not None
        except Exception:
            logger.exception("Could not check for a call-back number")
            return []
        if reachable:
            dispatcher.utter_message(response="utter_ask_callback")
        return []


class ActionCallbackConsent(Action):
    def name(self) -> Text:
        return "action_callback_consent"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        try:
            granted = None
            if arrived_by_twilio(tracker.sender_id, tracker.latest_message.get("message_id")):
                with session_scope() as session:
                    granted = grant_callback(session, tracker.sender_id)
        except Exception:
            logger.exception("Recording call-back consent failed")
            granted = None
        dispatcher.utter_message(response="utter_callback_confirmed" if granted else "utter_callback_unavailable")
        return []
