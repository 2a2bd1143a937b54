"""The languages net's operating points, read on the read batches with each left out in turn (H59).

The languages net learns the read batches (bot.language.evaluation.READ_PARTS), so the figures on them no longer say
how it reads wording it has not seen. Here each read batch is read by a net that learned everything else (the other
read batches included), with today's lexicons, through the same decision as the assistant (crisis_net.assess), at
each candidate point: P(crisis) + P(possible) from which the net alone asks in another language, P(crisis) from
which it alarms for an emergency, and the risk below which an alarm only another language's lexicon raised is asked
instead (OTHER_LANGUAGE_DOUBT_THRESHOLD; chosen on the lexicons from before each batch's fixes, docs/clinical-safety.md
H58 and H59, which this script does not rebuild). Read data only: no blind part is read. Trains one net per read batch
and reads every held-out message at every point (about half an hour on 2 cores): `make languages-net-points`, not
part of `make test`.
"""
from __future__ import annotations

import itertools
import sys
from collections import defaultdict
from contextlib import contextmanager

from bot import crisis
from bot.language import evaluation
from bot.nlu import crisis_net

ASKS = (0.25, 0.3, 0.35, 0.4)
EMERGENCY = (0.7, 0.8)
DOUBT = (0.1, 0.15, 0.2)


THRESHOLDS = ("OTHER_LANGUAGE_POSSIBLE_THRESHOLD", "OTHER_LANGUAGE_EMERGENCY_THRESHOLD", "OTHER_LANGUAGE_DOUBT_THRESHOLD")


@contextmanager
def points(asks: float, emergency: float, doubt: float):
    saved = {name: getattr(crisis_net, name) for name in THRESHOLDS}
    for name, value in zip(THRESHOLDS, (asks, emergency, doubt)):
        setattr(crisis_net, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(crisis_net, name, value)


def read_batches() -> dict[str, list[dict]]:
    batches = defaultdict(list)
    for code in sorted(crisis_net.LANGUAGES_DIR.glob("*.yml")):
        for item in evaluation.labelled(code.stem):
            if evaluation.part_of(item) in evaluation.READ_PARTS:
                batches[evaluation.part_of(item)].append(item)
    return batches


def main() -> int:
    batches = read_batches()
    read_sources = tuple(f"/{part}" for part in evaluation.READ_PARTS)
    others = crisis_net.training_set() + [item for item in crisis_net.read_other_languages()
                                          if not item.source.endswith(read_sources)]
    grid = list(itertools.product(ASKS, EMERGENCY, DOUBT))
    totals = {point: [0, 0, 0, 0, 0, 0] for point in grid}  # crises, caught, at once, ordinary, alarms, asked
    for held_out, items in batches.items():
        learned = [crisis_net._labelled(item, f"read/{part}") for part, rest in batches.items() if part != held_out
                   for item in rest]
        net = crisis_net.CrisisNet(others + learned)
        readings = [(str(item["text"]), item["label"], crisis.analyse(str(item["text"]))) for item in items]
        saved, crisis_net.languages_net = crisis_net.languages_net, lambda: net
        try:
            for point in grid:
                with points(*point):
                    figures = totals[point]
                    for text, label, reading in readings:
                        tier = crisis_net.assess_analysed(text, reading)[0].tier
                        if label == evaluation.NOT_CRISIS:
                            figures[3:] = [figures[3] + 1, figures[4] + (tier == "crisis"),
                                           figures[5] + (tier == "possible")]
                        else:
                            figures[:3] = [figures[0] + 1, figures[1] + (tier != "none"),
                                           figures[2] + (tier == "crisis")]
        finally:
            crisis_net.languages_net = saved
        print(f"{held_out}: {len(items)} messages read by a net that learned the other read batches", file=sys.stderr)
    print("| asks from | emergency alarm from | doubt below | crises answered or asked | at once | ordinary: false "
          "alarms | ordinary: asked |\n|---|---|---|---|---|---|---|")
    for (asks, emergency, doubt), (crises, caught, at_once, ordinary, alarms, asked) in totals.items():
        print(f"| {asks} | {emergency} | {doubt} | {caught}/{crises} | {at_once} | {alarms}/{ordinary} | "
              f"{asked}/{ordinary} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
