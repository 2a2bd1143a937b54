"""python -m bot.language status | check [CODE...] | evaluate [CODE...] [--pipeline] | explain TEXT | identify TEXT"""
from __future__ import annotations

import json
import sys

from bot import language
from bot.language.lexicon import tokenize


def check(codes: list[str]) -> list[str]:
    """Every rule's examples match it and its not_examples don't; so for guards and the `over` and `not_over` words."""
    problems: list[str] = []
    for path in language.language_files():  # strictly: a file that fails to load is a problem, not a skip
        if codes and path.stem not in codes:
            continue
        try:
            language._load(path)
        except Exception as error:  # noqa: BLE001
            problems.append(f"{path.stem}: does not load: {error}")
    for lang in language.languages().values():
        if codes and lang.code not in codes:
            continue
        lex = lang.lexicon
        for rule in lex.rules + lex.ask_rules:
            for example in rule.examples:
                hits, _ = lex.hits(example)
                if not any(h.rule == rule.id for h in hits):
                    problems.append(f"{lang.code} {rule.id}: example not matched (or guarded): {example!r}")
            for example in rule.not_examples:
                hits, _ = lex.hits(example)
                if any(h.rule == rule.id for h in hits):
                    problems.append(f"{lang.code} {rule.id}: not_example matched: {example!r}")
        for guard in lex.guards + lex.over + lex.not_over:
            for example in guard.examples:
                if not lex.rule_hits(guard, example):
                    problems.append(f"{lang.code} {guard.id}: example not matched: {example!r}")
            for example in guard.not_examples:
                if lex.rule_hits(guard, example):
                    problems.append(f"{lang.code} {guard.id}: not_example matched: {example!r}")
        missing = [k for k in language.RESPONSE_KEYS if k not in lang.responses]
        if missing:
            problems.append(f"{lang.code}: responses missing {missing}")
    return problems


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command = args.pop(0) if args else "status"
    if command == "status":
        print(json.dumps(language.status(), ensure_ascii=False, indent=2))
        return 0
    if command == "check":
        problems = check(args)
        print("\n".join(problems) or "ok")
        return 1 if problems else 0
    if command == "evaluate":
        from bot.language.evaluation import report
        show_blind = "--show-blind" in args
        codes = [a for a in args if not a.startswith("--")]
        print(report(codes or sorted(language.languages()), show_blind, dev_only="--dev" in args))
        if "--pipeline" in args:
            from bot.language.evaluation import MEASURED_PARTS, pipeline_report
            for part in MEASURED_PARTS:
                print(f"\nThe whole pipeline (lexicons, then the crisis net), {part} part:\n")
                print(pipeline_report(codes or sorted(language.languages()), part))
        return 0
    text = " ".join(args)
    if command == "identify":
        print(language.identify(text))
        return 0
    if command == "explain":
        for lang in language.languages().values():
            hits, guards = lang.lexicon.hits(text)
            tokens = [t.text for t in tokenize(text, lang.lexicon.fold_marks, lang.lexicon.characters)]
            if hits or guards:
                print(lang.code, "tokens:", tokens)
                for h in hits + guards:
                    print("  ", h.rule, h.category or "guard", repr(text[h.start:h.end]))
        print(language.identify(text))
        return 0
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
