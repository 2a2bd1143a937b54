"""Reading a typed answer to one of the support form's questions.

On SMS and WhatsApp people type rather than tap, so every menu must accept what they type: a button's
title, a synonym, "either", an age in words, or "skip". The words come from the one slot-vocabulary
table, data/entities/lexicon.yml (its entity sections, then the `answers` section, which holds phrases
that only mean something as the answer to that question). Places are read by bot.geography.

The NLU pipeline reads each message alone, so "text, cant leave the hospital much" is out of scope to DIET.
While the form is asking a question, Rasa's processor parse is wrapped (`install_context_reading`) so that a
message answering that question is its answer (`answers_question`): never over a crisis or risk intent, a
request, low mood or a question back.
"""
from __future__ import annotations

import functools
import re
from functools import lru_cache
from typing import Any, Dict, List, Text

from spacy.matcher import PhraseMatcher

from bot.nlu.entities import _matcher, extract, lexicon, stages_from_ages, tokenize
from bot.nlu import payloads  # noqa: F401  (installs: a tapped button is read like the typed answer it stands for)

SKIP = "skip"
# What a slot holds when the person skipped it (or twice gave an answer that could not be read):
# each means "no filter" to the matching engine, so the search carries on without it.
NOT_GIVEN = {"role": "unknown", "stage": "unknown", "format": "any", "location": "unknown"}
ANSWERED_BY = {"role": "role", "stage": "stage", "format": "format"}  # slot → entity


@lru_cache(maxsize=1)
def _answer_matcher() -> PhraseMatcher:
    nlp, _ = _matcher()
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    for slot, values in lexicon()["answers"].items():
        if isinstance(values, list):  # skip, self: whatever the question
            matcher.add(slot, list(nlp.tokenizer.pipe(values)))
            continue
        for code, phrases in values.items():
            matcher.add(f"{slot}|{code}", list(nlp.tokenizer.pipe(phrases)))
    return matcher


def valid_codes(slot: str) -> set[str]:
    return set(lexicon()[ANSWERED_BY[slot]]) | {NOT_GIVEN[slot]}


def is_skip(text: Any) -> bool:
    """ "skip", "rather not say", "dunno": carry on without this answer."""
    doc = tokenize(str(text or "")[:500])
    return any(doc.vocab.strings[match_id] == SKIP for match_id, _, _ in _answer_matcher()(doc))


# Needs that say the baby has been born: with one of them stated, a bare "6 wks" answering the stage question
# is the baby's age (someone pregnant again after a hard birth says "pregnant", and is not asked the stage).
BORN_NEEDS = frozenset({"birth_trauma", "neonatal"})


def read_answer(slot: str, text: Any, needs: Any = ()) -> str | None:
    """The code this answer gives `slot`, SKIP, or None when it can't be read as an answer to it. `needs`: the
    needs stated so far in the conversation."""
    text = str(text or "").strip()[:500]
    if not text:
        return None
    if text in valid_codes(slot):  # a button's payload, already a code
        return text
    entities = extract(text)
    entity = ANSWERED_BY[slot]
    for found in entities:
        if found["entity"] == entity:
            return found["value"]
    if slot == "stage":
        # Asked the stage, "20 weeks" is a pregnancy, unless the birth has been spoken of.
        born = bool(BORN_NEEDS.intersection(needs or ()))
        ages = stages_from_ages(text, default_weeks="postnatal" if born else "pregnancy")
        if ages:
            return ages[0]["value"]
    if slot == "format" and any(e["entity"] == "avoid_format" for e in entities):
        return "any"  # "no groups": any format but that one (avoid_formats carries the refusal)
    if slot == "role":
        support_for = next((e["value"] for e in entities if e["entity"] == "support_for"), None)
        if support_for == "professional":
            return NOT_GIVEN["role"]  # a professional asking for someone else: no audience filter
    doc = tokenize(text)
    labels = {doc.vocab.strings[match_id] for match_id, _, _ in _answer_matcher()(doc)}
    for label in sorted(labels):
        if label.startswith(f"{slot}|"):
            return label.split("|")[1]
    if SKIP in labels:
        return SKIP
    return None


REPLY_INTENTS = {"yes": "affirm", "no": "deny", "unsure": "unsure"}
_LETTER_RUN = re.compile(r"(.)\1{2,}")  # "yesss", "noooo", "okkk"
_NOT_A_WORD = re.compile(r"[^\w\s'\u2600-\u27bf\U0001f000-\U0001faff]")  # keeps letters, apostrophes, emoji


def _reply_form(text: str) -> str:
    text = text.replace("’", "'").replace("-", " ").replace("\ufe0f", "").lower()
    text = " ".join(_NOT_A_WORD.sub(" ", text).split())
    return _LETTER_RUN.sub(r"\1", text)


@lru_cache(maxsize=1)
def _replies() -> dict[str, str]:
    return {_reply_form(str(phrase)): REPLY_INTENTS[kind]
            for kind, phrases in lexicon()["replies"].items() for phrase in phrases}


def reply_intent(text: Any) -> str | None:
    """ "affirm", "deny" or "unsure" when the whole message is only a yes ("aye", "yup", "mhm"), a no ("nah
    thanks") or an unsure answer ("sort of", "dunno"), else None. The words are data/entities/lexicon.yml's
    `replies`."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    return _replies().get(_reply_form(text))


# Words that carry no intent of their own in a short answer ("I'm in Fife please").
_FILLER = frozenset("i im i'm am a an the in at near on its it's it is please pls plz thanks thank you ta we were we're "
                    "'re 's 'm live stay from just outside my for to and or um erm oh well ok okay so yes no aye "
                    "naw sorry actually meant mean m ve ll d s re what about how try instead rather prefer maybe then there "
                    "anything anywhere somewhere any is are can could you u".split())
ANSWER_SHARE = 0.6  # of a message's content words that must be entities for it to count as an answer
ANSWER_INTENT = "find_support"
FALLBACK_LOOP = "action_two_stage_fallback"
FORM_NAME = "support_form"
FACTS = {"location", "stage", "format", "role"}  # the search's own slots
# DIET intents the answer rule never replaces: they are requests, not answers ("delete all my messages"
# names a format, but it is an erasure request). Risk intents are never replaced either.
KEEPS_ITS_INTENT = frozenset({"help_someone", "more_options", "start_again", "urgent_help", "service_details",
                              "delete_my_data", "confirm_erasure", "cancel_erasure"})
_QUESTION = re.compile(r"^\W*(can|could|is|are|do|does|did|will|would|should|what|whats|what's|who|how|why|when|"
                       r"which|am|has|have)\b", re.IGNORECASE)


def is_question(text: str) -> bool:
    return text.rstrip().endswith("?") or bool(_QUESTION.match(text))


def answer_replaces(intent: str | None, text: str, entities: list[dict[str, Any]]) -> bool:
    """Should this message count as an answer (find_support) although DIET read it as `intent`?
    Only where DIET's intent would interrupt the search: a question ("can dads get PND?") stays a question
    unless it names a place (or, read as out of scope, a kind of support); low mood stays low mood unless it
    also gives two facts for the search ("mum in Fife, 6 months, I've been drinking"); a yes or no counts only
    when it names a fact ("no, not groups")."""
    if intent in KEEPS_ITS_INTENT or not is_mostly_answer(text, entities):
        return False
    kinds = {e.get("entity") for e in entities}
    # Read as out of scope, a question naming a kind of support and another fact ("baby is 11 weeks… any free groups
    # I could walk to?") asks for support: the money or the bus it mentions is the reason, not the request. A kind
    # of support alone ("online, is that free?") is a question about it.
    asks_for_a_format = intent == "out_of_scope" and "format" in kinds and len(kinds & FACTS) >= 2
    if is_question(text) and "location" not in kinds and not asks_for_a_format:
        return False
    if intent == "feeling_low" and len(kinds & FACTS) < 2 and answer_share(text, entities) < 1.0:
        return False
    if intent in ("affirm", "deny") and not kinds & (FACTS | {"avoid_format"}):
        return False
    return True


def is_mostly_answer(text: str, entities: list[dict[str, Any]]) -> bool:
    """Is this message an answer (a place, an age, a format, a role), whatever else DIET thought it was?
    "Tain", "KY1", "he's four months", "no groups please", "I'm the dad" are answers; a sentence that
    merely mentions a place is not."""
    if text.lstrip().startswith("/"):
        return False
    answers = [e for e in entities if e.get("entity") in {"location", "stage", "format", "avoid_format", "role"}]
    if len({e["entity"] for e in answers} - {"avoid_format"}) >= 2:
        return True  # "mum in Fife", "dad, baby 4 months": facts for the search, whatever else is said
    return answer_share(text, entities) >= ANSWER_SHARE


def answer_share(text: str, entities: list[dict[str, Any]]) -> float:
    """The share of the message's content words that are answers to the form's questions (0 to 1)."""
    answers = [e for e in entities if e.get("entity") in {"location", "stage", "format", "avoid_format", "role"}]
    doc = tokenize(text[:500])
    spans = [(e["start"], e["end"]) for e in answers + [e for e in entities if e.get("entity") == "need"]]
    spans += [(a["start"], a["end"]) for a in stages_from_ages(text, default_weeks="pregnancy")]  # "ten weeks"
    nlp, matcher = _matcher()
    cues = [(start, end) for match_id, start, end in matcher(doc)
            if nlp.vocab.strings[match_id].startswith("negation|")]  # "can't make" in "can't make groups"
    spans += [(doc[start].idx, doc[end - 1].idx + len(doc[end - 1]))
              for start, end in cues + [(start, end) for _, start, end in _answer_matcher()(doc)]]
    content = [t for t in doc if not t.is_punct and not t.is_space and t.lower_ not in _FILLER]
    if not spans or not content:
        return 0.0
    covered = [t for t in content if any(start <= t.idx < end for start, end in spans)]
    return len(covered) / len(content)


# Intents DIET gives answers that come with a reason ("text, cant leave the hospital much", "online, were miles
# fae anythin"): read in the context of the question just asked, such a message is that question's answer.
# Low mood is left alone: "feeling rubbish since the birth" deserves its reply, not just the next question, and so
# is a health question ("formula for a 3 month old", out_of_scope/health): it gets who can answer it (H39).
MISREAD_ANSWER = frozenset({"out_of_scope", "nlu_fallback", "faq", "bot_challenge", "greet", "goodbye", "thanks"})
KEEPS_ITS_ANSWER = frozenset({"out_of_scope/health"})


def health_question(retrieval: str | None, text: str, entities: list[dict[str, Any]]) -> bool:
    """Read as a health question, and more than an answer: "calpol dose for a 3 month old" is one; "Benbecula", which
    the response selector may also call health, is only a place."""
    return retrieval in KEEPS_ITS_ANSWER and answer_share(text, entities) < 1.0


def answers_question(intent: str | None, text: str, entities: list[dict[str, Any]], asked: str | None,
                     retrieval: str | None = None) -> bool:
    """Does this message answer the form's question `asked` (the requested slot), although DIET read it as
    `intent` (`retrieval`: the response selector's full intent, "out_of_scope/health")? Only for intents that
    are not requests, never for a question back ("online, is that free?"), a health question or a skip, and
    only when the answer reads as a value of that slot (a place, for the location)."""
    # The response selector calls many answers "health" ("online, cant be driving 2 hrs"); what a health question
    # carries by the way is the baby's age, so only the stage question leaves it to be answered as one.
    if asked is None or intent not in MISREAD_ANSWER or is_question(text) \
            or (asked == "stage" and health_question(retrieval, text, entities)):
        return False
    if asked == "location":
        return any(e.get("entity") == "location" for e in entities)
    if asked not in ANSWERED_BY:
        return False
    return read_answer(asked, text) not in (None, SKIP)


def decided(intent: str, ranking: list[dict[str, Any]] | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """`intent` with certainty, as a rule has decided, and the ranking to go with it: what the classifiers said
    stays at half weight, so the fallback classifier doesn't read a confident DIET runner-up as ambiguity."""
    chosen = {"name": intent, "confidence": 1.0}
    return chosen, [chosen] + [{**r, "confidence": r.get("confidence", 0.0) * 0.5}
                               for r in ranking or [] if r.get("name") != intent]


try:  # The Rasa adapter; the functions above are usable without Rasa.
    from rasa.engine.graph import ExecutionContext, GraphComponent
    from rasa.engine.recipes.default_recipe import DefaultV1Recipe
    from rasa.engine.storage.resource import Resource
    from rasa.engine.storage.storage import ModelStorage
    from rasa.shared.nlu.constants import ENTITIES, INTENT, INTENT_RANKING_KEY, TEXT
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.crisis_component import RISK_INTENTS

    @DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=False)
    class TypedAnswerClassifier(GraphComponent):
        """A message that is mostly a slot answer is `find_support` (an answer), whatever DIET said: DIET
        can't know an unseen village or a typed "he's 4 months" from chit-chat. A message that is only a yes,
        a no or an unsure answer is `affirm`, `deny` or `unsure`. A health question stays one, whatever ages it
        names ("calpol dose for a 3 month old": who can answer it, H39). Runs after the entity extractor and the
        response selectors, before the fallback and crisis components, which still override it."""

        @classmethod
        def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                   execution_context: ExecutionContext) -> "TypedAnswerClassifier":
            return cls()

        def process(self, messages: List[Message]) -> List[Message]:
            for message in messages:
                text = message.get(TEXT) or ""
                intent = (message.get(INTENT) or {}).get("name")
                reply = reply_intent(text)
                if reply is not None:  # DIET's crisis vote doesn't count on a bare reply (crisis_component)
                    choose_intent(message, reply)
                # Otherwise never over a risk intent: DIET's crisis vote is one of the crisis component's nets.
                elif intent not in RISK_INTENTS and intent != ANSWER_INTENT \
                        and not health_question(selected_answer(message, intent), text, message.get(ENTITIES) or []) \
                        and answer_replaces(intent, text, message.get(ENTITIES) or []):
                    choose_intent(message, ANSWER_INTENT)
            return messages

    def selected_answer(message: Message, intent: Text | None) -> Text | None:
        """The response selector's answer for `intent` ("out_of_scope/health"); the selectors run before this."""
        selected = (message.get("response_selector") or {}).get(intent or "") or {}
        return (selected.get("response") or {}).get("intent_response_key")

    def install_context_reading() -> None:
        """The NLU pipeline sees one message; Rasa's processor parses it with the conversation at hand. Wrap
        the processor's parse so that, while the support form is asking a question, a message that answers
        it (`answers_question`) is the answer (find_support), as a tapped button would be."""
        from rasa.core.processor import MessageProcessor
        original = MessageProcessor.parse_message
        if getattr(original, "reads_answers_in_context", False):
            return

        @functools.wraps(original)
        async def parse_message(self, message, tracker=None, only_output_properties=True):
            parse_data = await original(self, message, tracker, only_output_properties)
            intent_name = (parse_data.get(INTENT) or {}).get("name")
            offered = offered_payload(tracker, intent_name) if tracker is not None else None
            if offered is not None:
                parse_data[INTENT], parse_data[INTENT_RANKING_KEY] = decided(offered, parse_data.get(INTENT_RANKING_KEY))
                parse_data["answer_in_context"] = intent_name
                if intent_name == "affirm":  # the yes stands for the unclear message: keep what it said
                    parse_data[ENTITIES] = (parse_data.get(ENTITIES) or []) + unclear_message_entities(tracker)
            elif tracker is not None and tracker.active_loop_name == FORM_NAME:
                intent = parse_data.get(INTENT) or {}
                if answers_question(intent.get("name"), parse_data.get(TEXT) or "", parse_data.get(ENTITIES) or [],
                                    tracker.get_slot("requested_slot"), intent.get("full_retrieval_intent_name")):
                    parse_data[INTENT], parse_data[INTENT_RANKING_KEY] = decided(
                        ANSWER_INTENT, parse_data.get(INTENT_RANKING_KEY))
                    parse_data["answer_in_context"] = intent.get("name")  # what DIET said, for review
            return parse_data

        parse_message.reads_answers_in_context = True  # type: ignore[attr-defined]
        MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]

    install_context_reading()

    def unclear_message_entities(tracker: Any) -> list[dict[str, Any]]:
        """The search's entities in the message the fallback asked about (Rasa reverts it when the person says
        yes, so "a grandfather on Lewis" would be asked again)."""
        message = tracker.latest_message
        return [e for e in (message.entities if message else []) if e.get("entity") != "crisis_category"]

    def offered_payload(tracker: Any, intent: Text | None) -> Text | None:
        """A typed yes or no to "Did you want to …?" (the two-stage fallback's question, actions/fallback.py)
        is its Yes or No button: the intent the button carries. Rasa reads only a tapped payload that way; on SMS
        people type "yes", which without this went to "Sorry, I'm still not sure what you mean"."""
        if intent not in ("affirm", "deny") or tracker.active_loop_name != FALLBACK_LOOP:
            return None
        from rasa.shared.core.events import BotUttered, UserUttered
        for event in reversed(tracker.events):  # the question, among the replies since the person last wrote
            if isinstance(event, UserUttered):
                return None
            buttons = {b.get("title"): str(b.get("payload") or "")
                       for b in (event.data or {}).get("buttons") or []} if isinstance(event, BotUttered) else {}
            if "Yes" in buttons and "No" in buttons:
                payload = buttons["Yes" if intent == "affirm" else "No"]
                intent_name = payload[1:].split("{", 1)[0]
                return intent_name if payload.startswith("/") and intent_name else None
        return None

    def choose_intent(message: Message, intent: Text) -> None:
        chosen, ranking = decided(intent, message.get(INTENT_RANKING_KEY))
        message.set(INTENT, chosen, add_to_output=True)
        message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
except ImportError:  # pragma: no cover - bot/ is usable without Rasa installed
    pass
