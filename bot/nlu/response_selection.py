"""Rasa's ResponseSelector, asked only about the messages whose answer it can give.

A ResponseSelector with `retrieval_intent: faq` chooses among the FAQ answers, and its choice is used only
when the message's intent is `faq`. Rasa runs it on every message all the same: each of our two selectors
cost about 2.7 of the 14.5 ms NLU parse (bench/profile.md, third round) on messages whose answer nobody reads.

This one runs only when DIET's top intent is its retrieval intent. Nothing after DIET in config.yml turns
a message into `faq` or `out_of_scope`. A "did you mean…?" confirmed with its button is answered from the
payload ("/faq", "/faq/cost": bot/nlu/payloads.py) and a typed yes is a turn of its own, so neither needs
the first message's selection. Training is Rasa's own.
"""
from __future__ import annotations

import warnings
from typing import List

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.selectors.response_selector import ResponseSelector
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY
from rasa.shared.nlu.training_data.message import Message


# Rasa's recipe validator looks for ResponseSelector by exact type, so at training it warns that the FAQ and
# out-of-scope answers have no selector to learn them; this subclass learns them.
warnings.filterwarnings("ignore", category=UserWarning, message=r"You have defined training data with examples "
                        r"for training a response selector, but your NLU configuration does not include")


def top_intent(message: Message) -> str | None:
    return (message.get(INTENT) or {}).get(INTENT_NAME_KEY)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class IntentGatedResponseSelector(ResponseSelector):
    """A ResponseSelector that answers only messages DIET gave its retrieval intent (module docstring).
    Configured as Rasa's; one without a retrieval intent (all of them) answers every message."""

    def process(self, messages: List[Message]) -> List[Message]:
        asked = [message for message in messages
                 if self.retrieval_intent is None or top_intent(message) == self.retrieval_intent]
        if asked:
            super().process(asked)
        return messages
