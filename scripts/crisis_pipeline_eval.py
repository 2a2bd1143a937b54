"""Crisis recall and false-positive rate of the whole trained NLU pipeline (both nets) on the labelled set.

`python -m bot.crisis evaluate` scores the lexicon alone; this scores what the assistant actually does:
the trained model's parse of each message (DIET's crisis intents + the lexicon component).

    python scripts/crisis_pipeline_eval.py MODEL [tests/data/crisis_labelled.yml]
Exit 1 if recall < 1.00 or the false-positive rate > 3%.
"""
from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def main(model: str, labelled: Path) -> int:
    from rasa.core.agent import Agent
    from bot.escalation.broker import category_of
    agent = Agent.load(model)
    cases = yaml.safe_load(labelled.read_text(encoding="utf-8"))
    cases = cases["messages"] if isinstance(cases, dict) else cases
    hits, totals, false_alarms, wrong_category, misses = Counter(), Counter(), [], [], []
    negatives = 0
    by_net = Counter()
    for case in cases:
        parsed = await agent.parse_message(case["text"])
        predicted = category_of(parsed)
        gold = case.get("category")
        if gold:
            totals[gold] += 1
            if predicted:
                hits[gold] += 1
                by_net[next((e.get("extractor") for e in parsed.get("entities", [])
                             if e.get("entity") == "crisis_category"), "intent")] += 1
                if predicted != gold:
                    wrong_category.append((case["text"], gold, predicted))
            else:
                misses.append((case["text"], gold))
        else:
            negatives += 1
            if predicted:
                false_alarms.append((case["text"], predicted))
    recall = sum(hits.values()) / max(1, sum(totals.values()))
    fpr = len(false_alarms) / max(1, negatives)
    print(f"Whole pipeline on {labelled.name}: {sum(totals.values())} crisis, {negatives} not crisis")
    for category in sorted(totals):
        print(f"  {category:20s} recall {hits[category] / totals[category]:.3f} ({hits[category]}/{totals[category]})")
    print(f"recall (detected as any crisis): {recall:.3f}")
    print(f"false-positive rate: {fpr:.3f} ({len(false_alarms)}/{negatives})")
    print(f"detected by: {dict(by_net)}; wrong category (still escalated): {len(wrong_category)}")
    for text, gold in misses:
        print(f"  MISSED [{gold}] {text}")
    for text, predicted in false_alarms:
        print(f"  FALSE ALARM [{predicted}] {text}")
    return 0 if recall >= 1.0 and fpr <= 0.03 else 1


if __name__ == "__main__":
    labelled_path = Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "tests" / "data" / "crisis_labelled.yml"
    sys.exit(asyncio.run(main(sys.argv[1], labelled_path)))
