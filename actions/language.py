"""A message in another language: after the translated "this service is in English" reply (a domain
response, so it goes out with the action server down), the services that work in that language."""
from __future__ import annotations

import logging
from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType

from bot import language
from bot.db import session_scope
from bot.signposting import in_language

logger = logging.getLogger(__name__)


class ActionServicesInLanguage(Action):
    def name(self) -> Text:
        return "action_services_in_language"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        spoken = language.get(tracker.get_slot("language"))
        if spoken is None:  # a language we have no data for: the reply already offered 111 and English
            return []
        areas = [code for code in (tracker.get_slot("council_code"), tracker.get_slot("board_code")) if code]
        try:
            with session_scope() as session:
                found = in_language(session, spoken.code, spoken.endonym, areas)
        except Exception:  # the domain reply already gave the national lines; say the list is unavailable
            logger.exception("Directory lookup failed")
            dispatcher.utter_message(response="utter_service_unavailable")
            return []
        if found:
            dispatcher.utter_message(text=found.text, json_message=found.payload)
        return []
