"""Reading and writing directory files: our flat YAML/JSON, Open Referral UK (HSDS) JSON, and CSV."""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

import yaml

from bot.directory.openreferral import Held, is_hsds, read_hsds, write_hsds
from bot.directory.records import ImportFailed, RecordError, ServiceRecord, parse_record

LIST_FIELDS = ("formats", "audiences", "stages", "needs", "areas", "postcode_areas", "languages")
CSV_COLUMNS = ("id", "name", "organization_id", "organization_name", "organization_url", "kind", "description",
               "url", "email", "phones", *LIST_FIELDS, "cost", "schedule", "referral_route", "referral_how",
               "volunteer_training", "supervision", "safeguarding_policy", "locations", "source", "source_date", "last_verified", "status",
               "status_since", "status_note")
# Repeating groups in one CSV cell: items separated by ";", their fields by "|".
PHONE_FIELDS = ("number", "type", "description")
LOCATION_FIELDS = ("name", "address_1", "city", "postcode")


def read_records(path: Path) -> list[ServiceRecord]:
    """Every record in a file, or ImportFailed naming each bad file/row/field (held feed records included)."""
    records, held = read_file(path)
    if held:
        raise ImportFailed([RecordError(h.feed, h.row, "(record)", "; ".join(h.reasons)) for h in held])
    return records


def read_file(path: Path, feed: str | None = None) -> tuple[list[ServiceRecord], list[Held]]:
    """Our own files are all-or-nothing (ImportFailed names each bad file/row/field). Open Referral records
    that can't be mapped come back as Held, for review, and don't block the rest of the feed."""
    name = path.name
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed([RecordError(name, 0, "(file)", f"cannot be read: {exc}")]) from exc
    if path.suffix.lower() == ".csv":
        raw_rows = list(_csv_rows(text))
    else:
        raw_rows = [(i, item) for i, item in enumerate(_structured_items(text, name), 1)]
    feed_rows = [(row, raw) for row, raw in raw_rows if is_hsds(raw)]
    records, held = read_hsds(feed_rows, feed or name)
    errors = []
    for row, raw in raw_rows:
        if is_hsds(raw):
            continue
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
    return records, held


def _structured_items(text: str, name: str) -> list[Any]:
    try:
        data = json.loads(text) if name.lower().endswith(".json") else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ImportFailed([RecordError(name, 0, "(file)", f"is not valid {'JSON' if name.endswith('.json') else 'YAML'}: {exc}")]) from exc
    if isinstance(data, dict):
        # Our files hold {"services": [...]}; ORUK API pages hold {"contents": [...]}; a lone service is itself.
        if "services" in data or "contents" in data:
            data = data.get("services", data.get("contents"))
        elif "id" in data and "name" in data:
            data = [data]
    if not isinstance(data, list):
        raise ImportFailed([RecordError(name, 0, "(file)", "must hold a service, a list of services, "
                                                           "{services: [...]} or an API page {contents: [...]}")])
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
        raw["status"] = {"state": raw.pop("status", None), "since": raw.pop("status_since", None),
                         "note": raw.pop("status_note", None)}
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
        for key in ("last_verified", "source_date", "status_since"):
            row[key] = getattr(r, key).isoformat() if getattr(r, key) else ""
        writer.writerow(row)
    return out.getvalue()


def write_json(records: Iterable[ServiceRecord]) -> str:
    return json.dumps({"services": [r.to_dict() for r in records]}, indent=2, ensure_ascii=False)


def write_oruk(records: Iterable[ServiceRecord]) -> str:
    """Open Referral UK / HSDS 3.0: a list of service objects (bot.directory.openreferral)."""
    return json.dumps(write_hsds(records), indent=2, ensure_ascii=False)
