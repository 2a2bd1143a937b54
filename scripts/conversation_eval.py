"""Judge whole conversations nobody in the project wrote: tests/data/conversations_unseen.yml.

Starts the assistant (the trained MODEL, the action server, a fresh seed directory) as the end-to-end
tests do, plays each scenario over REST as the person would (answering each question from the
scenario's `answers`), and judges the end:

- suitable: suggestions came; every one is for the person's audience and stage (unless unknown), and
  in reach (local to their health board, or national); none is offered only in formats they refused;
  if they asked for a format, the first suggestion offers it or says plainly that it does not; if they
  stated a need that some service in reach meets, the first suggestion meets one;
- no question asked more than twice.

Report only: never tune on these scenarios (docs/conversation-evaluation.md says so too).

    MODEL=models/<fingerprint>.tar.gz python scripts/conversation_eval.py [--scenarios FILE] [--out REPORT]

Sets 2 to 7 (tests/data/conversations_unseen_2.yml … _7.yml, six other writers) report to
docs/conversation-evaluation-2.md … -7.md: `make conversation-report` runs all seven.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from datetime import date
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import session_scope  # noqa: E402
from bot.geography import resolve  # noqa: E402
from bot.matching import MatchRequest, find_matches  # noqa: E402
from bot.vocabulary import STAGES, areas  # noqa: E402
from tests.conversation_driver import drive  # noqa: E402
from tests.servers import Servers  # noqa: E402

SCENARIOS = ROOT / "tests" / "data" / "conversations_unseen.yml"


def shown_path(path: Path) -> str:
    """The scenario file as the report names it: relative to the project, or as given (a file written elsewhere)."""
    resolved = path.resolve()
    return str(resolved.relative_to(ROOT)) if resolved.is_relative_to(ROOT) else str(path)


def in_reach(service: dict, board: str | None) -> bool:
    if set(service["areas"]) & {"scotland", "uk"}:
        return True
    return board is not None and any(areas()[c].board_code == board for c in service["areas"] if c in areas())


def need_available(url: str, expect: dict, board: str | None, council: str | None,
                   postcode_area: str | None = None) -> bool:
    """Does any service in reach meet one of the stated needs (so the first suggestion should)? In reach of
    the place itself: a service for Caithness only is not in reach of Skye, though both are in Highland."""
    with session_scope(url) as session:
        for need in expect.get("needs") or []:
            request = MatchRequest(council_code=council, board_code=board, postcode_area=postcode_area,
                                   audience=expect.get("audience"),
                                   stage=expect.get("stage") if expect.get("stage") in STAGES else None,
                                   needs=(need,), limit=1)
            found = find_matches(session, request)
            if found.matches and found.matches[0].needs_met:
                return True
    return False


def judge(run, expect: dict, url: str) -> list[str]:
    problems = []
    if run.most_asked > 2:
        problems.append(f"a question was asked {run.most_asked} times")
    found = run.services
    if not found:
        return problems + ["no suggestion"]
    place = resolve(str(expect.get("council_or_place") or ""))
    board = place.board_code if place.status == "resolved" else None
    council = place.council_code if place.status == "resolved" else None
    audience, stage = expect.get("audience"), expect.get("stage")
    if audience and not all(audience in s["audiences"] for s in found):
        problems.append(f"a suggestion is not for {audience}")
    if stage in STAGES and not all(stage in s["stages"] for s in found):
        problems.append(f"a suggestion is not for {stage}")
    if not all(in_reach(s, board) for s in found):
        problems.append("a suggestion is out of reach")
    avoid = set(expect.get("avoid_formats") or [])
    if avoid and any(set(s["formats"]) <= avoid for s in found):
        problems.append(f"a suggestion offers only refused formats {sorted(avoid)}")
    wanted = expect.get("format")
    if wanted and wanted != "any" and wanted not in found[0]["formats"] and "does not offer" not in found[0]["reason"]:
        problems.append(f"first suggestion does not offer {wanted} and does not say so")
    needs = set(expect.get("needs") or [])
    postcode_area = place.postcode_area if place.status == "resolved" else None
    if needs and need_available(url, expect, board, council, postcode_area) and not needs & set(found[0]["needs"]):
        problems.append(f"first suggestion does not meet the stated need {sorted(needs)}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scenarios", type=Path, default=SCENARIOS)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "conversation-evaluation.md")
    args = parser.parse_args()
    scenarios = yaml.safe_load(args.scenarios.read_text(encoding="utf-8"))["scenarios"]
    workdir = Path(tempfile.mkdtemp(prefix="conversation-eval-"))
    servers = Servers(workdir).start()
    url = f"sqlite:///{workdir / 'directory.db'}"
    results = []
    try:
        for scenario in scenarios:
            sender = f"eval-{uuid.uuid4().hex[:10]}"
            run = drive(lambda text: servers.say(sender, text), scenario["opener"], scenario["answers"])
            expect = dict(scenario.get("expect") or {})
            results.append((scenario, run, judge(run, expect, url)))
    finally:
        servers.stop()
    suitable = sum(1 for _, _, problems in results if not problems)
    asked_ok = sum(1 for _, run, _ in results if run.most_asked <= 2)
    turns = sorted(run.turns for _, run, _ in results)
    lines = [f"# Conversation evaluation ({date.today()})", "",
             f"{len(results)} scenarios from {shown_path(args.scenarios)}, written independently of the",
             "training data and never tuned on; played over REST by `make conversation-report`",
             "(scripts/conversation_eval.py says what counts as suitable).", "",
             f"- ended in a suitable suggestion: **{suitable}/{len(results)} ({suitable / len(results):.0%})**",
             f"- no question asked more than twice: **{asked_ok}/{len(results)}**",
             f"- turns to the first suggestion: median {turns[len(turns) // 2]}, most {turns[-1]}", "",
             "## Not suitable", ""]
    for scenario, run, problems in results:
        if problems:
            lines += [f"### {scenario['id']} ({scenario.get('channel', 'web')}): {'; '.join(problems)}", ""]
            lines += [f"- **{who}:** " + text.replace("\n", " / ") for who, text in run.transcript] + [""]
    history = args.out.read_text(encoding="utf-8").split("\n## History\n", 1) if args.out.exists() else []
    if len(history) == 2:  # kept by hand across runs: what earlier runs found
        lines += ["## History", history[1].rstrip("\n")]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"Suitable: {suitable}/{len(results)}; no question more than twice: {asked_ok}/{len(results)}. "
          f"Wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
