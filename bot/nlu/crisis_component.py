"""Rasa NLU component: the crisis safety net, after DIETClassifier and FallbackClassifier.

config.yml:

    pipeline:
      - ...
      - name: DIETClassifier
      - name: FallbackClassifier
      - name: bot.nlu.crisis_component.CrisisComponent
        threshold: 0.5          # optional: DIET confidence needed for the classifier net

Two nets, for every message:
1. Lexicon net (bot.crisis.detect — reviewable rules, data/crisis/lexicon.yml). A signal sets the
   intent to `crisis_<category>` with confidence 1.0, first in intent_ranking, whatever DIET or
   the FallbackClassifier said, and adds an entity
   {"entity": "crisis_category", "value": <category>, "start", "end", "extractor": "CrisisLexicon",
    "confidence_entity": 1.0} spanning the words that matched.
2. Classifier net. Otherwise, if DIET's top intent was `crisis_<category>` with confidence >=
   threshold — also when the FallbackClassifier replaced it with nlu_fallback, e.g. for ambiguity —
   that intent is kept (or restored, first in the ranking) and the same entity is added with
   extractor "CrisisClassifier", spanning the whole message, confidence_entity = DIET's confidence.

Either way the message also carries `crisis` (in the parse data): {"category", "source" ("lexicon" |
"classifier"), "rule", "phrase", "third_party", "confidence"} — for actions and audit.

`process` never raises: a failure on one message is logged and that message keeps DIET's output.
"""
from __future__ import annotations

import copy
import logging
from typing import Any, Dict, List, Optional, Text, Type

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    ENTITIES,
    ENTITY_ATTRIBUTE_END,
    ENTITY_ATTRIBUTE_START,
    ENTITY_ATTRIBUTE_TYPE,
    ENTITY_ATTRIBUTE_VALUE,
    EXTRACTOR,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message

from bot import crisis

logger = logging.getLogger(__name__)

THRESHOLD_KEY = "threshold"
DEFAULT_THRESHOLD = 0.5
INTENT_PREFIX = "crisis_"
CRISIS_INTENTS: Dict[Text, Text] = {f"{INTENT_PREFIX}{code}": code for code in crisis.CATEGORIES}
ENTITY_NAME = "crisis_category"
ENTITY_CONFIDENCE_KEY = "confidence_entity"
LEXICON_EXTRACTOR = "CrisisLexicon"
CLASSIFIER_EXTRACTOR = "CrisisClassifier"
CRISIS_KEY = "crisis"  # extra parse-data key with the detection details


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False
)
class CrisisComponent(GraphComponent, IntentClassifier):
    """Makes sure a crisis message is classified as a crisis, whatever the model says."""

    @classmethod
    def required_components(cls) -> List[Type]:
        """Components that should be included in the pipeline before this component."""
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        """The component's default config (see parent class for full docstring)."""
        return {
            # DIET confidence at or above which a predicted crisis_* intent is trusted.
            THRESHOLD_KEY: DEFAULT_THRESHOLD,
        }

    def __init__(self, config: Dict[Text, Any]) -> None:
        self.component_config = {**self.get_default_config(), **(config or {})}
        threshold = self.component_config[THRESHOLD_KEY]
        if not isinstance(threshold, (int, float)) or not 0.0 <= float(threshold) <= 1.0:
            raise ValueError(f"{type(self).__name__}: {THRESHOLD_KEY} must be a number in [0, 1], got {threshold!r}")
        self.threshold = float(threshold)

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> CrisisComponent:
        """Creates the component and loads the lexicon now, so a broken lexicon fails loudly here
        (at training and at start-up) and the first message is not slowed by loading."""
        component = cls(config)
        crisis.detect("warm up")
        return component

    def process(self, messages: List[Message]) -> List[Message]:
        """Marks crisis messages (see module docstring). Never raises."""
        for message in messages:
            try:
                self._process_message(message)
            except Exception:  # noqa: BLE001 — the safety net must not take the pipeline down
                logger.exception("Crisis detection failed for one message; it keeps the model's prediction.")
        return messages

    # -----------------------------------------------------------------------------------------

    def _process_message(self, message: Message) -> None:
        text = message.get(TEXT)
        if not isinstance(text, str) or not text.strip():
            return
        signal = crisis.detect(text)
        if signal is not None:
            self._mark(
                message,
                intent={INTENT_NAME_KEY: f"{INTENT_PREFIX}{signal.category}", PREDICTED_CONFIDENCE_KEY: 1.0},
                entity=_entity(signal.category, signal.start, signal.end, LEXICON_EXTRACTOR, 1.0),
                details={"category": signal.category, "source": "lexicon", "rule": signal.rule,
                         "phrase": signal.phrase, "third_party": signal.third_party, "confidence": 1.0},
            )
            return
        predicted = self._model_crisis_intent(message)
        # The classifier net fires unless the lexicon positively read the risk words as figurative.
        if predicted is not None and crisis.recognised_as_figurative(text):
            predicted = None
        if predicted is None:
            self._demote_unaccepted_crisis_intent(message)
            return
        if predicted is not None:
            name = predicted[INTENT_NAME_KEY]
            confidence = float(predicted.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            self._mark(
                message,
                intent=dict(predicted),
                entity=_entity(CRISIS_INTENTS[name], 0, len(text), CLASSIFIER_EXTRACTOR, confidence),
                details={"category": CRISIS_INTENTS[name], "source": "classifier", "rule": None,
                         "phrase": None, "third_party": None, "confidence": confidence},
            )

    def _model_crisis_intent(self, message: Message) -> Optional[Dict[Text, Any]]:
        """DIET's top intent, looking past an nlu_fallback — if it is a crisis intent over threshold."""
        intent = message.get(INTENT) or {}
        top: Optional[Dict[Text, Any]] = intent if intent.get(INTENT_NAME_KEY) else None
        if top is None or top.get(INTENT_NAME_KEY) == DEFAULT_NLU_FALLBACK_INTENT_NAME:
            ranking = message.get(INTENT_RANKING_KEY) or []
            top = next((r for r in ranking if isinstance(r, dict)
                        and r.get(INTENT_NAME_KEY) not in (None, DEFAULT_NLU_FALLBACK_INTENT_NAME)), None)
        if top is None or top.get(INTENT_NAME_KEY) not in CRISIS_INTENTS:
            return None
        confidence = top.get(PREDICTED_CONFIDENCE_KEY)
        if not isinstance(confidence, (int, float)) or confidence < self.threshold:
            return None
        return top

    @staticmethod
    def _demote_unaccepted_crisis_intent(message: Message) -> None:
        """A crisis intent that neither net accepted must not reach the crisis rules on its own: the
        next best non-crisis intent takes its place (or nlu_fallback, which asks the person)."""
        intent = message.get(INTENT) or {}
        if intent.get(INTENT_NAME_KEY) not in CRISIS_INTENTS:
            return
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if isinstance(r, dict)]
        replacement = next((dict(r) for r in ranking if r.get(INTENT_NAME_KEY) not in CRISIS_INTENTS),
                           {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                            PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0})
        message.set(INTENT, replacement, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [replacement] + [r for r in ranking if r.get(INTENT_NAME_KEY)
                                                         != replacement[INTENT_NAME_KEY]], add_to_output=True)

    @staticmethod
    def _mark(message: Message, intent: Dict[Text, Any], entity: Dict[Text, Any], details: Dict[Text, Any]) -> None:
        name = intent[INTENT_NAME_KEY]
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or [])
                   if isinstance(r, dict) and r.get(INTENT_NAME_KEY) not in (name, DEFAULT_NLU_FALLBACK_INTENT_NAME)]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [copy.copy(intent)] + ranking, add_to_output=True)
        entities = [e for e in (message.get(ENTITIES) or [])
                    if not (isinstance(e, dict) and e.get(ENTITY_ATTRIBUTE_TYPE) == ENTITY_NAME)]
        message.set(ENTITIES, entities + [entity], add_to_output=True)
        message.set(CRISIS_KEY, details, add_to_output=True)


def _entity(category: Text, start: int, end: int, extractor: Text, confidence: float) -> Dict[Text, Any]:
    return {
        ENTITY_ATTRIBUTE_TYPE: ENTITY_NAME,
        ENTITY_ATTRIBUTE_VALUE: category,
        ENTITY_ATTRIBUTE_START: start,
        ENTITY_ATTRIBUTE_END: end,
        EXTRACTOR: extractor,
        ENTITY_CONFIDENCE_KEY: confidence,
    }
