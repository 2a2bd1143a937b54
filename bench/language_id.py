"""Language identification: lingua (what the assistant uses) against langid.py and langdetect, on the labelled
short and mixed messages in tests/data/multilingual/language_id.yml, plus every English NLU example.

    make bench-language-id     # installs the two comparison libraries (requirements-bench.txt) first

Each library is asked the same thing the assistant asks: which of our languages is this, or English, or
something else. "raw" is the library's own answer; "as used" is lingua behind bot.language.identify's rules
(script first; Latin-script text only when long enough and confident). Writes bench/language_id.md.
"""
from __future__ import annotations

import os
import platform
import time
from collections import Counter
from pathlib import Path

import yaml

from bot import language

ROOT = Path(__file__).resolve().parent.parent
OURS = {"en", "pl", "uk", "ro", "ar", "ur", "pa", "zh"}


def labelled() -> list[tuple[str, str]]:
    items = yaml.safe_load((ROOT / "tests/data/multilingual/language_id.yml").read_text(encoding="utf-8"))["messages"]
    return [(m["text"], m["language"] if m["language"] in OURS else "other") for m in items]


def english_training() -> list[str]:
    import re
    texts = []
    for path in (ROOT / "data/nlu").glob("*.yml"):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu") or []:
            texts += [re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line[2:]) for line in
                      str(block.get("examples", "")).splitlines() if line.startswith("- ")]
    return texts


def _norm(code: str | None) -> str:
    code = (code or "").lower().split("-")[0]
    return {"zh": "zh", "zh_cn": "zh"}.get(code, code) if code in OURS or code.startswith("zh") else "other"


def lingua_raw():
    from lingua import LanguageDetectorBuilder
    detector = LanguageDetectorBuilder.from_all_languages().build()
    return lambda text: _norm(detector.detect_language_of(text).iso_code_639_1.name if
                              detector.detect_language_of(text) else None)


def langid_raw():
    import langid
    return lambda text: _norm(langid.classify(text)[0])


def langdetect_raw():
    from langdetect import DetectorFactory, detect
    DetectorFactory.seed = 0

    def run(text: str) -> str:
        try:
            return _norm(detect(text))
        except Exception:  # noqa: BLE001 — no features (digits, emoji): its answer is "unknown"
            return "other"
    return run


def measure(name: str, classify, items, english) -> dict:
    started = time.perf_counter()
    results = [(gold, classify(text)) for text, gold in items]
    english_wrong = sum(classify(text) != "en" for text in english)
    per_message_ms = (time.perf_counter() - started) / (len(items) + len(english)) * 1000
    by_language = Counter(gold for gold, _ in results)
    right = Counter(gold for gold, got in results if gold == got)
    return {"name": name, "accuracy": sum(right.values()) / len(results),
            "short_english_wrong": sum(1 for gold, got in results if gold == "en" and got != "en"),
            "english_total": by_language["en"], "training_wrong": english_wrong, "training_total": len(english),
            "per_language": {code: f"{right[code]}/{by_language[code]}" for code in sorted(by_language)},
            "ms": per_message_ms}


def main() -> None:
    items, english = labelled(), english_training()
    rows = [measure("lingua, as used (bot.language.identify)", lambda t: language.identify(t).code, items, english),
            measure("lingua 2.1.1, raw (all languages)", lingua_raw(), items, english),
            measure("langid.py 1.1.6, raw", langid_raw(), items, english),
            measure("langdetect 1.0.9, raw", langdetect_raw(), items, english)]
    codes = sorted({c for r in rows for c in r["per_language"]})
    lines = ["# Language identification: which library, and why", "",
             f"Measured {time.strftime('%Y-%m-%d')} on {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, Python {platform.python_version()}, by `make bench-language-id`.",
             f"{len(items)} labelled short or mixed messages (tests/data/multilingual/language_id.yml) and "
             f"{len(english)} English NLU examples.", "",
             "| library | accuracy | short English taken for another language | English NLU examples taken for "
             "another language | " + " | ".join(codes) + " | ms/message |",
             "|---" * (5 + len(codes)) + "|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['accuracy']:.2f} | {r['short_english_wrong']}/{r['english_total']} | "
                     f"{r['training_wrong']}/{r['training_total']} | "
                     + " | ".join(r["per_language"].get(c, "") for c in codes) + f" | {r['ms']:.2f} |")
    lines += ["", "Why lingua: it ships its models inside the package (no download at run time), scores short texts "
              "better than the n-gram libraries, and gives a confidence for every language, which is what lets "
              "the assistant default to English unless another language is clearly more likely. Raw, every "
              "library takes most short English and Scots messages for another language (\"aye\", \"ok ta\", "
              "a postcode); the rules in bot.language.identify (script first; Latin text only with three words, "
              "lingua at 0.5 or more and English at 0.03 or less) are what make it safe. Romanised Urdu and "
              "Punjabi are beyond all three; their crisis words are caught by their lexicons instead."]
    out = ROOT / "bench" / "language_id.md"
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
