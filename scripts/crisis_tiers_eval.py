"""Tiers on labelled messages the crisis net never trained on (lexicon + net; DIET is measured with the
trained model by scripts/crisis_pipeline_eval.py).

    python scripts/crisis_tiers_eval.py             leave-one-batch-out on data/crisis/corpus (the lexicon's
                                                    own set is one batch) and 100 ordinary conversations
    python scripts/crisis_tiers_eval.py --blind     also the frozen blind batch (report only; never tune on it)
"""
from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot import crisis  # noqa: E402
from bot.nlu import crisis_net  # noqa: E402

CONVERSATIONS = ROOT / "tests" / "data" / "crisis" / "ordinary_conversations.yml"
BLIND = ROOT / "tests" / "data" / "crisis" / "blind" / "crisis_blind.yml"


def decisions(net: crisis_net.CrisisNet, texts: list[str]) -> list[crisis_net.Decision]:
    views = net.views(texts)
    out = []
    for text, view in zip(texts, views):
        signal = crisis.detect(text)
        out.append(crisis_net.decide(signal.category if signal else None, None,
                                     crisis.recognised_as_figurative(text), view))
    return out


def summarise(name: str, items: list[crisis_net.Labelled], found: list[crisis_net.Decision]) -> dict:
    by_tier = defaultdict(Counter)
    per_category = defaultdict(Counter)
    for item, decision in zip(items, found):
        by_tier[item.tier][decision.tier] += 1
        if item.tier == "crisis":
            per_category[item.category][decision.tier] += 1
    print(f"\n## {name} ({len(items)} messages)\n")
    print("| labelled \\ decided | crisis | possible | none | tier 1 | tiers 1+2 |")
    print("|---|---|---|---|---|---|")
    for tier in crisis_net.TIERS:
        row = by_tier[tier]
        total = sum(row.values()) or 1
        print(f"| {tier} ({sum(row.values())}) | {row['crisis']} | {row['possible']} | {row['none']} | "
              f"{row['crisis'] / total:.2f} | {(row['crisis'] + row['possible']) / total:.2f} |")
    print("\n| crisis category | n | tier 1 | tiers 1+2 |\n|---|---|---|---|")
    for category in crisis.CATEGORIES:
        row = per_category[category]
        total = sum(row.values())
        if total:
            print(f"| {category} | {total} | {row['crisis'] / total:.2f} | "
                  f"{(row['crisis'] + row['possible']) / total:.2f} |")
    return by_tier


def main(argv: list[str]) -> int:
    corpus = crisis_net.read_corpus()
    nlu = crisis_net.read_nlu_examples()
    batches = sorted({item.source for item in corpus})
    for held in batches:
        train = [i for i in corpus if i.source != held] + nlu
        test = [i for i in corpus if i.source == held]
        summarise(f"corpus batch '{held}', net trained without it", test,
                  decisions(crisis_net.CrisisNet(train), [i.text for i in test]))
    full = crisis_net.CrisisNet(corpus + nlu)
    conversations = yaml.safe_load(CONVERSATIONS.read_text(encoding="utf-8"))
    asked, alarmed, turns = 0, 0, 0
    for conversation in conversations:
        found = decisions(full, conversation["turns"])
        turns += len(found)
        asked += any(d.tier == "possible" for d in found)
        alarmed += any(d.tier == "crisis" for d in found)
    print(f"\n## {len(conversations)} ordinary conversations ({turns} turns, never trained on)\n")
    print(f"- asked the possible-risk question: {asked} conversations")
    print(f"- given a crisis answer: {alarmed} conversations")
    if "--blind" in argv:
        blind = crisis_net.read_corpus([BLIND])
        summarise("BLIND batch (frozen before any tuning; report only)", blind,
                  decisions(full, [i.text for i in blind]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
