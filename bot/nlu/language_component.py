"""Rasa adapter for bot.language: which language each message is in.

Runs after the intent classifiers and before the fallback and crisis components. A message in another
language gets a `language` entity (the slot `language` picks the translated replies, including the crisis
replies, which are domain responses with a variation per language) and the intent `other_language`, so
it is answered in that language rather than with an English form question. The crisis component runs
after this one and overrides the intent when the message is a crisis, in any language. English messages
get no entity, so a conversation that has shown another language keeps its bilingual crisis replies.
A whole-message yes or no in another language ("tak", "ні", "是的") is `affirm` or `deny`: the answer to a
question asked in that language, such as the possible-risk question.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import (ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE,
                                       ENTITY_ATTRIBUTE_VALUE, EXTRACTOR, TEXT)
from rasa.shared.nlu.training_data.message import Message

from bot import language
from bot.nlu.answers import choose_intent

logger = logging.getLogger(__name__)

ENTITY = "language"
INTENT_NAME = "other_language"
UNSUPPORTED = "other"  # a language we have no replies in: the English "this service is in English" reply


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
class LanguageComponent(GraphComponent):
    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageComponent":
        language.languages()  # load the data files at start-up, not on someone's first message
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            try:
                self._process(message)
            except Exception:  # noqa: BLE001 — never take the pipeline down; English is the safe default
                logger.exception("Language identification failed for one message")
        return messages

    @staticmethod
    def _process(message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text.strip() or text.lstrip().startswith("/"):
            return
        answer = language.yes_or_no(text)  # "tak", "ні": the answer to a question asked in that language
        if answer is not None:
            choose_intent(message, answer)
            return
        code = language.reply_language(text)
        if code == language.ENGLISH:
            return
        entity = {ENTITY_ATTRIBUTE_TYPE: ENTITY, ENTITY_ATTRIBUTE_VALUE: code, ENTITY_ATTRIBUTE_START: 0,
                  ENTITY_ATTRIBUTE_END: len(text), EXTRACTOR: "LanguageComponent"}
        message.set(ENTITIES, [e for e in message.get(ENTITIES) or [] if e.get(ENTITY_ATTRIBUTE_TYPE) != ENTITY]
                    + [entity], add_to_output=True)
        choose_intent(message, INTENT_NAME)
