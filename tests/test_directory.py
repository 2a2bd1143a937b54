"""The service directory: schema by migration, import/export round trips, validation, the CLI."""
from __future__ import annotations

import json
import re

import pytest
import yaml
from sqlalchemy import func, inspect, select

from bot import migrate
from bot.db import get_engine, session_scope
from bot.directory import SEED_FILE
from bot.directory.__main__ import main as cli
from bot.directory.files import read_records, write_csv, write_json, write_oruk
from bot.directory.records import ImportFailed
from bot.directory.checks import due_for_review
from bot.directory.store import coverage_gaps, load_records
from bot.models import Service, TaxonomyTerm
from bot.vocabulary import FORMATS, TAXONOMIES
from tests.conftest import SAMPLE_DIRECTORY

REQUIRED_EXPORT_KEYS = {"id", "name", "formats", "audiences", "stages", "needs", "areas", "phones", "url",
                        "referral", "source", "last_verified"}


def test_migration_creates_the_hsds_tables_and_downgrades_cleanly(database_url):
    tables = set(inspect(get_engine(database_url)).get_table_names())
    assert {"organization", "service", "location", "service_at_location", "phone", "contact", "schedule",
            "service_area", "language", "cost_option", "taxonomy", "taxonomy_term", "attribute",
            "unmet_need"} <= tables
    migrate.upgrade(database_url)  # idempotent
    migrate.downgrade(database_url)
    assert set(inspect(get_engine(database_url)).get_table_names()) == {"alembic_version"}


def test_the_migrations_build_exactly_the_tables_the_models_describe(database_url):
    """A column added to a model without a migration (or the reverse) fails here, not in production."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from bot.models import Base
    with get_engine(database_url).connect() as connection:
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []


def test_import_stores_taxonomy_terms_and_provenance(sample_directory):
    with session_scope(sample_directory) as session:
        terms = {(t.taxonomy_id, t.code) for t in session.scalars(select(TaxonomyTerm))}
        assert terms == {(tax, code) for tax, vocab in TAXONOMIES.items() for code in vocab}
        records = {r.id: r for r in load_records(session)}
    befriending = records["glasgow-befriending"]
    assert befriending.needs == ("ethnic_minority", "low_income")
    assert befriending.languages == ("en", "ar", "pl")
    assert befriending.referral == {"route": "both", "how": "Ask your health visitor or contact us."}
    assert befriending.volunteer_training == "Volunteers complete a preparation course."
    assert all(r.source and r.last_verified for r in records.values())


@pytest.mark.parametrize("writer,suffix", [(write_json, "json"), (write_csv, "csv"), (write_oruk, "json")])
def test_export_then_import_round_trips_exactly(sample_directory, tmp_path, writer, suffix):
    with session_scope(sample_directory) as session:
        original = load_records(session)
    exported = tmp_path / f"export.{suffix}"
    exported.write_text(writer(original), encoding="utf-8")
    assert read_records(exported) == original


def test_cli_export_json_has_the_contract_fields(sample_directory, capsys):
    assert cli(["export", "--format", "json"]) == 0
    services = json.loads(capsys.readouterr().out)["services"]
    assert len(services) == 7
    assert all(REQUIRED_EXPORT_KEYS <= set(s) for s in services)
    fife = next(s for s in services if s["id"] == "fife-mums-group")
    assert fife["formats"] == ["group"] and fife["areas"] == ["S12000047"]


def _write(tmp_path, name, services):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"services": services}), encoding="utf-8")
    return path


def _good(**changes):
    record = {"id": "ok-service", "name": "OK", "organization": {"id": "org", "name": "Org", "url": "https://x.example.org"},
              "kind": "peer_support", "formats": ["group"], "audiences": ["mothers"], "stages": ["postnatal"], "areas": ["scotland"],
              "source": "https://x.example.org", "last_verified": "2026-01-01"}
    record.update(changes)
    return record


def test_validation_names_file_row_and_field_for_every_problem(tmp_path):
    path = _write(tmp_path, "bad.yml", [
        _good(),
        _good(id="second", formats=["choir"], last_verified="last week"),
        _good(id="third", areas=["S12999999"], source=None, phones=[{"number": "call us", "type": "pigeon"}]),
        _good(id="fourth", quality={"safeguarding_policy": True}),  # YAML reads a bare Yes as true
    ])
    with pytest.raises(ImportFailed) as failure:
        read_records(path)
    found = {(e.file, e.row, e.field) for e in failure.value.errors}
    assert found == {("bad.yml", 2, "formats"), ("bad.yml", 2, "last_verified"), ("bad.yml", 3, "areas"),
                     ("bad.yml", 3, "source"), ("bad.yml", 3, "phones[1].number"), ("bad.yml", 3, "phones[1].type"),
                     ("bad.yml", 4, "quality.safeguarding_policy")}
    assert "choir" in str(failure.value) and "bad.yml, row 2, field 'formats'" in str(failure.value)


def test_csv_errors_name_the_line(tmp_path, sample_directory):
    with session_scope(sample_directory) as session:
        text = write_csv(load_records(session)).replace("fathers_partners", "uncles", 1)
    path = tmp_path / "services.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ImportFailed) as failure:
        read_records(path)
    [error] = failure.value.errors
    assert (error.file, error.field) == ("services.csv", "audiences") and error.row >= 2


def test_import_is_all_or_nothing_across_files(sample_directory, tmp_path, capsys):
    good = _write(tmp_path, "good.yml", [_good(id="brand-new")])
    bad = _write(tmp_path, "bad.yml", [_good(id="also-new", stages=["toddler"])])
    assert cli(["import", str(good), str(bad)]) == 2
    assert "bad.yml, row 1, field 'stages'" in capsys.readouterr().err
    with session_scope(sample_directory) as session:
        assert session.scalar(select(func.count()).select_from(Service)) == 7


def test_import_updates_in_place_and_replace_removes_the_rest(sample_directory, tmp_path):
    path = _write(tmp_path, "one.yml", [_good(id="fife-mums-group", name="Renamed")])
    assert cli(["import", str(path)]) == 0
    with session_scope(sample_directory) as session:
        assert session.get(Service, "fife-mums-group").name == "Renamed"
        assert session.scalar(select(func.count()).select_from(Service)) == 7
    assert cli(["import", "--replace", str(path)]) == 0
    with session_scope(sample_directory) as session:
        assert list(session.scalars(select(Service.id))) == ["fife-mums-group"]


@pytest.mark.parametrize("content,expected", [
    (b"", "must hold a service"),
    (b"services: 12", "must hold a service"),
    (b"\x00\xff\xfe binary", "cannot be read"),
    (b"services: [unclosed", "is not valid YAML"),
    (b"- just a string", "must be a mapping"),
])
def test_malformed_files_get_a_clear_error(tmp_path, content, expected):
    path = tmp_path / "broken.yml"
    path.write_bytes(content)
    with pytest.raises(ImportFailed) as failure:
        read_records(path)
    assert expected in str(failure.value)


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(ImportFailed, match="appears more than once"):
        read_records(_write(tmp_path, "dupes.yml", [_good(), _good()]))


def test_a_service_must_be_reachable_somehow(tmp_path):
    record = _good(organization={"id": "org", "name": "Org"})
    with pytest.raises(ImportFailed, match="at least one way to reach it"):
        read_records(_write(tmp_path, "unreachable.yml", [record]))


def test_stale_records_are_flagged(sample_directory, capsys):
    with session_scope(sample_directory) as session:
        stale = [r for r, reasons in due_for_review(load_records(session)) if "more than a year ago" in reasons[0]]
    assert [r.id for r in stale] == ["national-baby-loss"]
    cli(["validate"])
    assert "national-baby-loss: due for review — last verified 2024-01-01" in capsys.readouterr().out


def test_validate_reports_coverage_gaps_with_exit_code(sample_directory, capsys):
    # The sample has national phone/text/online/group/one-to-one, so no gaps; remove the text line.
    records = [r for r in read_records(SAMPLE_DIRECTORY) if r.id != "national-text"]
    assert ("NHS Fife", "text") in coverage_gaps(records)
    assert cli(["validate", str(SAMPLE_DIRECTORY)]) == 0


# --- the real seed directory ---------------------------------------------------------------

def test_seed_directory_is_valid_and_every_board_reaches_every_format():
    records = read_records(SEED_FILE)
    assert coverage_gaps(records) == []
    assert not [r for r, reasons in due_for_review(records) if any('last verified' in x for x in reasons)]
    assert {f for r in records for f in r.formats} == set(FORMATS)


def test_seed_directory_serves_dads_baby_loss_and_underserved_groups():
    records = read_records(SEED_FILE)
    assert any(r.audiences == ("fathers_partners",) for r in records), "dads-only support"
    assert any("baby_loss" in r.stages for r in records)
    needs = {n for r in records for n in r.needs}
    assert {"baby_loss", "ethnic_minority", "young_parents", "domestic_abuse", "substance_use"} <= needs


def test_seed_directory_phone_numbers_are_only_verified_ones():
    """A wrong number is a safety incident: any number outside this list must be added here on purpose."""
    allowed = {"116 123", "0800 83 85 87", "85258", "111"}
    numbers = {p.number for r in read_records(SEED_FILE) for p in r.phones}
    assert numbers <= allowed | set(VERIFIED_EXTRA_NUMBERS)


# Numbers beyond the national four, each confirmed on the organisation's own page (see data/directory/SOURCES.md).
VERIFIED_EXTRA_NUMBERS = (
    "01924 200799",   # Miscarriage Association helpline
    "0808 801 0323",  # One Parent Families Scotland freephone
    "0800 027 1234",  # Scotland's Domestic Abuse and Forced Marriage Helpline
    "08000 28 22 33",  # Children First support line
)


def test_every_phone_number_is_pinned_to_its_source():
    """Each number is written, verbatim, in its record's row of SOURCES.md next to the page it was read on."""
    rows = {line.split("|")[1].strip(): line for line in
            (SEED_FILE.parent / "SOURCES.md").read_text(encoding="utf-8").splitlines() if line.startswith("| ")}
    unpinned = [(r.id, p.number) for r in read_records(SEED_FILE) for p in r.phones
                if r.id not in rows or p.number not in rows[r.id] or not re.search(r"[a-z0-9-]+\.[a-z]{2,}", rows[r.id])]
    assert unpinned == []


def test_cli_init_seeds_once(database_url, capsys):
    assert cli(["init"]) == 0
    first = capsys.readouterr().out
    assert cli(["init"]) == 0
    assert "seeded" in first and "it holds" in capsys.readouterr().out
