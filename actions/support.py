"""Signposting actions: thin adapters from Rasa slots to bot.signposting and bot.matching."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.db import session_scope
from bot.geography import resolve
from bot.matching import find_matches, signpost
from bot.signposting import OUTSIDE_SCOTLAND, build_request, suggestions

logger = logging.getLogger(__name__)


def _suggest(dispatcher: CollectingDispatcher, tracker: Tracker, more: bool) -> List[EventType]:
    shown = list(tracker.get_slot("shown_service_ids") or []) if more else []
    request = build_request(tracker.get_slot("role"), tracker.get_slot("stage"), tracker.get_slot("format"),
                            tracker.get_slot("needs"), tracker.get_slot("location"), exclude_ids=shown)
    try:
        with session_scope() as session:
            # "more" pages through what was already judged; only a first search records an unmet need.
            result = (find_matches if more else signpost)(session, request)
    except Exception:  # the database or directory failed: say so kindly, never go silent
        logger.exception("Directory lookup failed")
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
    found = suggestions(result, tracker.get_slot("area_label"), more=more)
    dispatcher.utter_message(text=found.text, json_message=found.payload)
    dispatcher.utter_message(response="utter_after_suggestions")
    return [SlotSet("shown_service_ids", shown + list(found.service_ids))]


class ActionSuggestServices(Action):
    def name(self) -> Text:
        return "action_suggest_services"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return _suggest(dispatcher, tracker, more=False)


class ActionMoreOptions(Action):
    def name(self) -> Text:
        return "action_more_options"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        # Nothing shown yet (e.g. "more" as a first message): a first search is the honest answer.
        return _suggest(dispatcher, tracker, more=bool(tracker.get_slot("shown_service_ids")))


class ActionChangeFormat(Action):
    """Forget the format so the form asks again, then suggests afresh."""

    def name(self) -> Text:
        return "action_change_format"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return [SlotSet("format", None), SlotSet("shown_service_ids", None)]


class ActionChangeArea(Action):
    def name(self) -> Text:
        return "action_change_area"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return [SlotSet(slot, None) for slot in ("location", "council_code", "board_code", "area_label",
                                                 "shown_service_ids")]


class ActionRestartSupport(Action):
    """Start the search again; a crisis noted in this conversation is kept (it is not the person's answer)."""

    def name(self) -> Text:
        return "action_restart_support"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return [SlotSet(slot, None) for slot in ("role", "support_for", "stage", "location", "council_code",
                                                 "board_code", "area_label", "format", "needs",
                                                 "shown_service_ids")]


class ValidateSupportForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_support_form"

    def validate_location(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                          domain: DomainDict) -> Dict[Text, Any]:
        text = str(value or "")[:200]
        if text == OUTSIDE_SCOTLAND:
            return {"location": text}
        place = resolve(text)
        if place.status == "resolved":
            return {"location": text, "council_code": place.council_code, "board_code": place.board_code,
                    "area_label": place.label}
        dispatcher.utter_message(text=place.message)
        if place.status == "outside_scotland":
            # Carry on with services that cover the whole UK rather than asking forever.
            return {"location": OUTSIDE_SCOTLAND, "council_code": None, "board_code": None,
                    "area_label": "outside Scotland"}
        return {"location": None}
