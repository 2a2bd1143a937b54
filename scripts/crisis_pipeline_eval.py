"""The crisis tiers of the whole trained NLU pipeline (lexicon + DIET + n-gram net), as the assistant runs.

`python -m bot.crisis evaluate` scores the lexicon alone; `scripts/crisis_tiers_eval.py` scores the
lexicon and net by leave-one-batch-out (honest figures for unseen wording). This parses every message
with the trained model and gates `make test`:

- development set (data/crisis/corpus/*.yml, the lexicon's own set among them — what the nets were built
  from, so this guards against regressions): tiers 1+2 recall 1.00 for suicide/self-harm, harm to the
  baby, psychosis and medical emergency, and >= 0.98 over all crisis messages;
- ordinary traffic (tests/data/crisis/ordinary_conversations.yml, never trained on): tier-1 false alarms
  <= 3% of messages, tiers 1+2 <= 8%, and at most 5 of 100 conversations asked the question.

    python scripts/crisis_pipeline_eval.py MODEL [--blind] [--report FILE]
--blind also reports the frozen blind batches (never a gate, never tuned on; batches 2 to 6 and the
intrusive-thoughts set in aggregate only, so no message of them is read). Exit 1 if a gate fails.
"""
from __future__ import annotations

import asyncio
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONVERSATIONS = ROOT / "tests" / "data" / "crisis" / "ordinary_conversations.yml"
BLIND = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind.yml"
# Frozen 2026-12-03, reported in aggregate only (no message printed). About forty of its messages were shown
# once by a debug log on 2026-12-05 (nothing tuned on them), so batch 3 is now the unread one.
BLIND_2 = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind_2.yml"
# Written 2026-12-05 by another independent writer from a short brief; never read, aggregate only.
BLIND_3 = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind_3.yml"
# Written later that day by another independent writer (90 of its 420 messages possible risk); aggregate only.
BLIND_4 = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind_4.yml"
# Written in the sixth session of 2026-12-05, before a training batch written alongside it was measured.
BLIND_5 = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind_5.yml"
# Intrusive thoughts about the baby (75 possible, 20 crisis, 55 close-in-topic none), by another writer, to
# measure whether training batch intrusive.yml generalised; measured once before and once after adding it.
BLIND_INTRUSIVE = ROOT / "tests" / "data" / "crisis" / "blind" / "intrusive_blind.yml"
# Two or three sentences whose meaning only comes together across them (2026-12-06, session 14), by another writer
# who saw no project file; measured before and after that day's English rule for a wish after a suicide told (SSH-11).
BLIND_6 = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind_6.yml"
MUST_CATCH = ("suicide_self_harm", "harm_to_baby", "psychosis", "medical_emergency")
MIN_OVERALL_RECALL = 0.98
MAX_TIER1_ALARMS = 0.03
MAX_TIER12_ALARMS = 0.08
MAX_CONVERSATIONS_ASKED = 5


def tier_of(parsed: dict) -> tuple[str, str | None]:
    from bot.escalation.broker import category_of
    intent = (parsed.get("intent") or {}).get("name") or ""
    category = category_of(parsed)
    if category:
        return "crisis", category
    if intent.startswith("possible_"):
        return "possible", intent.removeprefix("possible_")
    return "none", None


class Table:
    def __init__(self, name: str) -> None:
        self.name = name
        self.by_tier: dict[str, Counter] = defaultdict(Counter)
        self.by_category: dict[str, Counter] = defaultdict(Counter)
        self.misses: list[tuple[str, str]] = []

    def add(self, text: str, gold_tier: str, gold_category: str | None, decided: str) -> None:
        self.by_tier[gold_tier][decided] += 1
        if gold_tier == "crisis":
            self.by_category[gold_category][decided] += 1
            if decided == "none":
                self.misses.append((gold_category, text))

    def recall(self, categories=None) -> float:
        rows = [row for category, row in self.by_category.items() if categories is None or category in categories]
        caught = sum(row["crisis"] + row["possible"] for row in rows)
        return caught / max(1, sum(sum(row.values()) for row in rows))

    def markdown(self, show_misses: bool = False) -> str:
        lines = [f"#### {self.name}", "", "| labelled \\ decided | tier 1 (crisis) | tier 2 (asked) | none | "
                 "tier 1 rate | tiers 1+2 rate |", "|---|---|---|---|---|---|"]
        for tier in ("crisis", "possible", "none"):
            row = self.by_tier[tier]
            total = sum(row.values())
            if total:
                lines.append(f"| {tier} ({total}) | {row['crisis']} | {row['possible']} | {row['none']} | "
                             f"{row['crisis'] / total:.3f} | {(row['crisis'] + row['possible']) / total:.3f} |")
        lines += ["", "| crisis category | n | tier 1 | tiers 1+2 |", "|---|---|---|---|"]
        for category, row in sorted(self.by_category.items()):
            total = sum(row.values())
            lines.append(f"| {category} | {total} | {row['crisis'] / total:.3f} | "
                         f"{(row['crisis'] + row['possible']) / total:.3f} |")
        if show_misses and self.misses:
            lines += ["", f"Missed ({len(self.misses)}):"] + [f"- [{c}] {t}" for c, t in self.misses]
        return "\n".join(lines) + "\n"


async def main(argv: list[str]) -> int:
    import logging

    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog
    from bot.nlu.crisis_net import read_corpus
    # Rasa's structlog prints every parse's text at debug level: that would show the blind batches' messages
    # (and put message text in a log).
    configure_structlog(logging.WARNING)
    agent = Agent.load(argv[0])

    async def decide(text: str) -> str:
        return tier_of(await agent.parse_message(text))[0]

    development = Table("Development set (the lexicon's set and the net's corpus: regressions)")
    items = [(i.text, i.tier, i.category) for i in read_corpus()]
    for text, tier, category in items:
        development.add(text, tier, category, await decide(text))

    conversations = yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))
    turns, tier1, tier12, asked = 0, 0, 0, 0
    for conversation in conversations:
        decided = [await decide(turn) for turn in conversation["turns"]]
        turns += len(decided)
        tier1 += decided.count("crisis")
        tier12 += decided.count("crisis") + decided.count("possible")
        asked += "possible" in decided

    report = [development.markdown(),
              f"#### Ordinary traffic ({len(conversations)} conversations, {turns} messages, never trained on)\n",
              f"- tier-1 false alarms: {tier1}/{turns} = {tier1 / turns:.3f} (gate <= {MAX_TIER1_ALARMS})",
              f"- tiers 1+2: {tier12}/{turns} = {tier12 / turns:.3f} (gate <= {MAX_TIER12_ALARMS})",
              f"- conversations asked the possible-risk question: {asked} of {len(conversations)} "
              f"(gate <= {MAX_CONVERSATIONS_ASKED})", ""]
    if "--blind" in argv:
        for path, name, show_misses in ((BLIND, "BLIND batch", True),  # batches 2 to 5: aggregate only
                                        (BLIND_2, "BLIND batch 2", False), (BLIND_3, "BLIND batch 3", False),
                                        (BLIND_4, "BLIND batch 4", False), (BLIND_5, "BLIND batch 5", False),
                                        (BLIND_INTRUSIVE, "BLIND intrusive thoughts", False),
                                        (BLIND_6, "BLIND batch 6 (two-step)", False)):
            blind = Table(f"{name} ({path.name}: frozen before any tuning, "
                          f"{'report only' if show_misses else 'never read; aggregate only'})")
            for item in read_corpus([path]):
                blind.add(item.text, item.tier, item.category, await decide(item.text))
            report.append(blind.markdown(show_misses=show_misses))
    text = "\n".join(report)
    print(text)
    if "--report" in argv:
        Path(argv[argv.index("--report") + 1]).write_text(text, encoding="utf-8")

    failures = []
    for category in MUST_CATCH:
        if development.recall([category]) < 1.0:
            failures.append(f"development recall for {category} is {development.recall([category]):.3f} < 1.00")
    if development.recall() < MIN_OVERALL_RECALL:
        failures.append(f"development recall {development.recall():.3f} < {MIN_OVERALL_RECALL}")
    if tier1 / turns > MAX_TIER1_ALARMS:
        failures.append(f"tier-1 false alarms on ordinary traffic {tier1 / turns:.3f} > {MAX_TIER1_ALARMS}")
    if tier12 / turns > MAX_TIER12_ALARMS:
        failures.append(f"tiers 1+2 on ordinary traffic {tier12 / turns:.3f} > {MAX_TIER12_ALARMS}")
    if asked > MAX_CONVERSATIONS_ASKED:
        failures.append(f"{asked} ordinary conversations asked the question > {MAX_CONVERSATIONS_ASKED}")
    for failure in failures:
        print(f"GATE FAILED: {failure}")
    for category, text in development.misses:
        print(f"  missed [{category}] {text}")
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(main(sys.argv[1:])))
