"""Keeping the directory right: status (closed services kept, never offered), review, coverage."""
from __future__ import annotations

from datetime import date

import yaml

from bot.db import session_scope
from bot.directory import SEED_FILE
from bot.directory.__main__ import main as cli
from bot.directory.checks import (LOCAL, NATIONAL, board_coverage, closed_but_reachable, coverage_markdown,
                                  due_for_review)
from bot.directory.files import read_records
from bot.directory.store import save_records
from bot.matching import MatchRequest, find_matches
from bot.signposting import details, explain
from bot import PROJECT_ROOT

LOTHIAN = dict(council_code="S12000036", board_code="S08000024")


def _seed(database_url):
    with session_scope(database_url) as session:
        save_records(session, read_records(SEED_FILE))


def test_a_paused_service_is_kept_but_never_offered_and_its_details_say_so(database_url):
    _seed(database_url)
    request = MatchRequest(**LOTHIAN, audience="fathers_partners", stage="postnatal", needs=("neonatal",), limit=10)
    with session_scope(database_url) as session:
        offered = [m.service.id for m in find_matches(session, request).matches]
        text = details(session, "dads-rock-neonatal-dads")
    assert offered and "dads-rock-neonatal-dads" not in offered
    assert "paused" in text and "no longer suggest it" in text and "Tuesday" not in text


def test_every_suggestion_says_what_kind_of_support_it_is(database_url):
    _seed(database_url)
    request = MatchRequest(council_code="S12000026", board_code="S08000016", audience="mothers", stage="postnatal",
                           limit=10)  # the Borders: peer support and counselling both run there
    with session_scope(database_url) as session:
        matches = find_matches(session, request).matches
    reasons = {m.service.kind: explain(m, request) for m in matches}
    assert reasons["peer_support"].startswith("Peer support from people who have been through it.")
    assert reasons["counselling"].startswith("Counselling or therapy from trained professionals.")
    for kind, text in reasons.items():
        assert text.split(".")[0].lower() in ("peer support from people who have been through it",
                                              "befriending by trained volunteers", "support from trained staff",
                                              "counselling or therapy from trained professionals",
                                              "a support line", "information and signposting"), (kind, text)


def _write(tmp_path, services):
    path = tmp_path / "services.yml"
    path.write_text(yaml.safe_dump({"services": services}, allow_unicode=True), encoding="utf-8")
    return path


def test_validate_fails_on_a_closed_service_whose_number_is_still_given_out(tmp_path, capsys):
    records = [r.to_dict() for r in read_records(SEED_FILE)]
    samaritans = next(r for r in records if r["id"] == "samaritans-helpline")
    samaritans["status"] = {"state": "closed", "since": "2026-01-01", "note": "test"}
    path = _write(tmp_path, records)
    assert cli(["validate", str(path)]) == 1
    out = capsys.readouterr().out
    assert "samaritans-helpline is closed but 116 123 is still given in" in out and "domain.yml" in out
    assert closed_but_reachable(read_records(SEED_FILE)) == []


def test_a_status_change_needs_its_date(tmp_path, capsys):
    record = read_records(SEED_FILE)[0].to_dict()
    record["status"] = {"state": "closed"}
    assert cli(["validate", str(_write(tmp_path, [record]))]) == 2
    assert "field 'status.since': is required" in capsys.readouterr().err


def test_review_lists_old_checks_old_sources_undated_sources_and_paused_services():
    records = {r.id: r for r in read_records(SEED_FILE)}
    due = {r.id: reasons for r, reasons in due_for_review(records.values(), today=date(2028, 1, 1))}
    assert any("more than a year ago" in x for x in due["samaritans-helpline"])
    assert any("has no date" in x for x in due["samaritans-helpline"])
    assert any("more than two years ago" in x for x in due["dads-rock-dads-support"])  # source 2023-10-03
    assert any("has it started again" in x for x in due["dads-rock-neonatal-dads"])
    fresh = records["children-first-support-line"]
    assert not [x for x in due_for_review([fresh], today=date(2026, 12, 3))]


def test_cli_review_prints_each_record_with_its_reasons(capsys):
    assert cli(["review", str(SEED_FILE)]) == 0
    out = capsys.readouterr().out
    assert "dads-rock-neonatal-dads (" in out and "services are due for re-verification" in out


def test_coverage_tells_local_from_national_only():
    boards = {b.board.name: b for b in board_coverage(read_records(SEED_FILE))}
    borders = boards["NHS Borders"]
    assert borders.has_local and borders.formats["group"] == LOCAL and borders.formats["text"] == NATIONAL
    assert sum(b.has_local for b in boards.values()) >= 12


def test_docs_coverage_is_generated_from_the_current_directory():
    expected = coverage_markdown(read_records(SEED_FILE))
    assert (PROJECT_ROOT / "docs" / "coverage.md").read_text(encoding="utf-8") == expected, \
        "docs/coverage.md is out of date: run `make coverage`"


def test_init_says_when_the_seed_file_has_moved_on_from_the_database(database_url, tmp_path, capsys):
    records = [r.to_dict() for r in read_records(SEED_FILE)]
    seed = _write(tmp_path, records)
    assert cli(["init", "--seed", str(seed)]) == 0
    assert cli(["init", "--seed", str(seed)]) == 0
    assert "differ from the database" not in capsys.readouterr().out
    records[0]["status"] = {"state": "closed", "since": "2026-01-01"}
    seed = _write(tmp_path, records)
    assert cli(["init", "--seed", str(seed)]) == 0
    out = capsys.readouterr().out
    assert f"1 service(s) in {seed} differ from the database ({records[0]['id']})" in out
