"""python -m bot.directory — keep the peer-support service directory right.

Commands:
  init       create or upgrade the database schema; seed it from data/directory/services.yml if empty
  import     add or update services from YAML/JSON (ours or Open Referral UK) or CSV files — all or nothing
  export     print every service as json, csv or oruk (Open Referral UK / HSDS 3.0 JSON)
  validate   check files (without importing them) or, with no files, the database: stale records,
             and health board × format combinations that nothing reaches
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
from bot.directory.files import read_records, write_csv, write_json, write_oruk
from bot.directory.records import ImportFailed
from bot.directory.store import (cache_mismatches, coverage_gaps, load_records, replace_all, save_records,
                                 stale_records)
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
    return 0


def cmd_import(args) -> int:
    records = [r for path in args.files for r in read_records(path)]  # every file must parse before any write
    migrate.upgrade()
    with session_scope() as session:
        count = (replace_all if args.replace else save_records)(session, records, locate_postcode)
    print(f"Imported {count} services from {len(args.files)} file(s).")
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
    warnings = [f"{r.id}: last verified {r.last_verified}, more than a year ago — please re-check it."
                for r in stale_records(records)]
    for line in problems + warnings:
        print(line)
    print(f"{len(records)} services in {source}: {len(problems)} problem(s), {len(warnings)} warning(s).")
    return 1 if problems else 0


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
    imp.set_defaults(run=cmd_import)
    exp = sub.add_parser("export", help="print every service")
    exp.add_argument("--format", choices=("json", "csv", "oruk"), default="json")
    exp.add_argument("--output", type=Path, help="write to this file instead of standard output")
    exp.set_defaults(run=cmd_export)
    val = sub.add_parser("validate", help="check files or the database; exit 1 on problems")
    val.add_argument("files", type=Path, nargs="*")
    val.set_defaults(run=cmd_validate)
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
