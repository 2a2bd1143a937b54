"""What a service manager checks: records due for re-verification, closed services still reachable, and
coverage (where people get something local and where only national lines reach)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Iterable

from bot import PROJECT_ROOT as ROOT
from bot.directory.records import KINDS, ServiceRecord
from bot.vocabulary import AUDIENCES, FORMATS, Area, areas, councils, health_boards

VERIFY_EVERY = timedelta(days=365)  # a person re-checks every record at least once a year
SOURCE_MAX_AGE = timedelta(days=2 * 365)  # and looks for a newer source once its page is two years old
# Kinds that count as a service in the perinatal sense when it comes to coverage (not a support line).
SUPPORT_KINDS = frozenset(KINDS) - {"helpline", "information"}
# Where a number or link the assistant gives could still send someone to a closed service.
CONTACT_FILES = (ROOT / "domain.yml", ROOT / "bot" / "helplines.py")


def review_reasons(r: ServiceRecord, today: date | None = None) -> list[str]:
    today = today or date.today()
    reasons = []
    if today - r.last_verified > VERIFY_EVERY:
        reasons.append(f"last verified {r.last_verified}, more than a year ago")
    if r.source_date is None:
        reasons.append("its source has no date: find a dated one")
    elif today - r.source_date > SOURCE_MAX_AGE:
        reasons.append(f"its source dates from {r.source_date}, more than two years ago: look for a newer one")
    if r.status == "paused":
        reasons.append(f"paused since {r.status_since}: has it started again?")
    return reasons


def due_for_review(records: Iterable[ServiceRecord], today: date | None = None
                   ) -> list[tuple[ServiceRecord, list[str]]]:
    """Records a person should re-check, oldest verification first (closed ones are history, not due)."""
    due = [(r, reasons) for r in records if r.status != "closed" and (reasons := review_reasons(r, today))]
    return sorted(due, key=lambda item: (item[0].last_verified, item[0].id))


def closed_but_reachable(records: Iterable[ServiceRecord], contact_files: Iterable[Path] = CONTACT_FILES
                         ) -> list[str]:
    """Closed or paused services that someone could still be sent to: their number or web address is still
    written into a reply or the helpline list (the matcher itself only offers active services)."""
    texts = [p.read_text(encoding="utf-8") for p in contact_files if p.exists()]
    problems = []
    for r in records:
        if r.active:
            continue
        for contact in [p.number for p in r.phones] + [r.url or ""]:
            where = [p.name for p, text in zip(contact_files, texts) if contact and contact in text]
            if where and not _shared_with_active(contact, r, records):
                problems.append(f"{r.id} is {r.status} but {contact} is still given in {', '.join(where)}")
    return problems


def _shared_with_active(contact: str, closed: ServiceRecord, records: Iterable[ServiceRecord]) -> bool:
    return any(r.active and r.id != closed.id and (contact in [p.number for p in r.phones] or contact == r.url)
               for r in records)


# --- coverage ------------------------------------------------------------------------------------

LOCAL, NATIONAL, NONE = "local", "national only", "none"


@dataclass(frozen=True)
class BoardCoverage:
    board: Area
    local_services: tuple[ServiceRecord, ...]  # active support (not a support line) with a presence in the board
    formats: dict[str, str]  # format → LOCAL | NATIONAL | NONE
    audiences: dict[str, str]

    @property
    def has_local(self) -> bool:
        return bool(self.local_services)


def _is_national(r: ServiceRecord) -> bool:
    return any(areas()[c].kind == "national" for c in r.areas)


def _local_to(r: ServiceRecord, board_code: str) -> bool:
    return any(areas()[c].board_code == board_code for c in r.areas)


def board_coverage(records: Iterable[ServiceRecord]) -> list[BoardCoverage]:
    active = [r for r in records if r.active]
    national = [r for r in active if _is_national(r)]
    result = []
    for board in health_boards():
        local = [r for r in active if _local_to(r, board.code)]

        def reach(test) -> str:
            if any(test(r) for r in local):
                return LOCAL
            return NATIONAL if any(test(r) for r in national) else NONE

        result.append(BoardCoverage(
            board, tuple(r for r in local if r.kind in SUPPORT_KINDS),
            {f: reach(lambda r, f=f: f in r.formats) for f in FORMATS},
            {a: reach(lambda r, a=a: a in r.audiences) for a in AUDIENCES}))
    return result


@dataclass(frozen=True)
class CouncilCoverage:
    council: Area
    local: tuple[ServiceRecord, ...]  # services naming the council itself
    regional: tuple[ServiceRecord, ...]  # services covering its whole health board


def council_coverage(records: Iterable[ServiceRecord]) -> list[CouncilCoverage]:
    support = [r for r in records if r.active and r.kind in SUPPORT_KINDS]
    return [CouncilCoverage(c, tuple(r for r in support if c.code in r.areas),
                            tuple(r for r in support if c.board_code in r.areas))
            for c in sorted(councils(), key=lambda c: c.name)]


def coverage_markdown(records: list[ServiceRecord], today: date | None = None) -> str:
    """docs/coverage.md: written by `python -m bot.directory coverage --markdown`; a test keeps it current."""
    boards = board_coverage(records)
    council_rows = council_coverage(records)
    with_local = sum(b.has_local for b in boards)
    reached = sum(bool(c.local or c.regional) for c in council_rows)
    active = sum(r.active for r in records)
    mark = {LOCAL: "local", NATIONAL: "national", NONE: "**none**"}
    lines = [
        "# Coverage of the service directory",
        "",
        "Generated from `data/directory/services.yml` by `python -m bot.directory coverage --markdown`"
        " (`make coverage`); a test fails when it is out of date. Sources for every record are in"
        " `data/directory/SOURCES.md`.",
        "",
        f"- **{active}** active services ({len(records) - active} paused or closed, kept for their history).",
        f"- **{with_local} of {len(boards)}** health boards have at least one genuinely local perinatal"
        " service (peer support, befriending, support from trained staff or counselling, with a presence in"
        " the board; support lines and information pages don't count).",
        f"- **{reached} of {len(council_rows)}** council areas are reached by a service that names the council or"
        " covers its whole health board.",
        "",
        "\"Local\" means an active service lists the board or one of its councils; \"national\" means only"
        " Scotland-wide or UK-wide services offer it there; **none** means nothing does. A gap is evidence for"
        " commissioners, not something to fill with a listing that isn't real. \"Newest source\" is the most"
        " recent dated source among a board's local services: where it is old or missing, local provision rests"
        " on evidence that needs a live check (`make directory-review` lists every record due).",
        "",
        "## Health boards × formats",
        "",
        "| Health board | local services | newest source | " + " | ".join(FORMATS) + " |",
        "|---|---|---|" + "---|" * len(FORMATS),
    ]
    for b in boards:
        dated = [r.source_date for r in b.local_services if r.source_date]
        newest = max(dated).isoformat() if dated else ("undated" if b.local_services else "—")
        lines.append(f"| {b.board.name} | {len(b.local_services)} | {newest} | "
                     + " | ".join(mark[b.formats[f]] for f in FORMATS) + " |")
    lines += ["", "## Health boards × who it is for", "",
              "| Health board | " + " | ".join(AUDIENCES[a] for a in AUDIENCES) + " |",
              "|---|" + "---|" * len(AUDIENCES)]
    for b in boards:
        lines.append(f"| {b.board.name} | " + " | ".join(mark[b.audiences[a]] for a in AUDIENCES) + " |")
    lines += ["", "## Council areas", "",
              "| Council area | Health board | named for the council | covering the whole board |",
              "|---|---|---|---|"]
    names = {a.code: a.name for a in health_boards()}
    for c in council_rows:
        lines.append(f"| {c.council.name} | {names[c.council.board_code]} | "
                     f"{', '.join(r.name for r in c.local) or '**none**'} | "
                     f"{', '.join(r.name for r in c.regional) or '—'} |")
    gaps = [b.board.name for b in boards if not b.has_local]
    unreached = [c.council.name for c in council_rows if not (c.local or c.regional)]
    lines += ["", "## Gaps", "",
              f"- Health boards with nothing local: {', '.join(gaps) or 'none'}.",
              f"- Council areas with nothing local or board-wide: {', '.join(unreached) or 'none'}.",
              "- People there are offered the national lines and online peer support; what we looked for and"
              " could not confirm is listed under \"Left out, and why\" in `data/directory/SOURCES.md`.", ""]
    return "\n".join(lines)


def coverage_text(records: list[ServiceRecord]) -> str:
    """The grid for a terminal."""
    boards = board_coverage(records)
    short = {LOCAL: "L", NATIONAL: "n", NONE: "-"}
    width = max(len(b.board.name) for b in boards)
    lines = [f"{'health board':<{width}}  local  " + " ".join(f"{f[:6]:>6}" for f in FORMATS)
             + "  " + " ".join(f"{a[:7]:>7}" for a in AUDIENCES)]
    for b in boards:
        lines.append(f"{b.board.name:<{width}}  {len(b.local_services):>5}  "
                     + " ".join(f"{short[b.formats[f]]:>6}" for f in FORMATS) + "  "
                     + " ".join(f"{short[b.audiences[a]]:>7}" for a in AUDIENCES))
    lines.append(f"L = local, n = national only, - = none. {sum(b.has_local for b in boards)} of {len(boards)}"
                 " boards have a local perinatal service.")
    return "\n".join(lines) + "\n"
