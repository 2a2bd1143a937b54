"""The gated ResponseSelector asks Rasa's selector only about messages DIET gave its retrieval intent.
(With the trained model: tests/test_e2e_rest.py::test_only_faq_and_out_of_scope_messages_are_given_an_answer.)"""
from __future__ import annotations

import pytest
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.response_selection import IntentGatedResponseSelector


def _message(text: str, intent: str | None) -> Message:
    message = Message({"text": text})
    if intent is not None:
        message.set("intent", {"name": intent, "confidence": 0.9})
    return message


@pytest.fixture
def asked(monkeypatch):
    """The messages Rasa's own selector is asked about."""
    seen: list[str] = []

    def rasas_process(self, messages):
        seen.extend(message.get("text") for message in messages)
        return messages
    monkeypatch.setattr(ResponseSelector, "process", rasas_process)
    return seen


def _selector(retrieval_intent: str | None) -> IntentGatedResponseSelector:
    selector = IntentGatedResponseSelector.__new__(IntentGatedResponseSelector)  # no model: only the gate
    selector.retrieval_intent = retrieval_intent
    return selector


def test_only_messages_with_its_retrieval_intent_reach_the_selector(asked):
    messages = [_message("how much does it cost", "faq"), _message("I need help", "find_support"),
                _message("what's the weather", "out_of_scope"), _message("", None)]
    assert _selector("faq").process(messages) == messages, "every message is passed on, answered or not"
    assert asked == ["how much does it cost"]


def test_no_message_of_another_intent_costs_a_selection(asked):
    _selector("out_of_scope").process([_message("hi", "greet"), _message("thanks", "thanks")])
    assert asked == []


def test_a_selector_for_every_retrieval_intent_answers_every_message(asked):
    _selector(None).process([_message("hi", "greet"), _message("how much", "faq")])
    assert asked == ["hi", "how much"]
