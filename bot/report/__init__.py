"""The commissioners' and service managers' report (seed 1.2, 5.1, 5.2): what people asked for, where nothing
local fitted, whether it helped, escalations, and the directory's health.

Built only from anonymised evaluation events, the escalation audit fields and the directory: no words,
no numbers. Small numbers are suppressed: a count from 1 to 4 is shown as "<5" and is not drawn in a
chart, so no one can be singled out. Charts are matplotlib, embedded as static SVG: the page opens
offline, has no JavaScript, and prints.
"""
from __future__ import annotations

import csv
import html
import io
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from bot.db import session_scope
from bot.directory.checks import board_coverage, due_for_review
from bot.directory.store import load_records
from bot.evaluation import FEEDBACK, FEEDBACK_REASONS, FOLLOW_UP_OUTCOMES
from bot.models import Alert, Escalation, EvaluationEvent
from bot.vocabulary import FORMATS, NEEDS, areas, health_boards

SMALL = 5


def shown(count: int) -> str:
    """A count as the report prints it: 1 to 4 become "<5"."""
    return "<5" if 0 < count < SMALL else str(count)


def drawn(count: int) -> int:
    return count if count >= SMALL or count == 0 else 0


@dataclass
class Figures:
    """Every table in the report (also written by --csv)."""
    start: date
    end: date
    conversations_by_week: list[tuple[date, int]] = field(default_factory=list)
    requests: Counter = field(default_factory=Counter)  # (board code, format) → requests
    provision: dict[tuple[str, str], str] = field(default_factory=dict)  # (board code, format) → local/national/none
    unmet_by_board: Counter = field(default_factory=Counter)
    unmet_by_need: Counter = field(default_factory=Counter)
    feedback: Counter = field(default_factory=Counter)
    feedback_reasons: Counter = field(default_factory=Counter)
    follow_up: Counter = field(default_factory=Counter)
    escalations: Counter = field(default_factory=Counter)  # (category, outcome) → count
    erasures: int = 0
    directory: dict[str, list[str]] = field(default_factory=dict)


def gather(start: date, end: date, today: date | None = None) -> Figures:
    figures = Figures(start, end)
    with session_scope() as session:
        events = session.scalars(select(EvaluationEvent).where(EvaluationEvent.occurred_on >= start,
                                                               EvaluationEvent.occurred_on <= end)).all()
        escalations = session.scalars(select(Escalation).where(
            Escalation.detected_at >= datetime.combine(start, datetime.min.time()),
            Escalation.detected_at < datetime.combine(end + timedelta(days=1), datetime.min.time()))).all()
        outcomes = {e.id: _alert_outcome(e.alerts) for e in escalations}
        records = load_records(session)
    weeks: Counter = Counter()
    for e in events:
        if e.kind == "conversation":
            weeks[e.occurred_on - timedelta(days=e.occurred_on.weekday())] += 1
        elif e.kind == "request" and e.board_code:
            figures.requests[(e.board_code, e.format or "any")] += 1
        elif e.kind == "unmet_need":
            figures.unmet_by_board[e.board_code or "unknown"] += 1
            for need in (e.needs or "").split(","):
                if need:
                    figures.unmet_by_need[need] += 1
        elif e.kind == "feedback":
            if (e.outcome or "").startswith("reason:"):
                figures.feedback_reasons[e.outcome.removeprefix("reason:")] += 1
            else:
                figures.feedback[e.outcome] += 1
        elif e.kind == "follow_up":
            figures.follow_up[e.outcome] += 1
        elif e.kind == "erasure":
            figures.erasures += 1
    monday = start - timedelta(days=start.weekday())
    while monday <= end:
        figures.conversations_by_week.append((monday, weeks[monday]))
        monday += timedelta(days=7)
    for coverage in board_coverage(records):
        for fmt, reach in coverage.formats.items():
            figures.provision[(coverage.board.code, fmt)] = reach
    for escalation in escalations:
        figures.escalations[(escalation.category, outcomes[escalation.id])] += 1
    today = today or date.today()
    figures.directory = {
        "Records not verified in the last 12 months": [r.name for r, reasons in due_for_review(records, today)
                                                       if any("last verified" in x for x in reasons)],
        "Services with no phone, web address or email": [r.name for r in records if r.active and not (
            r.phones or r.url or r.organization_url or r.email)],
        "Health boards with no local service": [b.board.name for b in board_coverage(records) if not b.has_local],
    }
    return figures


def _alert_outcome(alerts: list[Alert]) -> str:
    if not alerts:
        return "not alerted (same episode)"
    statuses = {a.status for a in alerts}
    if "delivered" in statuses:
        return "alert delivered"
    return "alert failed" if statuses == {"failed"} else "alert pending"


# --- charts ---------------------------------------------------------------------------------------

def _svg(figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML declaration and doctype


def _bar(labels: list[str], counts: list[int], title: str, horizontal: bool = False) -> str:
    values = [drawn(c) for c in counts]
    if not any(values):
        return f"<p class='note'>{html.escape(title)}: no count of 5 or more to draw.</p>"
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(7, max(2.2, 0.35 * len(labels)) if horizontal else 3))
    (axes.barh if horizontal else axes.bar)(labels, values, color="#2b6f77")
    if horizontal:
        axes.invert_yaxis()
    else:
        axes.tick_params(axis="x", labelrotation=30)
    axes.set_title(title, fontsize=11)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _heatmap(figures: Figures) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    boards = health_boards()
    formats = list(FORMATS)
    grid = [[drawn(figures.requests[(b.code, f)]) for f in formats] for b in boards]
    figure, axes = plt.subplots(figsize=(7.5, 6))
    image = axes.imshow(grid, cmap="Blues", aspect="auto")
    axes.set_xticks(range(len(formats)), [FORMATS[f] for f in formats], rotation=30, ha="right")
    axes.set_yticks(range(len(boards)), [b.name.removeprefix("NHS ") for b in boards])
    for i, board in enumerate(boards):
        for j, fmt in enumerate(formats):
            reach = figures.provision.get((board.code, fmt), "none")
            mark = {"local": "", "national only": " ◦", "none": " ✕"}.get(reach, "")
            axes.text(j, i, shown(figures.requests[(board.code, fmt)]) + mark, ha="center", va="center", fontsize=8,
                      color="black")
    figure.colorbar(image, ax=axes, label="requests")
    axes.set_title("Requests by health board and format (◦ national only, ✕ nothing)", fontsize=11)
    return _svg(figure)


# --- the page -------------------------------------------------------------------------------------

def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _grid_table(figures: Figures) -> str:
    rows = []
    for board in health_boards():
        cells = []
        for fmt in FORMATS:
            reach = figures.provision.get((board.code, fmt), "none")
            cells.append(f"{shown(figures.requests[(board.code, fmt)])} · {reach}")
        rows.append([board.name] + cells)
    return _table(["Health board"] + [FORMATS[f] for f in FORMATS], rows)


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; color: #1b1b1b; line-height: 1.45 }
h1 { font-size: 1.6rem } h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ccc }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem } td, th { border: 1px solid #bbb;
padding: .25rem .5rem; text-align: left } th { background: #eef3f4 } svg { max-width: 100%; height: auto }
.note { color: #444; font-size: .9rem } @media print { h2 { break-after: avoid } svg, table { break-inside: avoid } }
"""


def render(figures: Figures) -> str:
    total = sum(c for _, c in figures.conversations_by_week)
    requests = sum(figures.requests.values())
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        "<title>Perinatal peer support assistant: report</title>", f"<style>{STYLE}</style></head><body>",
        "<h1>Perinatal peer support assistant: report</h1>",
        f"<p>{figures.start:%-d %B %Y} to {figures.end:%-d %B %Y}. Generated {date.today():%-d %B %Y}. "
        "Counts from 1 to 4 are shown as &lt;5 and are not drawn, so no one can be identified. The figures hold no "
        "words and no phone numbers.</p>",
        "<h2>Conversations</h2>",
        f"<p>Conversations started: <strong>{shown(total)}</strong>. Searches: <strong>{shown(requests)}</strong>. "
        f"Erasure requests carried out: <strong>{shown(figures.erasures)}</strong>.</p>",
        _bar([f"{d:%d %b}" for d, _ in figures.conversations_by_week], [c for _, c in figures.conversations_by_week],
             "Conversations started per week"),
        "<h2>What was asked for, and what exists locally</h2>",
        "<p class='note'>Each cell: searches for that format in that board, then whether an active service offers it "
        "locally, only nationally, or not at all (the directory today).</p>",
        _heatmap(figures), _grid_table(figures),
        "<h2>Where nothing local fitted</h2>",
        _bar([areas()[b].name if b in areas() else b for b in figures.unmet_by_board],
             list(figures.unmet_by_board.values()), "Unmet needs by health board", horizontal=True),
        _table(["Health board", "Searches with nothing local"],
               [[areas()[b].name if b in areas() else b, shown(c)] for b, c in figures.unmet_by_board.most_common()]),
        _table(["Stated need", "Searches with nothing local"],
               [[NEEDS.get(n, n), shown(c)] for n, c in figures.unmet_by_need.most_common()]),
        "<h2>Did it help?</h2>",
        _bar([FEEDBACK[k] for k in FEEDBACK], [figures.feedback[k] for k in FEEDBACK], "Feedback at the end of a search"),
        _table(["Answer", "Count"], [[FEEDBACK[k], shown(figures.feedback[k])] for k in FEEDBACK] +
               [[f"Why not: {FEEDBACK_REASONS[k]}", shown(figures.feedback_reasons[k])] for k in FEEDBACK_REASONS]),
        "<h2>Follow-up two weeks later</h2>",
        _bar([FOLLOW_UP_OUTCOMES[k] for k in FOLLOW_UP_OUTCOMES], [figures.follow_up[k] for k in FOLLOW_UP_OUTCOMES],
             "Answers to the follow-up text"),
        _table(["Outcome", "Count"], [[FOLLOW_UP_OUTCOMES.get(k, k.replace("_", " ")), shown(c)]
                                      for k, c in sorted(figures.follow_up.items())]),
        "<h2>Escalations</h2>",
        _table(["Category", "Outcome", "Count"], [[c.replace("_", " "), o, shown(n)]
                                                  for (c, o), n in sorted(figures.escalations.items())]),
        "<h2>Directory health</h2>",
    ]
    for heading, names in figures.directory.items():
        parts.append(f"<p><strong>{html.escape(heading)}: {len(names)}</strong></p>")
        if names:
            parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in names[:40]) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_csv(figures: Figures, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    tables = {
        "conversations_by_week.csv": (["week", "conversations"],
                                      [[d.isoformat(), shown(c)] for d, c in figures.conversations_by_week]),
        "requests_by_board_and_format.csv": (["board", "format", "requests", "provision"], [
            [b.name, f, shown(figures.requests[(b.code, f)]), figures.provision.get((b.code, f), "none")]
            for b in health_boards() for f in FORMATS]),
        "unmet_needs_by_board.csv": (["board", "count"], [[areas()[b].name if b in areas() else b, shown(c)]
                                                          for b, c in figures.unmet_by_board.most_common()]),
        "unmet_needs_by_need.csv": (["need", "count"], [[n, shown(c)] for n, c in figures.unmet_by_need.most_common()]),
        "feedback.csv": (["answer", "count"], [[k, shown(v)] for k, v in sorted(figures.feedback.items())] +
                         [[f"reason:{k}", shown(v)] for k, v in sorted(figures.feedback_reasons.items())]),
        "follow_up.csv": (["outcome", "count"], [[k, shown(v)] for k, v in sorted(figures.follow_up.items())]),
        "escalations.csv": (["category", "outcome", "count"], [[c, o, shown(n)] for (c, o), n in
                                                              sorted(figures.escalations.items())]),
    }
    written = []
    for name, (headers, rows) in tables.items():
        path = directory / name
        with path.open("w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(headers)
            writer.writerows(rows)
        written.append(path)
    return written


__all__ = ["Figures", "gather", "render", "write_csv", "shown"]
