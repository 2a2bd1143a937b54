"""Open Referral (HSDS 3.0) in and out: our records as schema-valid HSDS services, and outside feeds in.

Export follows the published compiled schema (`schema/compiled/service.json`, vendored unmodified in
tests/data/openreferral/) with no properties of our own, so it also validates with
`additionalProperties: false` everywhere, as Open Referral's own example checks do. Where HSDS has no field
for something we keep, it goes where HSDS puts extensions: taxonomy-term `attributes` (our perinatal terms,
the kind of support, the referral route, quality notes, our record id), `metadata` (source and status
history) and `assured_date` (when a person last checked the record).

Import takes one service, a list, `{"services": [...]}` or a paginated API page (`{"contents": [...]}`).
Foreign taxonomy terms are mapped through data/directory/openreferral-terms.yml. A record that still
can't become one of ours (no Scottish area, no format, ...) is held for review with its reasons: feeds
are not all-or-nothing, unlike our own files.
"""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Any, Iterable

import yaml

from bot import DATA_DIR
from bot.directory.records import KINDS, RecordError, ServiceRecord, parse_record
from bot.vocabulary import REFERRAL_ROUTES, TAXONOMIES, areas

# Stable ids: the same record always exports with the same UUIDs.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/perinatal-peer-support-scotland/directory")
TAXONOMY_NAME = "perinatal-peer-support-scotland"
TAXONOMY_DESCRIPTION = ("Terms of the Scottish perinatal peer-support directory: formats, audiences, stages, "
                        "needs, kind of support, referral route, quality notes and record ids.")
GSS_URI = "http://statistics.gov.scot/id/statistical-geography/"
# GSS codes of the two national extents (statistics.gov.scot / ONS).
NATIONAL_GSS = {"scotland": "S92000003", "uk": "K02000001"}
STATUS_TO_HSDS = {"active": "active", "paused": "temporarily closed", "closed": "defunct"}
STATUS_FROM_HSDS = {"active": "active", "temporarily closed": "paused", "inactive": "closed", "defunct": "closed"}
QUALITY_FIELDS = ("volunteer_training", "supervision", "safeguarding_policy")
# The kinds of our own terms beyond the shared vocabularies, with their names.
EXTRA_TAXONOMIES: dict[str, dict[str, str]] = {
    "kind": dict(KINDS),
    "referral_route": dict(REFERRAL_ROUTES),
    "quality": {"volunteer_training": "Volunteer training", "supervision": "Supervision",
                "safeguarding_policy": "Safeguarding policy"},
    "record": {"service_id": "Directory service id", "organization_id": "Directory organisation id",
               "postcode_areas": "Only these postcode areas within its service areas"},
}
MAPPING_FILE = DATA_DIR / "directory" / "openreferral-terms.yml"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def _term(taxonomy: str, code: str) -> dict[str, Any]:
    names = {**TAXONOMIES, **EXTRA_TAXONOMIES}[taxonomy]
    return {"id": _uuid("term", taxonomy, code), "code": f"{taxonomy}:{code}", "name": names[code],
            "description": f"{taxonomy.replace('_', ' ').capitalize()}: {names[code]}", "taxonomy": TAXONOMY_NAME,
            "taxonomy_detail": {"id": _uuid("taxonomy"), "name": TAXONOMY_NAME, "description": TAXONOMY_DESCRIPTION}}


def _attribute(service_uuid: str, taxonomy: str, code: str, value: str | None = None) -> dict[str, Any]:
    attribute = {"id": _uuid("attribute", service_uuid, taxonomy, code), "link_id": service_uuid,
                 "link_type": "service", "link_entity": "service", "taxonomy_term_id": _uuid("term", taxonomy, code),
                 "taxonomy_term": _term(taxonomy, code)}
    if value is not None:
        attribute["value"] = value
    return attribute


def _metadata(service_uuid: str, field: str, action: str, day: date, value: str) -> dict[str, Any]:
    return {"id": _uuid("metadata", service_uuid, field, action), "resource_id": service_uuid,
            "resource_type": "service", "last_action_date": day.isoformat(), "last_action_type": action,
            "field_name": field, "previous_value": "", "replacement_value": value,
            "updated_by": "directory maintainers"}


def _area(service_uuid: str, code: str) -> dict[str, Any]:
    gss = NATIONAL_GSS.get(code, code)
    return {"id": _uuid("area", service_uuid, code), "service_id": service_uuid, "name": areas()[code].name,
            "uri": GSS_URI + gss}


def _strip_none(value):
    """HSDS strings may not be null: leave unknown values out."""
    if isinstance(value, dict):
        return {k: _strip_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_none(v) for v in value]
    return value


def to_hsds(r: ServiceRecord) -> dict[str, Any]:
    """One service as an HSDS 3.0 service object."""
    sid, oid = _uuid("service", r.id), _uuid("organization", r.organization_id)
    attributes = [_attribute(sid, taxonomy, code)
                  for taxonomy, field in (("format", "formats"), ("audience", "audiences"), ("stage", "stages"),
                                          ("need", "needs"))
                  for code in getattr(r, field)]
    attributes += [_attribute(sid, "kind", r.kind), _attribute(sid, "referral_route", r.referral_route),
                   _attribute(sid, "record", "service_id", r.id),
                   _attribute(sid, "record", "organization_id", r.organization_id)]
    if r.postcode_areas:  # HSDS service areas are whole areas; the narrowing travels as our own attribute
        attributes.append(_attribute(sid, "record", "postcode_areas", " ".join(r.postcode_areas)))
    attributes += [_attribute(sid, "quality", name, getattr(r, name)) for name in QUALITY_FIELDS
                   if getattr(r, name)]
    metadata = [_metadata(sid, "source", "verified", r.source_date or r.last_verified, r.source)]
    if r.source_date:
        metadata[0]["last_action_type"] = "source_published"
    if r.status_since:
        metadata.append(_metadata(sid, "status", "status_changed", r.status_since, r.status))
    places = []
    for i, p in enumerate(r.locations, 1):
        lid = _uuid("location", r.id, str(i))
        location = {"id": lid, "location_type": "physical", "name": p.name}
        if p.address_1 or p.city or p.postcode:
            location["addresses"] = [{"id": _uuid("address", lid), "location_id": lid, "address_1": p.address_1 or "",
                                      "city": p.city or "", "state_province": "Scotland",
                                      "postal_code": p.postcode or "", "country": "GB", "address_type": "physical"}]
        places.append({"id": _uuid("service_at_location", sid, str(i)), "service_id": sid, "location_id": lid,
                       "location": location})
    return _strip_none({
        "id": sid, "organization_id": oid, "name": r.name, "description": r.description, "url": r.url,
        "email": r.email, "status": STATUS_TO_HSDS[r.status], "alert": r.status_note,
        "application_process": r.referral_how,
        "assured_date": r.last_verified.isoformat(),
        "organization": {"id": oid, "name": r.organization_name, "website": r.organization_url,
                         "description": f"The organisation that runs {r.name}."},
        "phones": [{"id": _uuid("phone", sid, str(i)), "service_id": sid, "number": p.number, "type": p.type,
                    "description": p.description} for i, p in enumerate(r.phones, 1)],
        "service_areas": [_area(sid, code) for code in r.areas],
        "languages": [{"id": _uuid("language", sid, code), "service_id": sid, "code": code} for code in r.languages],
        "cost_options": [{"id": _uuid("cost", sid), "service_id": sid, "option": r.cost}] if r.cost else [],
        "schedules": [{"id": _uuid("schedule", sid), "service_id": sid, "description": r.schedule}]
        if r.schedule else [],
        "service_at_locations": places,
        "attributes": attributes,
        "metadata": metadata,
    })


# --- import --------------------------------------------------------------------------------------

def is_hsds(raw: Any) -> bool:
    """An HSDS service, as opposed to our flat record (which has `formats` and no `attributes`)."""
    return isinstance(raw, dict) and "formats" not in raw and any(
        key in raw for key in ("attributes", "service_areas", "status", "organization_id", "assured_date"))


@dataclass(frozen=True)
class Held:
    """A feed record that could not become one of ours, and why."""
    feed: str
    row: int
    external_id: str | None
    name: str | None
    reasons: tuple[str, ...]
    raw: Any


@dataclass(frozen=True)
class _Rule:
    names: frozenset[str]
    codes: frozenset[str]
    to: tuple[str, ...]


@lru_cache(maxsize=1)
def mapping_rules() -> tuple[_Rule, ...]:
    raw = yaml.safe_load(MAPPING_FILE.read_text(encoding="utf-8"))
    rules = []
    for rule in raw["rules"]:
        for target in rule["to"]:
            taxonomy, _, code = target.partition(":")
            if code not in {**TAXONOMIES, **EXTRA_TAXONOMIES}.get(taxonomy, {}):
                raise ValueError(f"{MAPPING_FILE.name}: unknown target {target}")
        rules.append(_Rule(frozenset(n.casefold() for n in rule.get("names", ())),
                           frozenset(c.casefold() for c in rule.get("codes", ())), tuple(rule["to"])))
    return tuple(rules)


def _our_codes(term: dict[str, Any]) -> list[str]:
    """`taxonomy:code` targets for one taxonomy term: ours directly, others through the mapping rules."""
    code = str(term.get("code") or "")
    detail = term.get("taxonomy_detail") or {}
    if TAXONOMY_NAME in (term.get("taxonomy"), detail.get("name")):
        return [code]
    name = str(term.get("name") or "").casefold().strip()
    qualified = f"{term.get('taxonomy') or detail.get('name') or ''}:{code}".casefold()
    return [target for rule in mapping_rules()
            if name in rule.names or qualified in rule.codes or (code and code.casefold() in rule.codes)
            for target in rule.to]


def _area_code(area: dict[str, Any]) -> str | None:
    index = areas()
    by_gss = {gss: code for code, gss in NATIONAL_GSS.items()}
    for text in (area.get("uri"), area.get("extent")):
        found = re.search(r"\b([SK]\d{8})\b", str(text or ""))
        if found:
            gss = found.group(1)
            return by_gss.get(gss, gss if gss in index else None)
    name = str(area.get("name") or "").casefold().strip()
    # A council before its board: "Fife" is both, and the council is the more specific.
    for a in sorted(index.values(), key=lambda a: a.kind != "council"):
        if name and (name == a.name.casefold() or name in a.aliases):
            return a.code
    return {"united kingdom": "uk", "uk": "uk"}.get(name)


def from_hsds(raw: dict[str, Any], feed: str, today: date | None = None) -> dict[str, Any]:
    """An HSDS service → our flat raw record (validated afterwards like any other)."""
    terms: dict[str, list[str]] = {}
    values: dict[str, str] = {}
    for attribute in raw.get("attributes") or []:
        term = (attribute or {}).get("taxonomy_term") if isinstance(attribute, dict) else None
        for target in _our_codes(term) if isinstance(term, dict) else ():
            taxonomy, _, code = target.partition(":")
            terms.setdefault(taxonomy, []).append(code)
            if attribute.get("value") is not None:
                values[target] = str(attribute["value"])
    org = raw.get("organization") if isinstance(raw.get("organization"), dict) else {}
    provenance = {m.get("field_name"): m for m in raw.get("metadata") or [] if isinstance(m, dict)}
    source, status = provenance.get("source") or {}, provenance.get("status") or {}
    locations = []
    for sal in raw.get("service_at_locations") or []:
        location = (sal or {}).get("location") or {}
        address = ((location.get("addresses") or [{}])[0]) or {}
        locations.append({"name": location.get("name"), "postcode": address.get("postal_code") or None,
                          "address_1": address.get("address_1") or None, "city": address.get("city") or None})
    first = lambda items, key: next((i.get(key) for i in items or [] if isinstance(i, dict)), None)  # noqa: E731
    return {
        "id": values.get("record:service_id") or raw.get("id"), "name": raw.get("name"),
        "description": raw.get("description"), "url": raw.get("url"), "email": raw.get("email"),
        "kind": (terms.get("kind") or [None])[0],
        "organization": {"id": values.get("record:organization_id") or org.get("id") or raw.get("organization_id"),
                         "name": org.get("name"), "url": org.get("website")},
        "phones": [{"number": p.get("number"), "type": p.get("type") if p.get("type") in ("voice", "text") else "voice",
                    "description": p.get("description")} for p in raw.get("phones") or [] if isinstance(p, dict)],
        "formats": terms.get("format", []), "audiences": terms.get("audience", []),
        "stages": terms.get("stage", []), "needs": terms.get("need", []),
        "areas": [code for a in raw.get("service_areas") or [] if isinstance(a, dict) and (code := _area_code(a))],
        "postcode_areas": (values.get("record:postcode_areas") or "").split(),
        "languages": [lang.get("code") for lang in raw.get("languages") or [] if isinstance(lang, dict)
                      and isinstance(lang.get("code"), str) and len(lang["code"]) == 2],
        "cost": first(raw.get("cost_options"), "option"),
        "schedule": first(raw.get("schedules"), "description"),
        "referral": {"route": (terms.get("referral_route") or ["self"])[0], "how": raw.get("application_process")},
        "quality": {name: values.get(f"quality:{name}") for name in QUALITY_FIELDS},
        "locations": locations,
        "status": {"state": STATUS_FROM_HSDS.get(str(raw.get("status") or "active"), "closed"),
                   "since": status.get("last_action_date"), "note": raw.get("alert")},
        # Where a feed says nothing of its own provenance, the feed is the source and today is when we read it.
        "source": source.get("replacement_value") or feed,
        "source_date": source.get("last_action_date") if source.get("last_action_type") == "source_published" else None,
        "last_verified": raw.get("assured_date") or (today or date.today()).isoformat(),
    }


def read_hsds(items: Iterable[tuple[int, Any]], feed: str) -> tuple[list[ServiceRecord], list[Held]]:
    """Records that map, and the rest held with plain reasons (never dropped, never blocking the others)."""
    records, held = [], []
    for row, raw in items:
        flat = from_hsds(raw, feed) if isinstance(raw, dict) else raw
        record, errors = parse_record(flat, feed, row)
        if record:
            records.append(record)
        else:
            held.append(Held(feed, row, raw.get("id") if isinstance(raw, dict) else None,
                             raw.get("name") if isinstance(raw, dict) else None,
                             tuple(_plain(e, flat) for e in errors), raw))
    return records, held


def _plain(error: RecordError, flat: Any) -> str:
    if isinstance(flat, dict):
        if error.field == "areas" and not flat.get("areas"):
            return "no Scottish area: none of its service_areas names a Scottish council, health board or Scotland"
        if error.field in ("formats", "audiences", "stages") and not flat.get(error.field):
            return (f"no {error.field[:-1]}: none of its taxonomy terms maps to one of ours "
                    f"(add a rule to {MAPPING_FILE.name})")
        if error.field == "kind" and not flat.get("kind"):
            return f"no kind of support (peer support, befriending, ...): add a rule to {MAPPING_FILE.name}"
    return f"{error.field}: {error.message}"


def write_hsds(records: Iterable[ServiceRecord]) -> list[dict[str, Any]]:
    return [to_hsds(r) for r in records]
