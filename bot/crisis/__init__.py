"""Crisis detection: the safety net that runs on every message before anything else.

A rule-based detector, driven by the clinician-reviewable lexicon in data/crisis/lexicon.yml
(categories, rules with plain-English descriptions and examples, text normalisation, and guards
against figurative language). No Rasa import: the NLU component in bot/nlu/crisis_component.py
adapts it, and `python -m bot.crisis evaluate` measures it on data/crisis/corpus/lexicon_set.yml.

How a message is read:
1. Normalise the text (data/crisis/lexicon.yml `normalisation`): apostrophe variants, case,
   emoji, repeated letters ("dieeee"), text-speak and Scots ("kms", "wanna", "cannae"), typos
   ("sucide"). Every normalised character keeps its position in the original text, so a match
   is reported as the words the person actually typed.
2. Tokenise with spacy.blank("en") and run one spaCy Matcher holding every rule and guard
   pattern (matched on the token NORM, so "can't", "cant", "cannot" and "cannae" all read
   "can not").
3. Drop a rule's match where a guard applies (figurative idioms, bereavement, pregnancy kicks…).
   A "weak" rule only counts when a second, different weak rule of the same category matches
   too ("I'm a burden" + "there's no way out").
4. Decide who is at risk (third_party) from the words in and before the match.
5. Order the signals most urgent first (CATEGORIES), then by position.
"""
from __future__ import annotations

import logging
from typing import Any

from bot.crisis.engine import _Engine, _engine
from bot.crisis.evaluation import (LABELLED_FILE, MAX_FALSE_POSITIVE_RATE, MIN_RECALL, Evaluation, evaluate,
                                   load_labelled)
from bot.crisis.loading import LEXICON_FILE
from bot.crisis.signals import CATEGORIES, Analysis, CrisisSignal, rank

logger = logging.getLogger(__name__)

__all__ = ["CATEGORIES", "CrisisSignal", "Analysis", "analyse", "detect", "detect_all", "lexicon",
           "recognised_as_figurative", "explain", "Evaluation", "evaluate", "load_labelled", "LEXICON_FILE",
           "LABELLED_FILE", "MIN_RECALL", "MAX_FALSE_POSITIVE_RATE", "main"]


def detect(text: str) -> CrisisSignal | None:
    """The most urgent crisis signal in `text`, or None. Never raises on odd input."""
    signals = detect_all(text)
    return signals[0] if signals else None


def detect_all(text: str) -> list[CrisisSignal]:
    """Every crisis signal in `text` (English and every other language's lexicon), most urgent category first,
    then in reading order."""
    if not isinstance(text, str) or not text.strip():
        return []
    return _with_other_languages(text, _engine().detect_all(text))


def _with_other_languages(text: str, english: list[CrisisSignal]) -> list[CrisisSignal]:
    """Adds the other languages' crisis signals (data/i18n/<code>.yml). They run on every message whatever its
    language, so a romanised or two-word message in another language is still caught. A failure there must
    never hide the English result."""
    try:
        from bot.language import crisis_signals, get, guarded_words, identify, perhaps_other_language
        written_in = get(identify(text).code)
        if written_in is not None and written_in.english_false_friends:
            english = [s for s in english if s.phrase.lower() not in written_in.english_false_friends]
        # In a message that is, or may be, in another language, that language's guard that read an English word
        # cancels the English rule hit on it, as it cancels its own language's: "self-harm karti thi, ab 10 saal ho
        # gaye" (Urdu guard UR-G-65, self-harm long over). Never in English: an Urdu guard for a joke about being
        # late for a party reads "late ... kill ... party", which in English can be a real threat.
        if written_in is not None or perhaps_other_language(text):
            guarded = guarded_words(text)
            english = [s for s in english if not any(s.start <= w < s.end for w in guarded)]
        foreign = [CrisisSignal(category=s.category, phrase=text[s.start:s.end], rule=s.rule, third_party=False,
                                start=s.start, end=s.end, language=s.language) for s in crisis_signals(text)]
    except Exception:  # noqa: BLE001
        logger.exception("The other languages' crisis lexicons failed on a message")
        return english
    return sorted(english + foreign, key=rank) if foreign else english


def lexicon() -> dict[str, Any]:
    """The raw lexicon (as loaded from YAML), e.g. for tests and reports."""
    return _engine().raw


def analyse(text: str) -> Analysis:
    """One reading of `text`: the signals (most urgent first), the guards that matched, and the risk
    phrases they explained away. The crisis component needs all three from one pass."""
    if not isinstance(text, str) or not text.strip():
        return Analysis(signals=[], guards=(), explained_away=())
    english = _engine().analyse(text)
    signals, asks = _with_other_languages(text, english.signals), _asks(text)
    if _told_as_over(text, signals):
        return Analysis(signals=[], guards=english.guards, explained_away=english.explained_away,
                        asks=tuple(signals) + asks, told_as_over=True)
    return Analysis(signals=signals, guards=english.guards, explained_away=english.explained_away, asks=asks)


def _told_as_over(text: str, signals: list[CrisisSignal]) -> bool:
    """bot.language.told_as_over; a failure keeps the alarm."""
    try:
        from bot.language import told_as_over
        return told_as_over(text, signals)
    except Exception:  # noqa: BLE001
        logger.exception("Reading whether a crisis was told as over failed; the alarm stands")
        return False


def _asks(text: str) -> tuple[CrisisSignal, ...]:
    """The other languages' ask rules that match (bot.language.ask_signals). A failure asks nothing; the
    rules and nets still decide."""
    try:
        from bot.language import ask_signals
        return tuple(CrisisSignal(category=s.category, phrase=text[s.start:s.end], rule=s.rule, third_party=False,
                                  start=s.start, end=s.end, language=s.language) for s in ask_signals(text))
    except Exception:  # noqa: BLE001
        logger.exception("The other languages' ask rules failed on a message")
        return ()


def recognised_as_figurative(text: str) -> bool:
    """True when the text holds one of the lexicon's figurative, worry or grief guards ("I had a bad
    dream that the baby stopped breathing"), or a risk phrase that a guard explained away. The
    statistical nets defer to this: the lexicon has read those words and judged them."""
    return analyse(text).figurative


def explain(text: str) -> dict[str, Any]:
    """What the detector saw: the normalised text, its tokens, every signal and every guard hit."""
    return _engine().explain(text)


def main(argv: list[str] | None = None) -> int:
    from bot.crisis.__main__ import main as run
    return run(argv)
