"""python -m bot.report --out report.html [--days 90 | --from 2026-09-01 --to 2026-11-30] [--csv DIR]

A self-contained HTML report for commissioners and service managers (opens offline, prints), and with
--csv the tables behind it. Small counts (1 to 4) are shown as "<5".
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta
from pathlib import Path

from bot import migrate
from bot.report import gather, render, write_csv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="the HTML file to write")
    parser.add_argument("--days", type=int, default=90, help="the last N days (default 90)")
    parser.add_argument("--from", dest="start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=date.fromisoformat, help="last day (YYYY-MM-DD)")
    parser.add_argument("--csv", type=Path, help="also write the tables as CSV files in this directory")
    args = parser.parse_args(argv)
    end = args.end or date.today()
    start = args.start or end - timedelta(days=args.days - 1)
    if start > end:
        parser.error("--from is after --to")
    migrate.upgrade()
    figures = gather(start, end)
    args.out.write_text(render(figures), encoding="utf-8")
    print(f"Wrote {args.out} ({start} to {end}).")
    if args.csv:
        for path in write_csv(figures, args.csv):
            print(f"Wrote {path}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
