"""python -m bot.directory — keep the peer-support service directory right.

Commands:
  init       create or upgrade the database schema; seed it from data/directory/services.yml if empty
  import     add or update services from YAML/JSON (ours or Open Referral UK) or CSV files — all or nothing
  export     print every service as json, csv or oruk (Open Referral UK / HSDS 3.0 JSON)
             Open Referral records that can't be mapped are held for review, not imported
  held       list the feed records held for review, and why (--clear ID once dealt with)
  validate   check files (without importing them) or, with no files, the database: health board × format
             combinations nothing reaches, closed services still given out; records due for review warn
  review     records due for re-verification: checked over a year ago, or a source over two years old
  coverage   the health board × format (and × audience) grid of local versus national-only provision
  search     what a person in an area would be offered (as operators see it, with reasons)

The database is DATABASE_URL (default: SQLite at var/directory.db).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sqlalchemy import func, select

from bot import migrate
from bot.db import session_scope
from bot.directory import SEED_FILE
from bot.directory.checks import closed_but_reachable, coverage_markdown, coverage_text, due_for_review
from bot.directory.files import read_file, read_records, write_csv, write_json, write_oruk
from bot.directory.records import ImportFailed
from bot.directory.store import (cache_mismatches, clear_held, coverage_gaps, hold, held_records, load_records,
                                 replace_all, save_records)
from bot.matching import MatchRequest, find_matches
from bot.models import Service
from bot.vocabulary import AUDIENCES, FORMATS, NEEDS, STAGES


def locate_postcode(postcode: str) -> tuple[int, int] | None:
    from bot.geography import resolve  # the postcode data loads only when an import has locations
    found = resolve(postcode)
    return (found.easting, found.northing) if found.status == "resolved" and found.easting else None


def cmd_init(args) -> int:
    migrate.upgrade()
    with session_scope() as session:
        count = session.scalar(select(func.count()).select_from(Service))
        if count == 0 and not args.empty:
            records = read_records(args.seed)
            save_records(session, records, locate_postcode)
            print(f"Database ready; seeded {len(records)} services from {args.seed}.")
        else:
            print(f"Database ready; it holds {count} services.")
            if not args.empty and args.seed.exists():
                _report_seed_drift(session, args.seed)
    return 0


def _report_seed_drift(session, seed: Path) -> None:
    """The database is the directory once seeded (managers edit it); say when the seed file has moved on,
    e.g. a service found closed, so the operator can choose to take the change."""
    stored = {r.id: r.to_dict() for r in load_records(session)}
    changed = [r.id for r in read_records(seed) if stored.get(r.id) != r.to_dict()]
    if changed:
        print(f"{len(changed)} service(s) in {seed} differ from the database ({', '.join(changed[:5])}"
              f"{', ...' if len(changed) > 5 else ''}). To take them: python -m bot.directory import {seed}")


def cmd_import(args) -> int:
    records, held = [], []
    for path in args.files:  # every file of ours must parse before any write
        found, held_here = read_file(path, args.source)
        records += found
        held += held_here
    migrate.upgrade()
    with session_scope() as session:
        count = (replace_all if args.replace else save_records)(session, records, locate_postcode)
        hold(session, held)
    print(f"Imported {count} services from {len(args.files)} file(s).")
    if held:
        print(f"Held {len(held)} record(s) for review (see `python -m bot.directory held`):")
        for h in held:
            print(f"  {h.feed} #{h.row} {h.name or h.external_id or '(no name)'}: {'; '.join(h.reasons)}")
    return 0


def cmd_held(args) -> int:
    migrate.upgrade()
    with session_scope() as session:
        if args.clear is not None:
            found = clear_held(session, args.clear)
            print(f"Cleared held record {args.clear}." if found else f"No held record {args.clear}.")
            return 0 if found else 1
        rows = held_records(session)
        for row in rows:
            name = row.name or row.external_id or "(no name)"
            print(f"{row.id}. {name} — from {row.feed}, held {row.held_at:%Y-%m-%d}")
            for reason in row.reasons.splitlines():
                print(f"   - {reason}")
    print(f"{len(rows)} record(s) held for review.")
    return 0


def cmd_export(args) -> int:
    with session_scope() as session:
        records = load_records(session)
    text = {"json": write_json, "csv": write_csv, "oruk": write_oruk}[args.format](records)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"Wrote {len(records)} services to {args.output}.", file=sys.stderr)
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0


def cmd_validate(args) -> int:
    if args.files:
        records = [r for path in args.files for r in read_records(path)]
        source = ", ".join(str(p) for p in args.files)
        mismatched = []
    else:
        with session_scope() as session:
            records = load_records(session)
            mismatched = cache_mismatches(session)
        source = "the database"
    problems = [f"Nothing reaches {fmt} support in {board}." for board, fmt in coverage_gaps(records)]
    problems += [f"{sid}: its search copy differs from its records; re-import it." for sid in mismatched]
    problems += [f"{line}: remove it there or mark the service active." for line in closed_but_reachable(records)]
    warnings = [f"{r.id}: due for review — {'; '.join(reasons)}." for r, reasons in due_for_review(records)]
    for line in problems + warnings:
        print(line)
    print(f"{len(records)} services in {source}: {len(problems)} problem(s), {len(warnings)} warning(s).")
    return 1 if problems else 0


def cmd_review(args) -> int:
    records = _records(args.files)
    due = due_for_review(records)
    for r, reasons in due:
        print(f"{r.id} ({r.name})\n   source: {r.source}")
        for reason in reasons:
            print(f"   - {reason}")
    print(f"{len(due)} of {len(records)} services are due for re-verification.")
    return 0


def cmd_coverage(args) -> int:
    records = _records(args.files)
    sys.stdout.write(coverage_markdown(records) if args.markdown else coverage_text(records))
    return 0


def _records(files):
    if files:
        return [r for path in files for r in read_records(path)]
    with session_scope() as session:
        return load_records(session)


def cmd_search(args) -> int:
    from bot.geography import resolve
    place = resolve(args.area)
    if place.status != "resolved":
        print(place.message or f"Could not place '{args.area}'.")
        return 1
    request = MatchRequest(council_code=place.council_code, board_code=place.board_code, audience=args.audience,
                           stage=args.stage, format=args.format, needs=tuple(args.need or ()),
                           easting=place.easting, northing=place.northing, limit=args.limit)
    with session_scope() as session:
        result = find_matches(session, request)
    print(f"{place.label}: {len(result.matches)} match(es); local fit: {'yes' if result.local_fit else 'no'}")
    for i, match in enumerate(result.matches, 1):
        s = match.service
        contact = ", ".join(p.number for p in s.phones) or s.url or s.organization_url or s.email
        print(f"{i}. {s.name} [{s.id}] — {', '.join(s.formats)} — {contact}\n   {match.reason}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.directory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    init = sub.add_parser("init", help="create/upgrade the schema and seed an empty directory")
    init.add_argument("--seed", type=Path, default=SEED_FILE, help="seed file (default: %(default)s)")
    init.add_argument("--empty", action="store_true", help="do not seed")
    init.set_defaults(run=cmd_init)
    imp = sub.add_parser("import", help="import services; nothing is written if any record is invalid")
    imp.add_argument("files", type=Path, nargs="+", help=".yml/.yaml/.json (ours or ORUK) or .csv files")
    imp.add_argument("--replace", action="store_true", help="remove services not in these files")
    imp.add_argument("--source", help="where an Open Referral feed came from (URL), recorded as each record's "
                                      "source when the feed gives none (default: the file name)")
    imp.set_defaults(run=cmd_import)
    held = sub.add_parser("held", help="feed records held for review")
    held.add_argument("--clear", type=int, metavar="ID", help="remove one once it is dealt with")
    held.set_defaults(run=cmd_held)
    exp = sub.add_parser("export", help="print every service")
    exp.add_argument("--format", choices=("json", "csv", "oruk"), default="json")
    exp.add_argument("--output", type=Path, help="write to this file instead of standard output")
    exp.set_defaults(run=cmd_export)
    val = sub.add_parser("validate", help="check files or the database; exit 1 on problems")
    val.add_argument("files", type=Path, nargs="*")
    val.set_defaults(run=cmd_validate)
    review = sub.add_parser("review", help="records due for re-verification")
    review.add_argument("files", type=Path, nargs="*", help="check these files instead of the database")
    review.set_defaults(run=cmd_review)
    coverage = sub.add_parser("coverage", help="health board × format and × audience grid")
    coverage.add_argument("files", type=Path, nargs="*", help="these files instead of the database")
    coverage.add_argument("--markdown", action="store_true", help="the docs/coverage.md page")
    coverage.set_defaults(run=cmd_coverage)
    search = sub.add_parser("search", help="what a person would be offered")
    search.add_argument("--area", required=True, help="postcode, town, council or health board")
    search.add_argument("--format", choices=list(FORMATS))
    search.add_argument("--audience", choices=list(AUDIENCES))
    search.add_argument("--stage", choices=list(STAGES))
    search.add_argument("--need", choices=list(NEEDS), action="append")
    search.add_argument("--limit", type=int, default=3)
    search.set_defaults(run=cmd_search)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except ImportFailed as failure:
        print(f"Nothing was imported: {len(failure.errors)} problem(s).", file=sys.stderr)
        for error in failure.errors:
            print(f"  {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
