"""Write docs/nlu-evaluation.md from a `rasa test nlu --cross-validation` run plus the entity test set.

Intents and FAQ answers are classified by DIET/ResponseSelector (Rasa's cross-validation report);
entities come from our rule component, so they are scored here on tests/data/entities_labelled.yml.

    python scripts/nlu_report.py results/nlu-cv docs/nlu-evaluation.md
"""
from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def entity_scores() -> dict[str, dict[str, float]]:
    from bot.nlu.entities import extract
    cases = yaml.safe_load((ROOT / "tests" / "data" / "entities_labelled.yml").read_text(encoding="utf-8"))
    tp, fp, fn = Counter(), Counter(), Counter()
    for case in cases:
        text = case["text"]
        gold = {(k, v) for k, values in case["entities"].items()
                for v in (values if isinstance(values, list) else [values])}
        predicted = {(e["entity"], text[e["start"]:e["end"]] if e["entity"] == "location" else e["value"])
                     for e in extract(text)}
        for entity, _ in gold & predicted:
            tp[entity] += 1
        for entity, _ in predicted - gold:
            fp[entity] += 1
        for entity, _ in gold - predicted:
            fn[entity] += 1
    scores = {}
    for entity in sorted(set(tp) | set(fp) | set(fn)):
        p = tp[entity] / (tp[entity] + fp[entity]) if tp[entity] + fp[entity] else 0.0
        r = tp[entity] / (tp[entity] + fn[entity]) if tp[entity] + fn[entity] else 0.0
        scores[entity] = {"precision": p, "recall": r, "f1": 2 * p * r / (p + r) if p + r else 0.0,
                          "support": tp[entity] + fn[entity]}
    return scores


def main(results: Path, out: Path) -> None:
    intents = json.loads((results / "intent_report.json").read_text())
    lines = [f"# NLU evaluation ({date.today()})", "",
             "Reproduce with `make cross-validate` (3-fold cross-validation of config.yml on data/nlu).", "",
             "## Intents (DIETClassifier, 3-fold cross-validation)", "",
             f"- accuracy: **{intents['accuracy']:.3f}**",
             f"- weighted F1: **{intents['weighted avg']['f1-score']:.3f}**",
             f"- macro F1: **{intents['macro avg']['f1-score']:.3f}**", "",
             "| intent | precision | recall | F1 | examples |", "|---|---:|---:|---:|---:|"]
    for name, row in sorted(intents.items()):
        if isinstance(row, dict) and "support" in row and name not in ("weighted avg", "macro avg", "micro avg"):
            lines.append(f"| {name} | {row['precision']:.3f} | {row['recall']:.3f} | {row['f1-score']:.3f} | "
                         f"{row['support']} |")
    responses = results / "response_selection_report.json"
    if responses.exists():
        report = json.loads(responses.read_text())
        lines += ["", "## FAQ answers (ResponseSelector)", "",
                  f"- accuracy: **{report['accuracy']:.3f}**, weighted F1: "
                  f"**{report['weighted avg']['f1-score']:.3f}**"]
    scores = entity_scores()
    lines += ["", "## Entities (DirectoryEntityExtractor, rules; tests/data/entities_labelled.yml)", "",
              "| entity | precision | recall | F1 | gold |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {e} | {s['precision']:.3f} | {s['recall']:.3f} | {s['f1']:.3f} | {s['support']} |"
              for e, s in scores.items()]
    errors_file = results / "intent_errors.json"
    if errors_file.exists():
        errors = json.loads(errors_file.read_text())
        confused = Counter((e["intent"], e["intent_prediction"]["name"]) for e in errors).most_common(8)
        lines += ["", "## Most frequent confusions (gold → predicted)", ""]
        lines += [f"- {gold} → {predicted}: {count}" for (gold, predicted), count in confused]
    lines += ["", "## Reading these figures", "",
              "- Each fold trains on two thirds of about 1,100 examples (≈ 20 per small intent), so these are",
              "  lower than the shipped model, which trains on all of them.",
              "- Crisis intents' recall includes the lexicon component, which overrides DIET on every message",
              "  it recognises; the detector's own figures are in `make crisis-eval` and",
              "  `make crisis-eval-pipeline` (docs/clinical-safety.md).",
              "- Most errors are between benign intents (short chit-chat, `inform` vs `find_support`); the",
              "  conversation recovers through the form, buttons and the two-stage fallback. More real,",
              "  harvested conversations are the way to raise these numbers."]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"Wrote {out}: intent weighted F1 {intents['weighted avg']['f1-score']:.3f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
