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

from typing import Any

from bot.crisis.engine import _Engine, _engine
from bot.crisis.evaluation import (LABELLED_FILE, MAX_FALSE_POSITIVE_RATE, MIN_RECALL, Evaluation, evaluate,
                                   load_labelled)
from bot.crisis.loading import LEXICON_FILE
from bot.crisis.signals import CATEGORIES, Analysis, CrisisSignal

__all__ = ["CATEGORIES", "CrisisSignal", "Analysis", "analyse", "detect", "detect_all", "lexicon",
           "recognised_as_figurative", "explain", "Evaluation", "evaluate", "load_labelled", "LEXICON_FILE",
           "LABELLED_FILE", "MIN_RECALL", "MAX_FALSE_POSITIVE_RATE", "main"]


def detect(text: str) -> CrisisSignal | None:
    """The most urgent crisis signal in `text`, or None. Never raises on odd input."""
    signals = detect_all(text)
    return signals[0] if signals else None


def detect_all(text: str) -> list[CrisisSignal]:
    """Every crisis signal in `text`, most urgent category first, then in reading order."""
    if not isinstance(text, str) or not text.strip():
        return []
    return _engine().detect_all(text)


def lexicon() -> dict[str, Any]:
    """The raw lexicon (as loaded from YAML), e.g. for tests and reports."""
    return _engine().raw


def analyse(text: str) -> Analysis:
    """One reading of `text`: the signals (most urgent first), the guards that matched, and the risk
    phrases they explained away. The crisis component needs all three from one pass."""
    if not isinstance(text, str) or not text.strip():
        return Analysis(signals=[], guards=(), explained_away=())
    return _engine().analyse(text)


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
