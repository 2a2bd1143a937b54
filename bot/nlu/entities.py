"""Rasa NLU component: the directory's codes and places, found in free text.

Why rules and not DIET for these: the codes are a small closed vocabulary, people name places
the model has never seen, and every match must be explainable. The lexicon lives in
data/entities/lexicon.yml; places come from bot.geography.

Beyond the phrase table:
- negation: a format the person refuses ("no groups", "I hate phones", "rather text than call",
  "groups aren't for me") is an `avoid_format` entity, never a `format`;
- ages: "he's four months", "my wee girl is ten weeks", "36 wks pregnant", "due in 6 weeks" give a stage.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Dict, List, Text

import re

import spacy
import yaml
from spacy.matcher import PhraseMatcher
from spacy.util import filter_spans

from bot import DATA_DIR

LEXICON_FILE = DATA_DIR / "entities" / "lexicon.yml"
EXTRACTOR = "DirectoryEntityExtractor"
# When a message names more than one value of a one-valued slot, the first listed wins: a loss outranks
# a pregnancy ("pregnant again after a miscarriage"). Formats: the first one the person names ("phone I
# suppose, or a group"), and any named format beats "any".
PRECEDENCE = {"stage": ("baby_loss", "pregnancy", "postnatal"),
              # Support asked for oneself outranks the people named on the way ("my daughter's baby… anything
              # for people like me"); a partner outranks a friend or relative.
              "support_for": ("self", "professional", "someone_else", "partner", "family_member")}
FIRST_NAMED = {"format": ("any",)}  # entity → values that lose to any other value
MULTI_VALUED = {"need", "avoid_format"}
ENTITY_SECTIONS = ("format", "role", "stage", "need", "support_for", "change")
NEGATION_WINDOW = 4  # tokens between a "no"/"hate"/"than" and the format it refuses
CLAUSE_BREAK = frozenset({",", ".", "!", "?", ";", ":", "but", "so", "though", "although", "instead", "-"})


@lru_cache(maxsize=1)
def lexicon() -> dict[str, Any]:
    return yaml.safe_load(LEXICON_FILE.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _matcher() -> tuple[Any, PhraseMatcher]:
    nlp = spacy.blank("en")
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    for entity in ENTITY_SECTIONS:
        for code, phrases in lexicon()[entity].items():
            matcher.add(f"{entity}|{code}", list(nlp.tokenizer.pipe(str(p) for p in phrases)))
    for side, phrases in lexicon()["negation"].items():
        matcher.add(f"negation|{side}", list(nlp.tokenizer.pipe(str(p) for p in phrases)))
    return nlp, matcher


def tokenize(text: str):
    nlp, _ = _matcher()
    return nlp(text.replace("’", "'"))


def extract(text: str) -> list[dict[str, Any]]:
    """Entities in Rasa's shape: {entity, value (a code, or the place as typed), start, end}."""
    if not text or not text.strip():
        return []
    nlp, matcher = _matcher()
    doc = tokenize(text)
    labels: dict[tuple[int, int], list[str]] = {}  # one phrase can name a stage and a need
    cues: list[tuple[str, int, int]] = []  # negation cues: (side, start token, end token)
    for match_id, start, end in matcher(doc):
        label = nlp.vocab.strings[match_id]
        if label.startswith("negation|"):
            cues.append((label.split("|")[1], start, end))
        else:
            labels.setdefault((start, end), []).append(label)
    found: list[dict[str, Any]] = []
    for span in filter_spans([doc[start:end] for start, end in labels]):
        if _someone_elses(doc, span):
            continue
        for label in labels[(span.start, span.end)]:
            entity, code = label.split("|")
            if entity == "format" and code != "any" and _refused(doc, span, cues):
                entity = "avoid_format"
            found.append({"entity": entity, "value": code, "start": span.start_char, "end": span.end_char})
            if entity == "stage" and code == "baby_loss":  # a loss is also a need, however it was put
                found.append({"entity": "need", "value": code, "start": span.start_char, "end": span.end_char})
    found = _recipient_role_first(text, found)
    found = _refused_not_wanted(found)
    found += stages_from_ages(text)
    found = _pregnancy_after_loss(text, found)
    if not any(f["entity"] == "role" for f in found):
        found += _pregnant_self(text)
    found = _apply_precedence(found)
    place = _location(text)
    if place:
        found.append(place)
    return [{**f, "extractor": EXTRACTOR, "confidence_entity": 1.0} for f in found]


# "a friend of mine, she's the mum": the role said of the person ("she's the mum", "he is the dad") is whom the
# support is for, so it wins over a relationship named on the way ("friend"), whichever came first.
_SAID_OF_SOMEONE = re.compile(r"\b(?:she|he|they)\s*(?:'s|s|is|'re|are)\s+(?:the\s+|a\s+|her\s+|his\s+)?$",
                              re.IGNORECASE)


# "goes through my phone", "my man's away at work", "my dad passed when I was pregnant": a format word after a
# possessive is a thing (a phone, messages); "man"/"fella" after one is the person's partner, and "mum"/"dad" after
# "my" the person's own parent: not the person.
_POSSESSIVES = frozenset({"my", "ma", "his", "her", "their", "our", "oor", "your", "yer"})
_MY = frozenset({"my", "ma", "our", "oor"})
_PARTNER_WORDS = frozenset({"man", "fella", "guy", "da"})
_PARENT_WORDS = frozenset({"mum", "mam", "mammy", "maw", "mother", "mom", "mummy", "dad", "father", "daddy", "faither"})
_THINGS = frozenset({"phone", "phones", "fone", "text", "texts", "messages", "message", "messaging", "laptop"})


def _someone_elses(doc, span) -> bool:
    """A phrase after "my"/"his"/"her"… that names a thing, the person's partner or their own parent: not a
    format or a role."""
    before = doc[span.start - 1].lower_ if span.start else ""
    if before not in _POSSESSIVES:
        return False
    first = span[0].lower_
    if first in _THINGS:
        return True
    return len(span) == 1 and (first in _PARTNER_WORDS or (before in _MY and first in _PARENT_WORDS))


def _recipient_role_first(text: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    said = [f for f in found if f["entity"] == "role"
            and _SAID_OF_SOMEONE.search(text[:f["start"]].replace("’", "'"))]
    if not said:
        return found
    return [f for f in found if f["entity"] != "role" or f is said[0]]


def _refused_not_wanted(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A format refused in the message is not also wanted in it: "not online, the internet here is terrible.
    phone is better" wants phone ("internet" names the refused format again)."""
    refused = {f["value"] for f in found if f["entity"] == "avoid_format"}
    return [f for f in found if not (f["entity"] == "format" and f["value"] in refused)]


def _refused(doc, span, cues) -> bool:
    """Is this format refused by a negation cue in the same clause (before it, or just after it)?"""
    for side, start, end in cues:
        # A cue may end inside the format's phrase: "can't talk on" + "talk on the phone".
        if side == "before" and start < span.start and span.start - NEGATION_WINDOW <= end <= span.end:
            between = [t.lower_ for t in doc[end:span.start]]
            if not CLAUSE_BREAK.intersection(between) and not _polite_request(doc, start):
                return True
        if side == "after" and span.end <= start <= span.end + 3:  # "phones are really too hard"
            if not CLAUSE_BREAK.intersection(t.lower_ for t in doc[span.end:start]):
                return True
    return False


def _polite_request(doc, cue_start: int) -> bool:
    """ "can I not just text?" asks for text: a "not" after "can I"/"could we" is not a refusal."""
    before = [t.lower_ for t in doc[max(0, cue_start - 2):cue_start]]
    return doc[cue_start].lower_ == "not" and len(before) == 2 and before[0] in {"can", "could", "would", "will"} \
        and before[1] in {"i", "we", "you"}


_NUMBER = (r"\d{1,2}|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen"
           r"|sixteen|seventeen|eighteen|nineteen|twenty(?:[- ]?(?:one|two|three|four|five|six|seven|eight|nine))?"
           r"|thirty(?:[- ]?(?:one|two|three|four|five|six|seven|eight|nine))?|forty(?:[- ]?(?:one|two))?"
           r"|few|couple(?: of)?|coupla")
_AGE = re.compile(rf"\b(?P<n>{_NUMBER})\s*-?\s*(?P<unit>days?|wks?|weeks?|w|months?|mths?|mnths?|mnth|mo|years?|yrs?|y/?o)"
                  r"\b(?:\s+(?P<after>old|pregnant|preg|pg|gone|along|ago|now))?", re.IGNORECASE)
_PREGNANT_BEFORE = re.compile(r"\b(?:i'?m|i am|am|im|due in|due|at|currently|nearly|almost|about)\s*$", re.IGNORECASE)
_BABY_BEFORE = re.compile(r"\b(?:he|she|hes|shes|he's|she's|baby|babys|baby's|bairn|wean|wee one|son|daughter|girl|boy|"
                          r"twins|they're|theyre|they are|little one|lo|him|her|it's|its)\b[^.!?]{0,25}$", re.IGNORECASE)


_PARTNER_BEFORE = re.compile(r"\b(?:partner|wife|girlfriend|gf|missus|fiancee|fiance)(?:'s|s|\s+is)\s*"
                             r"(?:now\s+|nearly\s+|almost\s+|about\s+|only\s+)?$", re.IGNORECASE)
# A pregnancy now, after a loss ("pregnant again after a miscarriage", "I'm 14 weeks pregnant, we lost our
# first"): the stage is the pregnancy; the loss stays a stated need.
_PREGNANT_NOW = re.compile(r"\b(?:pregnant again|pregnant after|expecting again|i'?m pregnant|i am pregnant|"
                           r"currently pregnant|still pregnant|(?:weeks|wks) pregnant)\b", re.IGNORECASE)


# "I'm hard of hearing and 32 weeks pregnant", "im nearly 30 wks preg": the writer is the one pregnant, so the mum,
# unless someone else is named between ("I'm worried my wife is pregnant", "I'm glad she's expecting").
_PREGNANT_SELF = re.compile(r"\b(?:i'?m|i am|im)\b(?P<between>[^.!?]{0,40}?)\b(?:pregnant|preg|pg|expecting)\b",
                            re.IGNORECASE)
_SOMEONE_ELSE = re.compile(r"\b(?:she|shes|she's|he|hes|he's|her|his|my|our|wife|partner|girlfriend|gf|daughter|sister|"
                           r"missus|fiancee|friend|is|isn't|isnt|not|no)\b", re.IGNORECASE)


def _pregnancy_after_loss(text: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    lost = [f for f in found if f["entity"] == "stage" and f["value"] == "baby_loss"]
    now = _PREGNANT_NOW.search(text.replace("’", "'"))
    if not lost or now is None:
        return found
    pregnancy = [] if any(f["entity"] == "stage" and f["value"] == "pregnancy" for f in found) else \
        [{"entity": "stage", "value": "pregnancy", "start": now.start(), "end": now.end()}]
    return [f for f in found if f not in lost] + pregnancy


# Said with no subject, as texts often are ("Preg 16wk, history of depression", "had a horrible birth, forceps n
# a 3rd degree tear"), a pregnancy or a birth in the body is the writer's, unless the message names someone
# else it could be about ("pregnant wife", "my girlfriend had a c-section").
_SELF_UNSAID = re.compile(
    r"(?:^|[.!?]\s*)(?:(?:\d{1,2}\s*(?:weeks?|wks?|w)\s+)?(?:pregnant|preg|pg)\b"
    r"|(?:i\s+)?had\s+(?:a|an|such\s+a)\s+(?:\w+\s+){0,2}(?:birth|labour|labor|delivery)\b)"
    r"|\bmy\s+(?:birth|labour|labor|c-?\s?section|section|stitches)\b"
    r"|\b(?:3rd|4th|third|fourth)[\s-]+degree\s+tear\b", re.IGNORECASE)
_ANOTHER_PERSON = re.compile(r"\b(?:she|shes|she's|her|wife|partner|girlfriend|gf|daughter|sister|missus|fiancee|"
                             r"friend|son's|sons|niece|they|their)\b", re.IGNORECASE)


# "I had my baby 4 months ago", "I've just had a wee girl": the writer gave birth, so the mum, even when a partner
# is named after ("…my partner doesn't like me going out"); not "I had a baby with my girlfriend".
_GAVE_BIRTH_SELF = re.compile(
    r"\b(?:i|i've|ive|i have)\s+(?:just\s+|recently\s+|only\s+)?(?:had|gave birth to|given birth to)\s+"
    r"(?:my|our|the|a)\s+(?:wee\s+|little\s+|baby\s+)?(?:baby|son|daughter|boy|girl|bairn|wean|twins|first)\b"
    r"(?!\s+(?:\w+\s+)?(?:with|wi)\b)", re.IGNORECASE)


def _pregnant_self(text: str) -> list[dict[str, Any]]:
    text = text.replace("’", "'")
    for m in _PREGNANT_SELF.finditer(text):
        if not _SOMEONE_ELSE.search(m["between"]):
            return [{"entity": "role", "value": "mum", "start": m.start(), "end": m.end()}]
    birth = _GAVE_BIRTH_SELF.search(text)
    if birth:
        return [{"entity": "role", "value": "mum", "start": birth.start(), "end": birth.end()}]
    unsaid = _SELF_UNSAID.search(text)
    if unsaid and not _ANOTHER_PERSON.search(text):
        start = unsaid.start() + len(unsaid.group()) - len(unsaid.group().lstrip(".!? "))
        return [{"entity": "role", "value": "mum", "start": start, "end": unsaid.end()}]
    return []


def stages_from_ages(text: str, default_weeks: str | None = None) -> list[dict[str, Any]]:
    """Stages said as an age or a number of weeks. A bare "10 weeks" says nothing on its own, unless the
    caller knows the stage question was asked (`default_weeks`)."""
    found = []
    for m in _AGE.finditer(text.replace("’", "'")):
        if m["n"][-1].isalpha() and m.end("n") == m.start("unit"):
            continue  # a number in words runs into its unit: "Ayr" is a town, not "a yr"
        unit, after = m["unit"].lower(), (m["after"] or "").lower()
        before = text[max(0, m.start() - 40):m.start()]
        if after in {"pregnant", "preg", "pg", "gone", "along"}:
            stage = "pregnancy"
        elif after not in {"old", "ago"} and _PARTNER_BEFORE.search(before):  # "partner's 32 weeks"
            stage = "pregnancy"
        elif unit.startswith("w") and re.search(r"\bat\s*$", before, re.IGNORECASE):
            # "at 22 weeks" is a point in a pregnancy: a birth then ("born at 30 weeks") or a loss (the loss
            # phrase says so), never the baby's age
            stage = "postnatal" if re.search(r"\bborn\b", before, re.IGNORECASE) else None
        elif after in {"old", "ago"} or unit.startswith("y") or _BABY_BEFORE.search(before):
            stage = "postnatal"
        elif _PREGNANT_BEFORE.search(before):
            stage = "pregnancy" if not before.lower().rstrip().endswith("at") else None  # "lost at 22 weeks"
        elif unit.startswith("m"):
            stage = "postnatal"
        elif unit.startswith("d"):
            stage = "postnatal"
        else:
            stage = default_weeks
        if stage:
            found.append({"entity": "stage", "value": stage, "start": m.start(), "end": m.end()})
    return found


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
        if order:
            best = min(same, key=lambda f: order.index(f["value"]))
        else:  # the first named, unless it is a value that loses to any other ("any")
            best = min(same, key=lambda f: (f["value"] in FIRST_NAMED.get(entity, ()), f["start"]))
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
