"""Reading and writing directory files: our flat YAML/JSON, Open Referral UK (HSDS) JSON, and CSV."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

import yaml

from bot.directory.records import ImportFailed, RecordError, ServiceRecord, parse_record
from bot.vocabulary import TAXONOMIES, areas

LIST_FIELDS = ("formats", "audiences", "stages", "needs", "areas", "languages")
CSV_COLUMNS = ("id", "name", "organization_id", "organization_name", "organization_url", "kind", "description",
               "url", "email", "phones", *LIST_FIELDS, "cost", "schedule", "referral_route", "referral_how",
               "volunteer_training", "supervision", "safeguarding_policy", "locations", "source", "last_verified")
# Repeating groups in one CSV cell: items separated by ";", their fields by "|".
PHONE_FIELDS = ("number", "type", "description")
LOCATION_FIELDS = ("name", "address_1", "city", "postcode")


def read_records(path: Path) -> list[ServiceRecord]:
    """Every record in a file, or ImportFailed naming each bad file/row/field."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed([RecordError(name, 0, "(file)", f"cannot be read: {exc}")]) from exc
    if path.suffix.lower() == ".csv":
        raw_rows = list(_csv_rows(text))
    else:
        raw_rows = [(i, item) for i, item in enumerate(_structured_items(text, name), 1)]
    records, errors = [], []
    for row, raw in raw_rows:
        if isinstance(raw, dict) and _is_hsds(raw):
            raw = hsds_to_flat(raw)
        record, problems = parse_record(raw, name, row)
        errors.extend(problems)
        if record:
            records.append(record)
    seen: dict[str, int] = {}
    for row, record in enumerate(records, 1):
        if record.id in seen:
            errors.append(RecordError(name, row, "id", f"'{record.id}' appears more than once"))
        seen[record.id] = row
    if errors:
        raise ImportFailed(errors)
    return records


def _structured_items(text: str, name: str) -> list[Any]:
    try:
        data = json.loads(text) if name.lower().endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ImportFailed([RecordError(name, 0, "(file)", f"is not valid {'JSON' if name.endswith('.json') else 'YAML'}: {exc}")]) from exc
    if isinstance(data, dict):
        # Our files hold {"services": [...]}; ORUK API pages hold {"contents": [...]}.
        data = data.get("services", data.get("contents"))
    if not isinstance(data, list):
        raise ImportFailed([RecordError(name, 0, "(file)", "must hold a list of services (or {services: [...]})")])
    return data


def _csv_rows(text: str) -> Iterable[tuple[int, dict]]:
    reader = csv.DictReader(io.StringIO(text))
    for row in reader:
        raw: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items() if k}
        for key in LIST_FIELDS:
            raw[key] = [c.strip() for c in (raw.get(key) or "").split(";") if c.strip()]
        raw["phones"] = _split_groups(raw.get("phones"), PHONE_FIELDS)
        raw["organization"] = {"id": raw.pop("organization_id", None), "name": raw.pop("organization_name", None),
                               "url": raw.pop("organization_url", None)}
        raw["referral"] = {"route": raw.pop("referral_route", None), "how": raw.pop("referral_how", None)}
        raw["quality"] = {k: raw.pop(k, None) for k in ("volunteer_training", "supervision", "safeguarding_policy")}
        raw["locations"] = _split_groups(raw.get("locations"), LOCATION_FIELDS)
        yield reader.line_num, raw


def _split_groups(cell: str | None, fields: tuple[str, ...]) -> list[dict]:
    return [{k: (v.strip() or None) for k, v in zip(fields, item.split("|"))}
            for item in (cell or "").split(";") if item.strip()]


def _join_groups(items, fields: tuple[str, ...]) -> str:
    return ";".join("|".join(getattr(item, f) or "" for f in fields) for item in items)


def write_csv(records: Iterable[ServiceRecord]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        row = {c: getattr(r, c, None) for c in CSV_COLUMNS if hasattr(r, c)}
        for key in LIST_FIELDS:
            row[key] = ";".join(getattr(r, key))
        row["phones"] = _join_groups(r.phones, PHONE_FIELDS)
        row["locations"] = _join_groups(r.locations, LOCATION_FIELDS)
        row["last_verified"] = r.last_verified.isoformat()
        writer.writerow(row)
    return out.getvalue()


def write_json(records: Iterable[ServiceRecord]) -> str:
    return json.dumps({"services": [r.to_dict() for r in records]}, indent=2, ensure_ascii=False)


# --- Open Referral UK / HSDS 3.0 -------------------------------------------------------------

def _is_hsds(raw: dict) -> bool:
    return "attributes" in raw or "service_areas" in raw


def flat_to_hsds(r: ServiceRecord) -> dict[str, Any]:
    """One service in HSDS 3.0 shape, with our extensions under their own keys."""
    names = areas()
    attributes = [{"taxonomy_term": {"taxonomy": taxonomy, "code": code}}
                  for taxonomy, field in (("format", "formats"), ("audience", "audiences"), ("stage", "stages"),
                                          ("need", "needs"))
                  for code in getattr(r, field)]
    return {
        "id": r.id, "name": r.name, "description": r.description, "url": r.url, "email": r.email,
        "status": "active",
        "organization": {"id": r.organization_id, "name": r.organization_name, "website": r.organization_url},
        "phones": [{"number": p.number, "type": p.type, "description": p.description} for p in r.phones],
        "service_areas": [{"name": names[c].name, "extent": c, "extent_type": "gss_code"} for c in r.areas],
        "languages": [{"code": c} for c in r.languages],
        "cost_options": [{"option": r.cost}] if r.cost else [],
        "schedules": [{"description": r.schedule}] if r.schedule else [],
        "application_process": r.referral_how,
        "service_at_locations": [{"location": {"name": p.name, "location_type": "physical",
                                               "addresses": [{"address_1": p.address_1, "city": p.city,
                                                              "postal_code": p.postcode}]}}
                                 for p in r.locations],
        "attributes": attributes,
        "x_kind": r.kind, "x_referral_route": r.referral_route,
        "x_quality": {"volunteer_training": r.volunteer_training, "supervision": r.supervision,
                      "safeguarding_policy": r.safeguarding_policy},
        "x_source": r.source, "x_last_verified": r.last_verified.isoformat(),
    }


def hsds_to_flat(raw: dict[str, Any]) -> dict[str, Any]:
    """HSDS 3.0 service → our flat raw record (validated afterwards like any other)."""
    org = raw.get("organization") or {}
    terms: dict[str, list[str]] = {t: [] for t in TAXONOMIES}
    for attribute in raw.get("attributes") or []:
        term = (attribute or {}).get("taxonomy_term") or {}
        if term.get("taxonomy") in terms:
            terms[term["taxonomy"]].append(term.get("code"))
    locations = []
    for sal in raw.get("service_at_locations") or []:
        location = (sal or {}).get("location") or {}
        address = ((location.get("addresses") or [{}])[0]) or {}
        locations.append({"name": location.get("name"), "postcode": address.get("postal_code"),
                          "address_1": address.get("address_1"), "city": address.get("city")})
    return {
        "id": raw.get("id"), "name": raw.get("name"), "description": raw.get("description"),
        "url": raw.get("url"), "email": raw.get("email"), "kind": raw.get("x_kind"),
        "organization": {"id": org.get("id"), "name": org.get("name"), "url": org.get("website")},
        "phones": raw.get("phones") or [],
        "formats": terms["format"], "audiences": terms["audience"], "stages": terms["stage"], "needs": terms["need"],
        "areas": [a.get("extent") for a in raw.get("service_areas") or [] if isinstance(a, dict)],
        "languages": [lang.get("code") for lang in raw.get("languages") or [] if isinstance(lang, dict)],
        "cost": next((c.get("option") for c in raw.get("cost_options") or [] if isinstance(c, dict)), None),
        "schedule": next((s.get("description") for s in raw.get("schedules") or [] if isinstance(s, dict)), None),
        "referral": {"route": raw.get("x_referral_route"), "how": raw.get("application_process")},
        "quality": raw.get("x_quality") or {}, "locations": locations,
        "source": raw.get("x_source"), "last_verified": raw.get("x_last_verified"),
    }


def write_oruk(records: Iterable[ServiceRecord]) -> str:
    return json.dumps({"services": [flat_to_hsds(r) for r in records]}, indent=2, ensure_ascii=False)
