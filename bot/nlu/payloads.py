"""Button payloads that name a retrieval intent: "/faq/cost", "/out_of_scope/other", or a bare "/out_of_scope".

Rasa 3.6 reads a payload by intent name alone. "/faq/cost" is not an intent, so Rasa parses it as if someone
had typed those words (right only by luck of the model), and a bare "/out_of_scope" (the "No" of Rasa's
two-stage fallback, and old menus) reaches `utter_out_of_scope` with no response-selector answer, so the
turn says nothing. Here such a payload gets what a typed message would have had: the answer it names, or
the retrieval intent's general answer (GENERAL_ANSWER).

`install()` wraps Rasa's RegexMessageHandler (the last step of every NLU parse). It runs when this module is
imported, which bot/nlu/answers.py (a component in config.yml) does, so wherever the model is loaded
(`rasa run`, `rasa shell`, `rasa test`, tests) payloads are read the same way.
"""
from __future__ import annotations

import functools
import re
from typing import Any, List, Optional

from rasa.nlu.classifiers.regex_message_handler import RegexMessageHandler
from rasa.shared.core.domain import Domain
from rasa.shared.nlu.constants import (ENTITIES, INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY,
                                       PREDICTED_CONFIDENCE_KEY, TEXT)
from rasa.shared.nlu.training_data.message import Message

# The answer a bare retrieval-intent payload gets: the general one, never a guess at a specific question.
GENERAL_ANSWER = {"out_of_scope": "other", "faq": "what_is_peer_support"}
PAYLOAD = re.compile(r"^/(?P<intent>\w+)(?:/(?P<answer>\w+))?$")


def retrieval_parse(text: str, domain: Optional[Domain]) -> Optional[dict[str, Any]]:
    """The parse a retrieval-intent payload should have, with the response selector's output; None for any
    other text (including a payload naming an answer the domain doesn't have)."""
    match = PAYLOAD.match(text.strip())
    if domain is None or match is None or match["intent"] not in domain.retrieval_intents:
        return None
    intent = match["intent"]
    answer = match["answer"] or GENERAL_ANSWER.get(intent)
    utter_action = f"utter_{intent}/{answer}"
    if utter_action not in domain.responses:
        return None
    chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
    return {
        TEXT: text,
        INTENT: chosen,
        INTENT_RANKING_KEY: [dict(chosen)],
        ENTITIES: [],
        "response_selector": {
            "all_retrieval_intents": sorted(domain.retrieval_intents),
            intent: {"response": {"responses": domain.responses[utter_action], "confidence": 1.0,
                                  "intent_response_key": f"{intent}/{answer}", "utter_action": utter_action},
                     "ranking": []},
        },
    }


def _with_retrieval_answer(message: Message, domain: Optional[Domain]) -> Message:
    parse = retrieval_parse(message.get(TEXT) or "", domain)
    return message if parse is None else Message(parse, output_properties=set(parse))


def install() -> None:
    original = RegexMessageHandler.process
    if getattr(original, "reads_retrieval_payloads", False):
        return

    @functools.wraps(original)  # Rasa's graph validation reads the original's signature and type hints
    def process(self: RegexMessageHandler, messages: List[Message], domain: Optional[Domain] = None) -> List[Message]:
        return [_with_retrieval_answer(message, domain) for message in original(self, messages, domain)]

    process.reads_retrieval_payloads = True  # type: ignore[attr-defined]
    RegexMessageHandler.process = process  # type: ignore[method-assign]


install()
