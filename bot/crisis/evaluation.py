"""Measuring the lexicon on a labelled set: recall per category, false alarms, third-party checks, speed."""
from __future__ import annotations

import sys
import time

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot import DATA_DIR
from bot.crisis.loading import _yaml
from bot.crisis.signals import CATEGORIES, CrisisSignal, _RANK


LABELLED_FILE = DATA_DIR / "crisis" / "corpus" / "lexicon_set.yml"

# Evaluation gates (`python -m bot.crisis evaluate`).
MIN_RECALL = 1.0
MAX_FALSE_POSITIVE_RATE = 0.03


# --------------------------------------------------------------------------- evaluation

@dataclass
class Evaluation:
    """Results of running the detector over a labelled set."""

    total: int
    per_category: dict[str, tuple[int, int]]  # category → (found with the right category, labelled)
    misses: list[tuple[str, str, CrisisSignal | None]]  # (text, expected, got)
    false_alarms: list[tuple[str, CrisisSignal]]
    third_party_mismatches: list[tuple[str, bool, bool]]  # (text, expected, got)
    negatives: int
    seconds: list[float]

    @property
    def crisis_total(self) -> int:
        return sum(n for _, n in self.per_category.values())

    @property
    def recall(self) -> float:
        """Crisis messages given their exact category, over all crisis messages."""
        found = sum(k for k, _ in self.per_category.values())
        return found / self.crisis_total if self.crisis_total else 1.0

    @property
    def detected_any(self) -> float:
        """Crisis messages detected as some crisis (maybe the wrong category)."""
        if not self.crisis_total:
            return 1.0
        wrong_category = sum(1 for _, _, got in self.misses if got is not None)
        found = sum(k for k, _ in self.per_category.values())
        return (found + wrong_category) / self.crisis_total

    @property
    def false_positive_rate(self) -> float:
        return len(self.false_alarms) / self.negatives if self.negatives else 0.0

    @property
    def passed(self) -> bool:
        return self.recall >= MIN_RECALL and self.false_positive_rate <= MAX_FALSE_POSITIVE_RATE


def load_labelled(path: Path | str | None = None) -> list[dict[str, Any]]:
    """The labelled set: [{text, category (or None), third_party (optional)}]."""
    items = _yaml(Path(path or LABELLED_FILE)) or []
    for item in items:
        if item.get("category") is not None and item["category"] not in _RANK:
            raise ValueError(f"unknown category {item['category']!r} for {item.get('text')!r}")
        item["text"] = "" if item.get("text") is None else str(item["text"])
    return items


def evaluate(path: Path | str | None = None) -> Evaluation:
    from bot.crisis import detect  # the public API, which imports this module
    items = load_labelled(path)
    for item in items:  # load and warm up outside the timing: report steady-state speed
        detect(item["text"])
    per_category = {c: [0, 0] for c in CATEGORIES}
    misses, false_alarms, mismatches, seconds = [], [], [], []
    negatives = 0
    for item in items:
        text, expected = item["text"], item.get("category")
        t0 = time.perf_counter()
        got = detect(text)
        seconds.append(time.perf_counter() - t0)
        if expected is None:
            negatives += 1
            if got is not None:
                false_alarms.append((text, got))
            continue
        per_category[expected][1] += 1
        if got is not None and got.category == expected:
            per_category[expected][0] += 1
            want_third = bool(item.get("third_party", False))
            if got.third_party != want_third:
                mismatches.append((text, want_third, got.third_party))
        else:
            misses.append((text, expected, got))
    return Evaluation(len(items), {c: (k, n) for c, (k, n) in per_category.items()}, misses, false_alarms,
                      mismatches, negatives, seconds)


def _report(ev: Evaluation, out: Any = None) -> None:
    def p(line: str = "") -> None:
        print(line, file=out or sys.stdout)

    p(f"Crisis detector — {ev.total} labelled messages ({ev.crisis_total} crisis, {ev.negatives} not crisis)")
    p()
    p(f"{'category':<20} {'recall':>8}  found/labelled")
    for code, (k, n) in ev.per_category.items():
        rate = f"{k / n:.1%}" if n else "n/a"
        p(f"{code:<20} {rate:>8}  {k}/{n}")
    p()
    p(f"overall recall (right category): {ev.recall:.1%}   (gate: >= {MIN_RECALL:.0%})")
    p(f"detected as some crisis:         {ev.detected_any:.1%}")
    p(f"false-positive rate:             {ev.false_positive_rate:.1%} "
      f"({len(ev.false_alarms)}/{ev.negatives})   (gate: <= {MAX_FALSE_POSITIVE_RATE:.0%})")
    if ev.seconds:
        ordered = sorted(ev.seconds)
        mean = sum(ordered) / len(ordered) * 1000
        p95 = ordered[int(0.95 * (len(ordered) - 1))] * 1000
        p(f"time per message:                mean {mean:.2f} ms, p95 {p95:.2f} ms, max {ordered[-1] * 1000:.2f} ms")
    p()
    p(f"Misses ({len(ev.misses)}):")
    for text, expected, got in ev.misses:
        seen = f"got {got.category} via {got.rule} ({got.phrase!r})" if got else "got nothing"
        p(f"  - expected {expected}, {seen}: {text!r}")
    p(f"False alarms ({len(ev.false_alarms)}):")
    for text, got in ev.false_alarms:
        p(f"  - {got.category} via {got.rule} ({got.phrase!r}): {text!r}")
    if ev.third_party_mismatches:
        p(f"Third-party flag differs ({len(ev.third_party_mismatches)}) — not gated:")
        for text, want, got_flag in ev.third_party_mismatches:
            p(f"  - expected third_party={want}, got {got_flag}: {text!r}")
    p()
    p("PASS" if ev.passed else "FAIL")
