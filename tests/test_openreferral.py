"""Open Referral HSDS 3.0: our export validates against the published schema, feeds come in or are held."""
from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import jsonschema
import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.directory import SEED_FILE
from bot.directory.__main__ import main as cli
from bot.directory.files import read_file, read_records, write_json, write_oruk
from bot.directory.openreferral import to_hsds
from bot.directory.store import load_records
from bot.models import HeldService, Service

VENDORED = Path(__file__).parent / "data" / "openreferral"
CHECKSUMS = {"service.json": "5cd7c2ecb5776947e437a4d5b9656f9a80db56bef3ad49f5bb142d49dbe66156",
             "service_full.json": "13d54d6212177baf07d52f8bd7daf6c10e5c2cad2bc932706344e4a5292443fc"}


def _strict(node):
    """What Open Referral's own example check does (compiletojsonschema --set-additional-properties-false-
    everywhere): no property the schema doesn't define, at any depth."""
    if isinstance(node, dict):
        result = {k: _strict(v) for k, v in node.items()}
        if node.get("type") == "object" and isinstance(node.get("properties"), dict):
            result["additionalProperties"] = False
        return result
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


SCHEMA = json.loads((VENDORED / "service.json").read_text(encoding="utf-8"))
VALIDATORS = {"published": jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()),
              "strict": jsonschema.Draft202012Validator(_strict(SCHEMA), format_checker=jsonschema.FormatChecker())}
EXAMPLE = json.loads((VENDORED / "service_full.json").read_text(encoding="utf-8"))


def errors(validator, service) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(service)]


def test_vendored_files_are_unmodified():
    for name, digest in CHECKSUMS.items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("mode", list(VALIDATORS))
def test_the_validator_accepts_open_referrals_example_and_catches_what_we_used_to_export(mode):
    validator = VALIDATORS[mode]
    assert errors(validator, EXAMPLE) == []
    broken = copy.deepcopy(EXAMPLE)
    broken["id"] = "samaritans-helpline"  # not a UUID
    broken["email"] = None
    del broken["organization"]["description"]
    broken["attributes"][0]["taxonomy_term"].pop("id")
    found = " ".join(errors(validator, broken))
    assert "is not a 'uuid'" in found and "None is not of type 'string'" in found
    assert "'description' is a required property" in found and "'id' is a required property" in found


@pytest.mark.parametrize("mode", list(VALIDATORS))
def test_every_seed_service_exports_as_valid_hsds(mode):
    records = read_records(SEED_FILE)
    invalid = {r.id: errors(VALIDATORS[mode], to_hsds(r))[:3] for r in records}
    assert {k: v for k, v in invalid.items() if v} == {}
    assert len(records) >= 31


def test_cli_export_oruk_is_a_list_of_valid_services(sample_directory, capsys):
    assert cli(["export", "--format", "oruk"]) == 0
    services = json.loads(capsys.readouterr().out)
    assert len(services) == 7
    assert all(errors(VALIDATORS["strict"], s) == [] for s in services)


def test_seed_round_trip_through_open_referral_changes_nothing(tmp_path):
    records = read_records(SEED_FILE)
    path = tmp_path / "feed.json"
    path.write_text(write_oruk(records), encoding="utf-8")
    back, held = read_file(path)
    assert held == []
    assert write_json(back) == write_json(records)


def test_open_referrals_own_example_is_accepted_as_one_service_and_held_with_reasons(tmp_path):
    path = tmp_path / "service_full.json"
    path.write_bytes((VENDORED / "service_full.json").read_bytes())
    records, held = read_file(path)
    assert records == [] and len(held) == 1
    reasons = " | ".join(held[0].reasons)
    assert "no Scottish area" in reasons and "no format" in reasons
    assert held[0].external_id == EXAMPLE["id"] and held[0].name == EXAMPLE["name"]


def _foreign(**changes) -> dict:
    """A service as another Open Referral publisher might send it (its own taxonomy, plain names)."""
    term = lambda name: {"id": f"00000000-0000-4000-8000-{abs(hash(name)) % 10**12:012d}",  # noqa: E731
                         "name": name, "description": name, "taxonomy": "their-taxonomy", "code": name.upper()}
    service = {
        "id": "1b6f7a36-2f7e-4f41-9a4e-5f0f3c6c3a11", "name": "Kirkcaldy Mums' Circle", "status": "active",
        "description": "A weekly group for mums after birth.", "url": "https://circle.example.org",
        "organization": {"id": "8a1c1c1e-5a55-4f4e-8a8a-0d2f0b4d9b21", "name": "Circle", "description": "A charity."},
        "service_areas": [{"id": "c2f6a0a6-3b9e-4d55-9d0b-0c7a8e0f1a01", "name": "Fife"}],
        "attributes": [{"id": f"a{i}", "taxonomy_term": term(name)}
                       for i, name in enumerate(("Support group", "Peer support", "Mothers", "Postnatal"))],
    }
    service.update(changes)
    return service


def test_a_feed_page_imports_what_maps_and_holds_the_rest_without_blocking(database_url, tmp_path, capsys):
    page = {"total_items": 3, "total_pages": 1, "page_number": 1, "size": 3, "first_page": True,
            "last_page": True, "empty": False,
            "contents": [_foreign(),
                         _foreign(id="9d5c6f2e-1111-4a4a-9b9b-222233334444", name="Leeds Group",
                                  service_areas=[{"id": "x", "name": "Leeds"}]),
                         _foreign(id="9d5c6f2e-5555-4a4a-9b9b-666677778888", name="No Format",
                                  attributes=[])]}
    path = tmp_path / "page.json"
    path.write_text(json.dumps(page), encoding="utf-8")
    assert cli(["import", str(path), "--source", "https://feed.example.org/services?page=1"]) == 0
    out = capsys.readouterr().out
    assert "Imported 1 services" in out and "Held 2 record(s)" in out
    with session_scope(database_url) as session:
        [record] = load_records(session)
        assert (record.name, record.areas, record.formats, record.kind, record.audiences, record.stages) == (
            "Kirkcaldy Mums' Circle", ("S12000047",), ("group",), "peer_support", ("mothers",), ("postnatal",))
        assert record.source == "https://feed.example.org/services?page=1"
        assert session.scalar(select(func.count()).select_from(HeldService)) == 2
    assert cli(["held"]) == 0
    listing = capsys.readouterr().out
    assert "Leeds Group" in listing and "no Scottish area" in listing and "No Format" in listing
    assert "2 record(s) held" in listing
    first_id = int(listing.split(".", 1)[0])
    assert cli(["held", "--clear", str(first_id)]) == 0
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(HeldService)) == 1


def test_a_term_nobody_mapped_holds_the_record_and_names_the_mapping_file(tmp_path):
    service = _foreign(attributes=[{"id": "a", "taxonomy_term": {"id": "t", "name": "Face to face",
                                                                 "description": "", "taxonomy": "theirs"}}])
    path = tmp_path / "one.json"
    path.write_text(json.dumps(service), encoding="utf-8")
    records, [held] = read_file(path)
    assert records == [] and any("openreferral-terms.yml" in r for r in held.reasons)


def test_our_own_files_stay_all_or_nothing(database_url, tmp_path, capsys):
    good, bad = read_records(SEED_FILE)[0].to_dict(), read_records(SEED_FILE)[1].to_dict()
    bad["formats"] = ["choir"]
    path = tmp_path / "ours.json"
    path.write_text(json.dumps({"services": [good, bad]}), encoding="utf-8")
    assert cli(["import", str(path)]) == 2
    assert "field 'formats'" in capsys.readouterr().err
    with session_scope(database_url) as session:
        assert session.scalar(select(func.count()).select_from(Service)) == 0
