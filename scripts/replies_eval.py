"""How the whole NLU pipeline reads whole-message replies to the assistant's yes/no questions.

    python scripts/replies_eval.py MODEL OUT_DIR   (make nlu-replies; read by scripts/nlu_report.py)

tests/data/replies_independent.yml was written by a writer who had seen neither the reply table nor the
training data. Writes OUT_DIR/report.json: for each kind of reply, how many were read as what.
"""
from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
REPLIES = ROOT / "tests" / "data" / "replies_independent.yml"
KINDS = ("yes", "no", "hesitant_yes", "unclear")


async def read_all(model: str) -> dict[str, dict[str, int]]:
    from rasa.core.agent import Agent
    agent = Agent.load(model)
    replies = yaml.safe_load(REPLIES.read_text(encoding="utf-8"))
    report = {}
    for kind in KINDS:
        intents = Counter()
        for text in replies[kind]:
            intents[(await agent.parse_message(str(text)))["intent"]["name"]] += 1
        report[kind] = dict(intents.most_common())
    return report


def main(model: str, out: Path) -> None:
    logging.disable(logging.WARNING)
    report = asyncio.run(read_all(model))
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for kind, intents in report.items():
        print(f"{kind}: {intents}")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]))
