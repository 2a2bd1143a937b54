"""Rasa NLU component: the crisis safety net, after DIETClassifier and FallbackClassifier.

config.yml:

    pipeline:
      - ...
      - name: DIETClassifier
      - name: FallbackClassifier
      - name: bot.nlu.crisis_component.CrisisComponent
        threshold: 0.9          # DIET confidence needed for its crisis intents to count

Three nets vote on every message (bot.nlu.crisis_net.decide turns the votes into a tier):
1. Lexicon (bot.crisis.detect — reviewable rules, data/crisis/lexicon.yml): tier 1.
2. DIET's own crisis intent at or above `threshold`, unless the lexicon read the words as figurative, or the
   message is nothing but answers to the search's questions (DIET's character n-grams read the town
   "Wishaw" as "wish", at 0.95): tier 1.
3. The n-gram net (bot.nlu.crisis_net, trained on data/crisis/corpus): tier 1 when sure or for an
   emergency category, tier 2 ("possible") in between. In a message in another language it asks, and
   raises the alarm alone only for an emergency it is sure of.
Nets 2 and 3 don't vote on a message that is only a yes, a no or an unsure answer ("sort of"): its meaning
comes from the question it answers, which the rules see.

Tier 1 (crisis): intent `crisis_<category>` (confidence 1.0 for the lexicon, else the net's), first in
the ranking, whatever DIET or the FallbackClassifier said, plus an entity
{"entity": "crisis_category", "value": <category>, "extractor": "CrisisLexicon" | "CrisisClassifier" |
"CrisisNet", ...} — the crisis rules answer it and the event broker records the escalation.
Tier 2 (possible): intent `possible_suicide_self_harm` or `possible_harm_to_baby`, which the rules answer
with a direct, kind question and the 24/7 numbers. No entity: nothing is alerted.
A crisis the person told as past and over ("I had those thoughts after my first baby; I'm well now", with no
"again" or "lately": bot.language.told_as_over) is tier 2 whatever the nets and DIET say, and its record names
the rule that matched; abuse told so is `possible_abuse_danger`, asked "are you safe now?" (hazard H55).
In a message in another language of 15 words or more, an alarm that only that language's machine-written lexicon
raised, about suicide or abuse, is tier 2 too when the languages net reads the message as ordinary (its risk below
crisis_net.OTHER_LANGUAGE_DOUBT_THRESHOLD; hazard H58), with the rule named in the record.
Neither: a crisis_* or possible_* intent DIET predicted on its own is demoted to the next best intent.

The message also carries `crisis` in its parse data: {"tier", "category", "source", "rule", "phrase",
"third_party", "confidence", "votes": {"lexicon", "classifier", "net": {"crisis", "possible",
"category"}, "figurative"}}, and at tier 2 "asked_because" (net | ask_rule | told_as_over | alarm_doubted) — so a
reviewer can see why.

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

from bot import crisis, language
from bot.nlu import crisis_net

logger = logging.getLogger(__name__)

THRESHOLD_KEY = "threshold"
DEFAULT_THRESHOLD = 0.5
INTENT_PREFIX = "crisis_"
CRISIS_INTENTS: Dict[Text, Text] = {f"{INTENT_PREFIX}{code}": code for code in crisis.CATEGORIES}
POSSIBLE_PREFIX = "possible_"
POSSIBLE_INTENTS: Dict[Text, Text] = {f"{POSSIBLE_PREFIX}{code}": code for code in crisis_net.QUESTION_CATEGORIES}
RISK_INTENTS = {**CRISIS_INTENTS, **POSSIBLE_INTENTS}
ENTITY_NAME = "crisis_category"
ENTITY_CONFIDENCE_KEY = "confidence_entity"
LEXICON_EXTRACTOR = "CrisisLexicon"
CLASSIFIER_EXTRACTOR = "CrisisClassifier"
NET_EXTRACTOR = "CrisisNet"
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
        language.warm_up()
        crisis.detect("warm up")
        crisis_net.net()  # trains the n-gram nets now (or reads them back from disk), not on the first message
        crisis_net.languages_net()
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
        analysis = crisis.analyse(text)
        signal = analysis.signals[0] if analysis.signals else None
        if signal is None and bare_reply(text):
            # "probably", "sometimes": no risk words of their own (the net read "probably" as an emergency at
            # 0.6). What such a reply means comes from the question it answers, and the rules see that.
            self._demote_unaccepted_risk_intent(message)
            return
        figurative = signal is None and analysis.figurative
        predicted = (None if signal is not None or figurative or analysis.told_as_over
                     else self._model_crisis_intent(message))
        ask = analysis.asks[0] if analysis.asks else None
        decision, view = crisis_net.assess_analysed(
            text, analysis, CRISIS_INTENTS[predicted[INTENT_NAME_KEY]] if predicted else None)
        votes = {"lexicon": signal.category if signal else None,
                 "classifier": CRISIS_INTENTS[predicted[INTENT_NAME_KEY]] if predicted else None,
                 "net": None if view is None else {"crisis": round(view.crisis, 3), "possible": round(view.possible, 3),
                                                   "category": view.category},
                 "figurative": figurative}
        details = {"tier": decision.tier, "category": decision.category, "source": decision.source, "rule": None,
                   "phrase": None, "third_party": None, "confidence": None, "votes": votes}
        if decision.tier == "none":
            self._demote_unaccepted_risk_intent(message)
            return
        if decision.tier == "possible":
            confidence = round(view.risk, 3) if view and decision.source == "net" else 1.0
            details["asked_because"] = asked_because(decision.source, signal, analysis.told_as_over)
            if decision.source == "lexicon":  # an ask rule, or an alarm the net doubted: the record names the rule
                asked_by = signal or ask
                details.update(rule=asked_by.rule, phrase=asked_by.phrase)
            self._mark(message, intent={INTENT_NAME_KEY: f"{POSSIBLE_PREFIX}{decision.category}",
                                        PREDICTED_CONFIDENCE_KEY: confidence},
                       entity=None, details={**details, "confidence": confidence})
            return
        if decision.source == "lexicon":
            confidence, start, end, extractor = 1.0, signal.start, signal.end, LEXICON_EXTRACTOR
            details.update(rule=signal.rule, phrase=signal.phrase, third_party=signal.third_party)
            intent = {INTENT_NAME_KEY: f"{INTENT_PREFIX}{decision.category}", PREDICTED_CONFIDENCE_KEY: 1.0}
        elif decision.source == "classifier":
            confidence = float(predicted.get(PREDICTED_CONFIDENCE_KEY) or 0.0)
            start, end, extractor, intent = 0, len(text), CLASSIFIER_EXTRACTOR, dict(predicted)
        else:
            confidence = round(view.crisis, 3)
            start, end, extractor = 0, len(text), NET_EXTRACTOR
            intent = {INTENT_NAME_KEY: f"{INTENT_PREFIX}{decision.category}", PREDICTED_CONFIDENCE_KEY: confidence}
        self._mark(message, intent=intent,
                   entity=_entity(decision.category, start, end, extractor, confidence),
                   details={**details, "confidence": confidence})

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
        if only_answers(message):
            return None
        confidence = top.get(PREDICTED_CONFIDENCE_KEY)
        if not isinstance(confidence, (int, float)) or confidence < self.threshold:
            return None
        return top

    @staticmethod
    def _demote_unaccepted_risk_intent(message: Message) -> None:
        """A crisis or possible-risk intent that the nets did not accept must not reach those rules on its
        own: the next best other intent takes its place (or nlu_fallback, which asks the person)."""
        intent = message.get(INTENT) or {}
        if intent.get(INTENT_NAME_KEY) not in RISK_INTENTS:
            return
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or []) if isinstance(r, dict)]
        if only_answers(message):  # "Wishaw": an answer to the question, whatever DIET's runner-up says
            ranking = [{INTENT_NAME_KEY: "find_support", PREDICTED_CONFIDENCE_KEY: 1.0}] + ranking
        replacement = next((dict(r) for r in ranking if r.get(INTENT_NAME_KEY) not in RISK_INTENTS),
                           {INTENT_NAME_KEY: DEFAULT_NLU_FALLBACK_INTENT_NAME,
                            PREDICTED_CONFIDENCE_KEY: intent.get(PREDICTED_CONFIDENCE_KEY) or 0.0})
        message.set(INTENT, replacement, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [replacement] + [r for r in ranking if r.get(INTENT_NAME_KEY)
                                                         != replacement[INTENT_NAME_KEY]], add_to_output=True)

    @staticmethod
    def _mark(message: Message, intent: Dict[Text, Any], entity: Optional[Dict[Text, Any]],
              details: Dict[Text, Any]) -> None:
        name = intent[INTENT_NAME_KEY]
        ranking = [r for r in (message.get(INTENT_RANKING_KEY) or [])
                   if isinstance(r, dict) and r.get(INTENT_NAME_KEY) not in (name, DEFAULT_NLU_FALLBACK_INTENT_NAME)]
        message.set(INTENT, intent, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [copy.copy(intent)] + ranking, add_to_output=True)
        entities = [e for e in (message.get(ENTITIES) or [])
                    if not (isinstance(e, dict) and e.get(ENTITY_ATTRIBUTE_TYPE) == ENTITY_NAME)]
        message.set(ENTITIES, entities + ([entity] if entity else []), add_to_output=True)
        message.set(CRISIS_KEY, details, add_to_output=True)


def asked_because(source: str | None, signal, told_as_over: bool) -> str:
    """Why a message was asked about rather than answered: the clinical lead reviews a doubted alarm (H58)
    differently from a sigh the net read."""
    if source != "lexicon":
        return "net"
    if told_as_over:
        return "told_as_over"
    return "alarm_doubted" if signal is not None else "ask_rule"


def bare_reply(text: str) -> bool:
    """Is the whole message only a yes, a no or an unsure answer ("aye", "nah", "sort of")?"""
    from bot.nlu.answers import reply_intent  # here: bot.nlu.answers imports this module
    return reply_intent(text) is not None


def only_answers(message: Message) -> bool:
    """Is the message nothing but answers to the search's questions (a place, an age, a format, a role)?
    Stated needs don't count: "I've been drinking" is not only an answer."""
    from bot.nlu.answers import is_mostly_answer  # here: bot.nlu.answers imports this module
    answers = [e for e in message.get(ENTITIES) or [] if isinstance(e, dict)
               and e.get(ENTITY_ATTRIBUTE_TYPE) in {"location", "stage", "format", "role", "avoid_format"}]
    return bool(answers) and is_mostly_answer(message.get(TEXT) or "", answers)


def _entity(category: Text, start: int, end: int, extractor: Text, confidence: float) -> Dict[Text, Any]:
    return {
        ENTITY_ATTRIBUTE_TYPE: ENTITY_NAME,
        ENTITY_ATTRIBUTE_VALUE: category,
        ENTITY_ATTRIBUTE_START: start,
        ENTITY_ATTRIBUTE_END: end,
        EXTRACTOR: extractor,
        ENTITY_CONFIDENCE_KEY: confidence,
    }
