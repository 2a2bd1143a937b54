"""Per-language crisis figures on the labelled multilingual sets (tests/data/multilingual/<code>.yml).

Each set was written by a different writer from that language's lexicon. `<code>.yml`, `batch2/<code>.yml` and
`batch3/<code>.yml` are the development part (`part: dev`, and `part: blind1` / `blind2` / `blind3`: earlier blind
batches, each measured and then tuned on, so now development data too). The blind parts, never tuned on and never
learned by the crisis net, each by writers who saw no project file: `blind/` (batch 4), `blind5/` (about 125
messages a language, briefed as a training batch), `blind7/` (about 99), `blind8/`, `blind9/` (texting styles and
code-switching), `blind11/` (two to four sentences, family members writing), `blind12/` (at night, near the
boundary: crises said indirectly, heavy ordinary messages), `blind15/` (first messages to a service: minimised,
buried in a request, about someone else), `blind17/` (typed on a phone mid-conversation: fragments, "..." pauses,
typos, English words), `blind18/` (two or three sentences whose meaning only comes together across them),
`blind20/` (a general mix, one to three sentences, written after the nets read Chinese by character), `blind21/`
(the same brief, written before the languages net learned training batch 3) and `blind22/` (the same brief, written
after training batches 3 to 5).
`batch6/` (120 a language), `batch10/` (hard cases: 75 ordinary messages with crisis words and 25 crises in
everyday words a language), `batch13/` (hard cases: 80 ordinary messages that look like a crisis and 20 crises a
language), `batch14/zh.yml` (Chinese only: 140 crises in everyday, indirect and slang words, 60 ordinary),
`batch16/` (Arabic, Punjabi, Urdu and Chinese: 60 crises said indirectly and 40 ordinary messages close to them),
`batch19/` (two-step messages, the same brief as blind 18), `batch23/` (a general mix: 40 crises and 60 ordinary
messages close to them a language), `batch24/` (crises said indirectly: 40 crises, 20 of them suicide or
self-harm, and 60 ordinary messages close to them a language) and `batch25/` (70 ordinary messages that sound like
a crisis and 30 crises in the same everyday words a language) were read, so they are development data for the
lexicons, not blind parts; each is still measured on its own. Since session 23 (2026-12-07) the languages net learns
them too (`READ_PARTS`), so their figures no longer measure the net: its operating points were set with one read
batch left out at a time (bot/nlu/crisis_net.py). Agreement between two machine-written sets is not clinical
evidence: a native speaker must review both before these figures mean more than "the lexicon agrees with another
writer".
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot import PROJECT_ROOT

SETS_DIR = PROJECT_ROOT / "tests" / "data" / "multilingual"
# Never trained or tuned on; each reported on its own.
BLIND_PARTS = ("blind", "blind5", "blind7", "blind8", "blind9", "blind11", "blind12", "blind15", "blind17",
               "blind18", "blind20", "blind21", "blind22")
# Read by the lexicon writers, so development data for the lexicons; learned by the languages net since session 23
# (2026-12-07; each left out in turn, learning the others kept every crisis and asked fewer ordinary messages,
# H59): batch 6 (120 a language), batches 10 and 13 (ordinary messages with crisis words), batch 14 (Chinese crises
# in everyday, indirect and slang words), batches 16 and 24 (crises said indirectly), batches 19 and 23 (read as
# they came), batch 25 (ordinary messages that sound like a crisis, and crises in the same everyday words) and batch
# 26 (crises in everyday words, and ordinary messages about health, the baby's care and tired minds; measured by a
# net that had not learned it before it was listed here, session 24).
READ_PARTS = ("batch6", "batch10", "batch13", "batch14", "batch16", "batch19", "batch23", "batch24", "batch25",
              "batch26")
# Each reported on its own: the blind parts, and the read batches.
MEASURED_PARTS = (*BLIND_PARTS, *READ_PARTS)
NOT_CRISIS = "none"


@dataclass
class Figures:
    crisis: int = 0
    caught: int = 0  # detected as some crisis
    right_category: int = 0
    negatives: int = 0
    false_alarms: int = 0
    missed: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)
    asked: int = 0  # ordinary messages given the possible-risk question (the pipeline only)
    answered: int = 0  # crisis messages given the crisis answer at once, tier 1 (the pipeline only)

    @property
    def recall(self) -> float:
        return self.caught / self.crisis if self.crisis else 1.0

    @property
    def false_alarm_rate(self) -> float:
        return self.false_alarms / self.negatives if self.negatives else 0.0


def labelled(code: str) -> list[dict]:
    items: list[dict] = []
    for path in [SETS_DIR / f"{code}.yml", *sorted(SETS_DIR.glob(f"*/{code}.yml"))]:
        if path.exists():
            items += (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("messages") or []
    return items


def part_of(item: dict) -> str:
    """The blind parts and the read batches are each measured on their own; a spent blind batch is development
    data."""
    part = str(item.get("part"))
    return part if part in MEASURED_PARTS else "dev"


def evaluate(code: str) -> dict[str, Figures]:
    """Figures for the `dev` and `blind` parts of one language's set, read by the whole detector (every
    language's lexicon and the English one, as in production)."""
    from bot.crisis import detect_all
    out = {part: Figures() for part in ("dev", *MEASURED_PARTS)}
    for item in labelled(code):
        figures = out[part_of(item)]
        signals = detect_all(str(item["text"]))
        if item["label"] == NOT_CRISIS:
            figures.negatives += 1
            if signals:
                figures.false_alarms += 1
                figures.alarms.append(f"{item['text']}  [{signals[0].rule}]")
            continue
        figures.crisis += 1
        if signals:
            figures.caught += 1
            figures.right_category += any(s.category == item["label"] for s in signals)
        else:
            figures.missed.append(f"{item['text']}  ({item['label']}; {item.get('gloss', '')})")
    return out


def evaluate_pipeline(code: str) -> dict[str, Figures]:
    """The same parts read as the assistant reads them: the lexicons, then the crisis nets (bot.nlu.crisis_net;
    the languages net has learned the development parts, never the blind one) deciding the tier as in the
    crisis component. DIET's own crisis intents are left out (they need a trained model; they rarely fire on other
    languages). `caught` counts tier 1 (crisis answer and alert) and tier 2 (asked, in the language and
    English); `false_alarms` counts tier 1 on an ordinary message, `asked` tier 2."""
    from bot import crisis
    from bot.nlu import crisis_net
    out = {part: Figures() for part in ("dev", *MEASURED_PARTS)}
    for item in labelled(code):
        text, figures = str(item["text"]), out[part_of(item)]
        decision, _ = crisis_net.assess_analysed(text, crisis.analyse(text))
        if item["label"] == NOT_CRISIS:
            figures.negatives += 1
            figures.false_alarms += decision.tier == "crisis"
            figures.asked += decision.tier == "possible"
            if decision.tier != "none":
                figures.alarms.append(f"{text}  [{decision.tier}: {decision.source}]")
            continue
        figures.crisis += 1
        if decision.tier == "none":
            figures.missed.append(f"{text}  ({item['label']}; {item.get('gloss', '')})")
            continue
        figures.caught += 1
        figures.answered += decision.tier == "crisis"
        figures.right_category += decision.category == item["label"]
    return out


def pipeline_report(codes: list[str], part: str = "blind") -> str:
    """Blind-part figures of the whole pipeline, per language and in all (no messages: the part stays blind)."""
    lines = ["| language | crisis: answered (tier 1) | crisis: answered or asked (tiers 1+2) | ordinary: false alarms "
             "| ordinary: asked |", "|---|---|---|---|---|"]
    total = Figures()
    for code in codes:
        f = evaluate_pipeline(code)[part]
        lines.append(_pipeline_row(code, f))
        for name in ("crisis", "caught", "answered", "negatives", "false_alarms", "asked"):
            setattr(total, name, getattr(total, name) + getattr(f, name))
    lines.append(_pipeline_row("all", total))
    return "\n".join(lines)


def _pipeline_row(name: str, f: Figures) -> str:
    return (f"| {name} | {f.answered}/{f.crisis} ({f.answered / max(f.crisis, 1):.2f}) | {f.caught}/{f.crisis} "
            f"({f.recall:.2f}) | {f.false_alarms}/{f.negatives} | {f.asked}/{f.negatives} |")


def report(codes: list[str], show_blind: bool = False, dev_only: bool = False) -> str:
    """Figures for every part; the messages missed or alarmed on, except in the blind parts (unless show_blind):
    they stay blind to whoever tunes the lexicons."""
    lines = ["| language | part | crisis recall | right category | false alarms |", "|---|---|---|---|---|"]
    details: list[str] = []
    for code in codes:
        for part, f in evaluate(code).items():
            if dev_only and part != "dev":
                continue
            lines.append(f"| {code} | {part} | {f.caught}/{f.crisis} ({f.recall:.2f}) | {f.right_category}/{f.crisis} "
                         f"| {f.false_alarms}/{f.negatives} |")
            if part in BLIND_PARTS and not show_blind:
                continue
            details += [f"- {code} {part} missed: {m}" for m in f.missed]
            details += [f"- {code} {part} false alarm: {a}" for a in f.alarms]
    return "\n".join(lines + [""] + details)
