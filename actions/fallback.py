"""The first stage of Rasa's two-stage fallback, in plain words instead of intent names."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action
from rasa_sdk.events import EventType

# What the person may have meant, as a question they can say yes to.
MEANINGS = {
    "find_support": "find peer support",
    "help_someone": "know how to support someone you care about",
    "feeling_low": "tell me how you're feeling",
    "urgent_help": "get help right now",
    "more_options": "see more options",
    "start_again": "start again",
    "faq": "ask a question about peer support",
    "bot_challenge": "know who you're talking to",
    "greet": "say hello",
    "goodbye": "leave the chat",
    "thanks": "say thanks",
}
SKIPPED = {"nlu_fallback", "out_of_scope", "affirm", "deny"}


class ActionDefaultAskAffirmation(Action):
    def name(self) -> Text:
        return "action_default_ask_affirmation"

    def run(self, dispatcher, tracker, domain) -> List[EventType]:
        ranking = tracker.latest_message.get("intent_ranking") or []
        intent = next((i["name"] for i in ranking if i.get("name") in MEANINGS), "find_support")
        payload = f"/{intent}"  # a bare "/faq" is read as the general FAQ answer (bot/nlu/payloads.py)
        dispatcher.utter_message(text=f"Sorry, I'm not sure I understood. Did you want to {MEANINGS[intent]}?",
                                 buttons=[{"title": "Yes", "payload": payload},
                                          {"title": "No", "payload": "/out_of_scope"}])
        return []
