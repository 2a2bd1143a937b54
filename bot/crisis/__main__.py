"""python -m bot.crisis evaluate [PATH] | explain TEXT…"""
from __future__ import annotations

import argparse
import sys

from bot.crisis import explain
from bot.crisis.evaluation import LABELLED_FILE, _report, evaluate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.crisis", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ev = sub.add_parser("evaluate", help="recall and false alarms on a labelled set")
    ev.add_argument("path", nargs="?", default=str(LABELLED_FILE))
    ex = sub.add_parser("explain", help="what the detector sees in one message")
    ex.add_argument("text", nargs="+")
    args = parser.parse_args(argv)
    if args.command == "evaluate":
        result = evaluate(args.path)
        _report(result)
        return 0 if result.passed else 1
    text = " ".join(args.text)
    info = explain(text)
    print(f"normalised: {info['normalised']!r}")
    print(f"tokens:     {info['tokens']}")
    for sig in info["signals"]:
        who = "someone else" if sig.third_party else "the writer"
        print(f"SIGNAL  {sig.category:<18} {sig.rule:<8} {sig.phrase!r}  (at risk: {who})")
    for item in info["suppressed"]:
        print(f"guarded {item['rule']:<8} by {item['guard']}: {item['phrase']!r}")
    fired = {(sig.rule, sig.phrase) for sig in info["signals"]}
    for rule_id, phrase in info["weak"]:
        if not any(r == rule_id for r, _ in fired):
            print(f"weak    {rule_id:<8} {phrase!r} (needs a second, different weak sign)")
    if not info["signals"]:
        print("no crisis signal")
    return 0


if __name__ == "__main__":
    sys.exit(main())
