"""Data protection and evaluation actions: thin adapters over bot.privacy and bot.evaluation."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import config
from bot.evaluation import FEEDBACK, FEEDBACK_REASONS, FOLLOW_UP_OUTCOMES, record_safely
from bot.privacy import TWILIO_ID_PREFIX, erasure

logger = logging.getLogger(__name__)


def crisis_in_conversation(tracker: Tracker) -> bool:
    """Was a crisis (or a possible one) met anywhere in this conversation? Then no feedback question and no
    follow-up text: after a crisis answer, the next contact is a clinician's (docs/data-protection.md).
    The `crisis_met` slot remembers it for the whole session; the action server is sent only the recent turns
    (bot/rasa_speed.py), which are looked through as well, for a crisis answer that came another way."""
    if tracker.get_slot("crisis_met"):
        return True
    for event in tracker.events:
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name") or ""
        if event.get("event") == "user" and intent.startswith(("crisis_", "possible_")):
            return True
        if event.get("event") == "bot" and str((event.get("metadata") or {}).get("utter_action", "")).startswith(
                "utter_crisis"):
            return True
    return False


def _already_asked(tracker: Tracker, response: str) -> bool:
    return response in (tracker.get_slot("questions_asked") or []) or any(
        e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == response for e in tracker.events)


def _ask(dispatcher: CollectingDispatcher, tracker: Tracker, response: str) -> List[EventType]:
    """A question asked once a conversation: noted in `questions_asked`."""
    dispatcher.utter_message(response=response)
    return [SlotSet("questions_asked", [*(tracker.get_slot("questions_asked") or []), response])]


def _entity(tracker: Tracker, name: str) -> str | None:
    return next((e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == name),
                None)


class ActionEraseMyData(Action):
    """A typed "yes" to "delete everything?": record the request. The channel guard erases once Rasa has saved
    this turn, then confirms (bot/privacy/turns.py); nothing is said here, so nothing is said twice."""

    def name(self) -> Text:
        return "action_erase_my_data"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        erasure.request(tracker.sender_id, tracker.get_latest_input_channel())
        return []


class ActionCloseConversation(Action):
    """Goodbye or thanks: at the natural end of a search, one feedback question first (never after a crisis)."""

    def name(self) -> Text:
        return "action_close_conversation"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        searched = bool(tracker.get_slot("shown_service_ids"))
        if searched and not _already_asked(tracker, "utter_ask_feedback") and not crisis_in_conversation(tracker):
            return _ask(dispatcher, tracker, "utter_ask_feedback")
        if (tracker.latest_message.get("intent") or {}).get("name") == "thanks":
            dispatcher.utter_message(response="utter_thanks")
        else:
            dispatcher.utter_message(response="utter_goodbye")
        return []


def _offers_follow_up(tracker: Tracker) -> bool:
    return tracker.sender_id.startswith(TWILIO_ID_PREFIX) and not crisis_in_conversation(tracker) and \
        not _already_asked(tracker, "utter_ask_follow_up")


class ActionRecordFeedback(Action):
    """"Did this help?" and, after "a bit" or "no", why: counted anonymously (bot.evaluation)."""

    def name(self) -> Text:
        return "action_record_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        helpful, reason = _entity(tracker, "helpful"), _entity(tracker, "reason")
        channel = tracker.get_latest_input_channel()
        if helpful in FEEDBACK:
            record_safely("feedback", tracker.sender_id, channel, outcome=helpful)
            if helpful != "yes":
                dispatcher.utter_message(response="utter_ask_feedback_reason")
                return []
        elif reason in FEEDBACK_REASONS:
            record_safely("feedback", tracker.sender_id, channel, outcome=f"reason:{reason}")
        if _offers_follow_up(tracker):
            return _ask(dispatcher, tracker, "utter_ask_follow_up")
        dispatcher.utter_message(response="utter_feedback_thanks")
        return []


class ActionRecordFollowUpConsent(Action):
    """SMS/WhatsApp only: a "yes" schedules one follow-up text (sent by the alert worker)."""

    def name(self) -> Text:
        return "action_record_follow_up_consent"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        if _entity(tracker, "consent") == "yes" and tracker.sender_id.startswith(TWILIO_ID_PREFIX) \
                and not crisis_in_conversation(tracker):
            from bot.evaluation.follow_up import schedule
            now = datetime.utcnow()
            schedule(tracker.sender_id, tracker.get_latest_input_channel() or "twilio", now,
                     now + timedelta(days=config.settings().follow_up_after_days))
            dispatcher.utter_message(response="utter_follow_up_agreed")
        else:
            dispatcher.utter_message(response="utter_feedback_thanks")
        return []


class ActionRecordFollowUpOutcome(Action):
    """The answer to the follow-up text: did they get in touch, did it help? (the outcome measure)."""

    def name(self) -> Text:
        return "action_record_follow_up_outcome"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        outcome = _entity(tracker, "outcome")
        if outcome in FOLLOW_UP_OUTCOMES:
            from bot.evaluation.follow_up import answered
            answered(tracker.sender_id, outcome, tracker.get_latest_input_channel())
        dispatcher.utter_message(response="utter_follow_up_thanks")
        return []
