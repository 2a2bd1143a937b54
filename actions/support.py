"""Signposting actions: thin adapters from Rasa slots to bot.signposting."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from bot.db import session_scope
from bot.evaluation import record_search_safely
from bot.nlu.answers import NOT_GIVEN
from bot.signposting import (build_request, details, read_digression, read_location, read_slot_answer,
                             returning_from_digression, signpost, suggestions)

logger = logging.getLogger(__name__)


def _suggest(dispatcher: CollectingDispatcher, tracker: Tracker, more: bool) -> List[EventType]:
    shown = list(tracker.get_slot("shown_service_ids") or []) if more else []
    request = build_request(tracker.get_slot("role"), tracker.get_slot("stage"), tracker.get_slot("format"),
                            tracker.get_slot("needs"), tracker.get_slot("location"), exclude_ids=shown,
                            avoid_formats=tracker.get_slot("avoid_formats"),
                            support_for=tracker.get_slot("support_for"))
    try:
        with session_scope() as session:
            # "more" pages through what was already judged; only a first search records an unmet need.
            result = signpost(session, request, first_search=not more)
    except Exception:  # the database or directory failed: say so kindly, never go silent
        logger.exception("Directory lookup failed")
        dispatcher.utter_message(response="utter_service_unavailable")
        return []
    if not more:
        record_search_safely(tracker.sender_id, tracker.get_latest_input_channel(), request,
                             [m.service.id for m in result.matches], result.local_fit)
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


class ActionServiceDetails(Action):
    """The full entry for one suggested service: SMS shows suggestions compactly, "reply 1" asks for this."""

    def name(self) -> Text:
        return "action_service_details"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        service_id = next((e.get("value") for e in tracker.latest_message.get("entities") or []
                           if e.get("entity") == "service_id"), None)
        try:
            with session_scope() as session:
                text = details(session, str(service_id or ""))
        except Exception:
            logger.exception("Directory lookup failed")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        dispatcher.utter_message(text=text or "Sorry, I can't find that service any more.")
        dispatcher.utter_message(response="utter_after_suggestions")
        return []


def _named_now(tracker: Tracker, entity: str) -> set:
    """The values the latest message itself named for this entity ("online instead", "try Perth")."""
    return {e.get("value") for e in tracker.latest_message.get("entities") or [] if e.get("entity") == entity}


LOCATION_SLOTS = ("location", "council_code", "board_code", "area_label")


class ActionUpdateSearch(Action):
    """Before the form runs on a request, apply what this message changed. A new request starts a fresh list.
    "A different format" or "somewhere else" with no new value named forgets the old one, so the form asks
    again; "not a group" after choosing groups means any format but that, so there is nothing to ask.
    A value the message named is set by the slot mappings, and the form validates it."""

    def name(self) -> Text:
        return "action_update_search"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        events = [SlotSet("shown_service_ids", None)]
        changes = _named_now(tracker, "change")
        chosen = tracker.get_slot("format")
        if chosen and not _named_now(tracker, "format"):
            if chosen in _named_now(tracker, "avoid_format"):
                events.append(SlotSet("format", NOT_GIVEN["format"]))
            elif "format" in changes:
                events.append(SlotSet("format", None))
        if "area" in changes and tracker.get_slot("location") and not _named_now(tracker, "location"):
            events += [SlotSet(slot, None) for slot in LOCATION_SLOTS]
        return events


class ActionRestartSupport(Action):
    """Start the search again; a crisis noted in this conversation is kept (it is not the person's answer)."""

    def name(self) -> Text:
        return "action_restart_support"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        return [SlotSet(slot, None) for slot in ("role", "support_for", "stage", *LOCATION_SLOTS, "format",
                                                 "avoid_formats", "needs", "shown_service_ids", "reask",
                                                 "unclear_answers")]


class ValidateSupportForm(FormValidationAction):
    """Typed answers are read with the slot table; an unreadable one is asked about once more, then skipped.
    A question answered with a digression (a FAQ, "are you a bot?") counts the same way, so whatever
    happens no question is asked more than twice."""

    def name(self) -> Text:
        return "validate_support_form"

    async def run(self, dispatcher, tracker, domain) -> List[EventType]:
        events = await super().run(dispatcher, tracker, domain)
        requested = tracker.get_slot("requested_slot")
        if requested and returning_from_digression(tracker.events):
            updates, say = read_digression(requested, tracker.get_slot("unclear_answers"))
            for response in say:
                dispatcher.utter_message(**response)
            events += [SlotSet(name, value) for name, value in updates.items()]
        return events

    def _answer(self, slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker) -> Dict[Text, Any]:
        updates, say = read_slot_answer(slot, value, tracker.get_slot("requested_slot"),
                                        tracker.get_slot("unclear_answers"), tracker.get_slot("needs"))
        for response in say:
            dispatcher.utter_message(**response)
        return updates

    def validate_role(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._answer("role", value, dispatcher, tracker)

    def validate_stage(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._answer("stage", value, dispatcher, tracker)

    def validate_format(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        return self._answer("format", value, dispatcher, tracker)

    def validate_location(self, value, dispatcher, tracker, domain) -> Dict[Text, Any]:
        updates, say = read_location(value, tracker.get_slot("requested_slot"), tracker.get_slot("unclear_answers"))
        for response in say:
            dispatcher.utter_message(**response)
        return updates
