"""The commissioners' report: figures from a seeded set, small numbers suppressed, rendered in a real browser."""
from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.db import session_scope
from bot.directory import SEED_FILE
from bot.directory.files import read_records
from bot.directory.store import save_records
from bot.escalation import Detection, record
from bot.evaluation import record as record_event
from bot.models import ClinicalContact
from bot.report import gather, render, shown, write_csv
from bot.report.__main__ import main as cli

FIFE, HIGHLAND = "S08000029", "S08000022"
TODAY = date.today()
ARTEFACTS = PROJECT_ROOT / "results" / "artifacts"


@pytest.fixture
def seeded(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    with session_scope() as session:
        save_records(session, read_records(SEED_FILE))
        session.add(ClinicalContact(name="Duty", role="Clinician", channel="email", address="duty@example.org"))
    with session_scope() as session:
        for i in range(12):
            record_event(session, "conversation", f"web:{i}", "socketio", today=TODAY - timedelta(days=i))
        for i in range(7):  # seven searches for groups in Fife: shown as 7
            record_event(session, "request", f"web:{i}", "socketio", board_code=FIFE, area_code="S12000047",
                         format="group", today=TODAY)
        for i in range(3):  # three for text in Highland: shown as <5, nothing local offers text
            record_event(session, "request", f"twilio:{i}", "twilio", board_code=HIGHLAND, format="text", today=TODAY)
            record_event(session, "unmet_need", f"twilio:{i}", "twilio", board_code=HIGHLAND, format="text",
                         needs="birth_trauma", today=TODAY)
        for outcome, n in (("yes", 6), ("partly", 2), ("no", 5)):
            for i in range(n):
                record_event(session, "feedback", f"web:{outcome}{i}", "socketio", outcome=outcome, today=TODAY)
        for i in range(5):
            record_event(session, "follow_up", f"twilio:f{i}", "twilio", outcome="contacted_helped", today=TODAY)
        record_event(session, "erasure", None, "twilio", today=TODAY)
        for i in range(6):
            record(session, Detection(f"web:e{i}", "socketio", "suicide_self_harm", "words never reported"))
    return tmp_path


def test_small_numbers_are_suppressed():
    assert [shown(n) for n in (0, 1, 4, 5, 12)] == ["0", "<5", "<5", "5", "12"]


def test_the_figures_match_the_seeded_set(seeded):
    figures = gather(TODAY - timedelta(days=30), TODAY)
    assert sum(c for _, c in figures.conversations_by_week) == 12
    assert figures.requests[(FIFE, "group")] == 7 and figures.requests[(HIGHLAND, "text")] == 3
    assert figures.provision[(FIFE, "group")] == "local" and figures.provision[(HIGHLAND, "text")] == "national only"
    assert figures.unmet_by_board[HIGHLAND] == 3 and figures.unmet_by_need["birth_trauma"] == 3
    assert (figures.feedback["yes"], figures.feedback["partly"], figures.feedback["no"]) == (6, 2, 5)
    assert figures.follow_up["contacted_helped"] == 5 and figures.erasures == 1
    assert figures.escalations[("suicide_self_harm", "alert pending")] == 6


def test_the_page_suppresses_small_cells_and_holds_no_words(seeded, tmp_path):
    page = render(gather(TODAY - timedelta(days=30), TODAY))
    assert "<td>7 · local</td>" in page and "<td>&lt;5 · national only</td>" in page
    assert "words never reported" not in page and "<script" not in page and page.count("<svg") >= 4
    assert "Unmet needs by health board: no count of 5 or more to draw." in page  # three: not drawn
    written = write_csv(gather(TODAY - timedelta(days=30), TODAY), tmp_path / "csv")
    grid = (tmp_path / "csv" / "requests_by_board_and_format.csv").read_text(encoding="utf-8")
    assert "NHS Fife,group,7,local" in grid and "NHS Highland,text,<5,national only" in grid and len(written) == 7


def test_the_report_opens_offline_in_a_real_browser(seeded, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        pytest.skip("Debian's chromium is not installed (CI installs it: .ci/run)")
    from playwright.sync_api import sync_playwright
    out = tmp_path / "report.html"
    assert cli(["--out", str(out), "--days", "30"]) == 0
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        context = browser.new_context(offline=True, java_script_enabled=False)
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.goto(out.as_uri())
        assert page.title() == "Perinatal peer support assistant: report"
        assert page.locator("svg").count() >= 4 and page.locator("h2").count() >= 6
        boxes = [page.locator("svg").nth(i).bounding_box() for i in range(page.locator("svg").count())]
        assert all(b and b["width"] > 100 and b["height"] > 50 for b in boxes)  # the charts really render
        page.screenshot(path=str(ARTEFACTS / "report.png"), full_page=True)
        page.pdf(path=str(ARTEFACTS / "report.pdf"))  # and it prints
        browser.close()
    assert requests == [out.as_uri()]  # nothing fetched from anywhere else
    assert Path(ARTEFACTS / "report.png").stat().st_size > 10_000
