"""Rasa NLU component: the directory's codes and places, found in free text.

Why rules and not DIET for these: the codes are a small closed vocabulary, people name places
the model has never seen, and every match must be explainable. The lexicon lives in
data/entities/lexicon.yml; places come from bot.geography.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Text

import spacy
import yaml
from spacy.matcher import PhraseMatcher
from spacy.util import filter_spans

from bot import DATA_DIR

LEXICON_FILE = DATA_DIR / "entities" / "lexicon.yml"
EXTRACTOR = "DirectoryEntityExtractor"
# When a message names more than one value of a one-valued slot, the first listed wins:
# a loss outranks a pregnancy ("pregnant again after a miscarriage"), and a format beats "any".
PRECEDENCE = {"stage": ("baby_loss", "pregnancy", "postnatal"),
              "format": ("group", "one_to_one", "phone", "online", "text", "any")}
MULTI_VALUED = {"need"}


@lru_cache(maxsize=1)
def _matcher() -> tuple[Any, PhraseMatcher]:
    nlp = spacy.blank("en")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    lexicon = yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))
    for entity, values in lexicon.items():
        for code, phrases in values.items():
            matcher.add(f"{entity}|{code}", list(nlp.tokenizer.pipe(str(p) for p in phrases)))
    return nlp, matcher


def extract(text: str) -> list[dict[str, Any]]:
    """Entities in Rasa's shape: {entity, value (a code, or the place as typed), start, end}."""
    if not text or not text.strip():
        return []
    nlp, matcher = _matcher()
    doc = nlp(text.replace("’", "'"))
    labels: dict[tuple[int, int], list[str]] = {}  # one phrase can name a stage and a need
    for match_id, start, end in matcher(doc):
        labels.setdefault((start, end), []).append(nlp.vocab.strings[match_id])
    found: list[dict[str, Any]] = []
    for span in filter_spans([doc[start:end] for start, end in labels]):
        for label in labels[(span.start, span.end)]:
            entity, code = label.split("|")
            found.append({"entity": entity, "value": code, "start": span.start_char, "end": span.end_char})
            if entity == "stage" and code == "baby_loss":  # a loss is also a need, however it was put
                found.append({"entity": "need", "value": code, "start": span.start_char, "end": span.end_char})
    found = _apply_precedence(found)
    place = _location(text)
    if place:
        found.append(place)
    return [{**f, "extractor": EXTRACTOR, "confidence_entity": 1.0} for f in found]


def _apply_precedence(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    result, seen = [], set()
    for item in found:
        entity, value = item["entity"], item["value"]
        if entity in MULTI_VALUED:
            if (entity, value) not in seen:
                seen.add((entity, value))
                result.append(item)
            continue
        same = [f for f in found if f["entity"] == entity]
        order = PRECEDENCE.get(entity)
        best = min(same, key=lambda f: order.index(f["value"])) if order else same[0]
        if item is best:
            result.append(item)
    return result


def _location(text: str) -> dict[str, Any] | None:
    from bot.geography import find_location  # loads its data lazily, on first use
    place = find_location(text)
    if place is None:
        return None
    typed = place.query or text
    start = text.lower().find(typed.lower())
    return {"entity": "location", "value": typed, "start": max(start, 0),
            "end": start + len(typed) if start >= 0 else len(text)}


try:  # The Rasa adapter; the functions above are usable without Rasa.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.nlu.extractors.extractor import EntityExtractorMixin
    from rasa.shared.nlu.constants import ENTITIES, TEXT
    from rasa.shared.nlu.training_data.message import Message
    from rasa.shared.nlu.training_data.training_data import TrainingData

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR], is_trainable=False)
    class DirectoryEntityExtractor(GraphComponent, EntityExtractorMixin):
        """Adds role, stage, format, need, support_for and location entities to each message."""

        @classmethod
        def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                   execution_context: ExecutionContext) -> "DirectoryEntityExtractor":
            _matcher()  # build once at load, not on the first person's message
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                entities = extract(message.get(TEXT) or "")
                if entities:
                    message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
            return messages

        def process_training_data(self, training_data: TrainingData) -> TrainingData:
            return training_data
except ImportError:  # pragma: no cover - bot/ is usable without Rasa installed
    pass
