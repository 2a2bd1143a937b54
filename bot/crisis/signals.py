"""Crisis categories (most urgent first) and the signal the detector reports."""
from __future__ import annotations

from dataclasses import dataclass, field

# Most urgent first. The rationale is in data/crisis/lexicon.yml (`categories`), which must list
# the same codes in the same order (checked when the lexicon loads).
CATEGORIES: tuple[str, ...] = (
    "medical_emergency",
    "suicide_self_harm",
    "harm_to_baby",
    "psychosis",
    "abuse_danger",
    "sexual_violence",
)
_RANK = {code: i for i, code in enumerate(CATEGORIES)}


@dataclass(frozen=True)
class CrisisSignal:
    """One piece of evidence that a message is a crisis."""

    category: str  # one of CATEGORIES
    phrase: str  # the matched span, as the person typed it
    rule: str  # the lexicon rule id (for audit), e.g. "SSH-03"
    third_party: bool  # the person at risk is not the writer ("my wife says she wants to die")
    # Character offsets of `phrase` in the original text (not part of equality).
    start: int = field(default=-1, compare=False)
    end: int = field(default=-1, compare=False)
    language: str = field(default="en", compare=False)  # whose lexicon matched (data/i18n/<code>.yml)


def rank(signal: CrisisSignal) -> tuple[int, int]:
    """Most urgent category first, then reading order."""
    return _RANK[signal.category], signal.start


@dataclass(frozen=True)
class Analysis:
    """Everything the lexicon read in one message (bot.crisis.analyse)."""

    signals: list[CrisisSignal]  # most urgent first
    guards: tuple[str, ...]  # ids of the figurative, worry and grief guards that matched
    explained_away: tuple[dict, ...]  # risk phrases a guard or a missing context cancelled
    asks: tuple[CrisisSignal, ...] = ()  # other languages' ask rules: ask the person (tier 2), never the alarm
    # Every signal was told as past and over ("... two years ago, I'm well now"): they are in `asks` instead, and
    # the person is asked, never given the alarm, whatever the nets think (bot.language.told_as_over).
    told_as_over: bool = False

    @property
    def figurative(self) -> bool:
        """The lexicon read risk words here and judged them figurative (or guarded them away)."""
        return bool(self.guards) or bool(self.explained_away)
