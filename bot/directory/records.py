"""The service record that crosses module boundaries, and its validation.

One flat, readable shape (what `data/directory/services.yml` holds and `export --format json`
prints). Validation collects every problem with the file, row and field it concerns, so an
import is all-or-nothing and a service manager can fix everything in one pass.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from bot.vocabulary import AUDIENCES, FORMATS, NEEDS, REFERRAL_ROUTES, STAGES, areas

# What kind of support a service gives, said plainly in every suggestion: peers with lived experience
# don't replace clinicians (seed 4.1), and people should know what they are being offered.
KINDS: dict[str, str] = {
    "peer_support": "peer support from people who have been through it",
    "befriending": "befriending by trained volunteers",
    "specialist": "support from trained staff",
    "counselling": "counselling or therapy from trained professionals",
    "helpline": "a support line",
    "information": "information and signposting",
}
# The order a person is offered them in, all else equal: peer support first (the assistant's purpose).
KIND_ORDER = {kind: i for i, kind in enumerate(KINDS)}
# A closed service stays in the directory (its history matters) but is never suggested; paused is temporary.
STATUSES = ("active", "paused", "closed")
PHONE_TYPES = ("voice", "text")
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,99}$")
URL_PATTERN = re.compile(r"^https?://[^\s]+$")
PHONE_PATTERN = re.compile(r"^[0-9 +()]{3,20}$")


@dataclass(frozen=True)
class PhoneNumber:
    number: str
    type: str = "voice"
    description: str | None = None


@dataclass(frozen=True)
class Place:
    name: str | None = None
    postcode: str | None = None
    address_1: str | None = None
    city: str | None = None


@dataclass(frozen=True)
class ServiceRecord:
    id: str
    name: str
    organization_id: str
    organization_name: str
    organization_url: str | None
    kind: str
    description: str | None
    url: str | None
    email: str | None
    phones: tuple[PhoneNumber, ...]
    formats: tuple[str, ...]
    audiences: tuple[str, ...]
    stages: tuple[str, ...]
    needs: tuple[str, ...]
    areas: tuple[str, ...]
    languages: tuple[str, ...]
    cost: str | None
    schedule: str | None
    referral_route: str
    referral_how: str | None
    volunteer_training: str | None
    supervision: str | None
    safeguarding_policy: str | None
    locations: tuple[Place, ...]
    source: str
    last_verified: date
    status: str = "active"
    status_since: date | None = None  # when it became active / paused / closed, if known
    status_note: str | None = None  # why, for the people who keep the directory (HSDS `alert`)
    source_date: date | None = None  # when the source page was published or updated, if known
    # Within its council areas, only these postcode areas (Home-Start Caithness: "KW", which in Highland is
    # Caithness and north-east Sutherland); empty: the whole of each area. National areas are never narrowed.
    postcode_areas: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def referral(self) -> dict[str, str | None]:
        return {"route": self.referral_route, "how": self.referral_how}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ServiceRecord":
        """The inverse of to_dict, for data this program wrote (no validation)."""
        org, referral, quality = data["organization"], data["referral"], data["quality"]
        return cls(
            id=data["id"], name=data["name"], organization_id=org["id"], organization_name=org["name"],
            organization_url=org["url"], kind=data["kind"], description=data["description"], url=data["url"],
            email=data["email"], phones=tuple(PhoneNumber(**p) for p in data["phones"]),
            formats=tuple(data["formats"]), audiences=tuple(data["audiences"]), stages=tuple(data["stages"]),
            needs=tuple(data["needs"]), areas=tuple(data["areas"]), languages=tuple(data["languages"]),
            cost=data["cost"], schedule=data["schedule"], referral_route=referral["route"],
            referral_how=referral["how"], volunteer_training=quality["volunteer_training"],
            supervision=quality["supervision"], safeguarding_policy=quality["safeguarding_policy"],
            locations=tuple(Place(**p) for p in data["locations"]), source=data["source"],
            last_verified=date.fromisoformat(data["last_verified"]), status=data["status"]["state"],
            status_since=_iso(data["status"]["since"]), status_note=data["status"].get("note"),
            source_date=_iso(data["source_date"]), postcode_areas=tuple(data.get("postcode_areas", ())))

    def to_dict(self) -> dict[str, Any]:
        """The export/interchange shape (also the `{"services": [...]}` payload's items)."""
        data = asdict(self)
        for key in ("organization_id", "organization_name", "organization_url"):
            data.pop(key)
        data["organization"] = {"id": self.organization_id, "name": self.organization_name,
                                "url": self.organization_url}
        data["referral"] = self.referral
        for key in ("referral_route", "referral_how", "volunteer_training", "supervision", "safeguarding_policy"):
            data.pop(key)
        data["quality"] = {"volunteer_training": self.volunteer_training, "supervision": self.supervision,
                           "safeguarding_policy": self.safeguarding_policy}
        data["last_verified"] = self.last_verified.isoformat()
        data["status"] = {"state": data.pop("status"), "since": _iso_text(data.pop("status_since")),
                          "note": data.pop("status_note")}
        data["source_date"] = _iso_text(self.source_date)
        for key in ("formats", "audiences", "stages", "needs", "areas", "languages", "postcode_areas"):
            data[key] = list(data[key])
        data["phones"] = [asdict(p) for p in self.phones]
        data["locations"] = [asdict(p) for p in self.locations]
        return data


def _iso(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def _iso_text(day: date | None) -> str | None:
    return day.isoformat() if day else None


@dataclass
class RecordError:
    file: str
    row: int  # 1-based position of the record in its file (CSV: the line number)
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}, row {self.row}, field '{self.field}': {self.message}"


class ImportFailed(Exception):
    def __init__(self, errors: list[RecordError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


@dataclass
class _Checker:
    file: str
    row: int
    errors: list[RecordError] = field(default_factory=list)

    def fail(self, name: str, message: str) -> None:
        self.errors.append(RecordError(self.file, self.row, name, message))

    def text(self, name: str, value: Any, required: bool = False, pattern: re.Pattern | None = None,
             max_len: int = 2000) -> str | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.fail(name, "is required")
            return None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            self.fail(name, f"must be text, not {type(value).__name__}")
            return None
        value = str(value).strip()
        if len(value) > max_len:
            self.fail(name, f"is longer than {max_len} characters")
        elif pattern and not pattern.match(value):
            self.fail(name, f"'{value}' is not in the expected form")
        return value

    def codes(self, raw: dict, name: str, allowed, required: bool = True) -> tuple[str, ...]:
        value = raw.get(name) or []
        if isinstance(value, str):
            value = [v for v in re.split(r"[;,]", value) if v.strip()]
        if not isinstance(value, list):
            self.fail(name, "must be a list of codes")
            return ()
        codes = tuple(dict.fromkeys(str(v).strip() for v in value))
        unknown = [c for c in codes if c not in allowed]
        if unknown:
            self.fail(name, f"unknown code(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
        if required and not codes:
            self.fail(name, "needs at least one code")
        known = [c for c in codes if c in allowed]
        if isinstance(allowed, dict):  # canonical order: a record is the same however it was typed
            order = {code: i for i, code in enumerate(allowed)}
            known.sort(key=order.__getitem__)
        return tuple(known)


def parse_record(raw: Any, file: str, row: int) -> tuple[ServiceRecord | None, list[RecordError]]:
    """Validate one raw record (from YAML, JSON or CSV). Returns the record or the errors."""
    check = _Checker(file, row)
    if not isinstance(raw, dict):
        check.fail("(record)", "must be a mapping of field names to values")
        return None, check.errors
    org = raw.get("organization") or {}
    if not isinstance(org, dict):
        check.fail("organization", "must be a mapping with id, name and url")
        org = {}
    record_id = check.text("id", raw.get("id"), required=True, pattern=ID_PATTERN)
    name = check.text("name", raw.get("name"), required=True, max_len=300)
    org_id = check.text("organization.id", org.get("id"), True, ID_PATTERN)
    org_name = check.text("organization.name", org.get("name"), True)
    org_url = check.text("organization.url", org.get("url"), False, URL_PATTERN)
    kind = check.text("kind", raw.get("kind"), required=True) or ""
    if kind and kind not in KINDS:
        check.fail("kind", f"'{kind}' is not one of {', '.join(KINDS)}")
    status, status_since, status_note = _status(raw.get("status"), check)
    url = check.text("url", raw.get("url"), pattern=URL_PATTERN)
    email = check.text("email", raw.get("email"), pattern=re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$"))
    phones = _phones(raw.get("phones"), check)
    if not (url or org_url or phones or email):
        check.fail("url", "a service needs at least one way to reach it (url, phone or email)")
    referral = raw.get("referral") or {}
    if not isinstance(referral, dict):
        check.fail("referral", "must be a mapping with route and how")
        referral = {}
    route = str(referral.get("route") or "self")
    if route not in REFERRAL_ROUTES:
        check.fail("referral.route", f"'{route}' is not one of {', '.join(REFERRAL_ROUTES)}")
    quality = raw.get("quality") or {}
    if not isinstance(quality, dict):
        check.fail("quality", "must be a mapping")
        quality = {}
    source = check.text("source", raw.get("source"), required=True, max_len=500)
    verified = _date(raw.get("last_verified"), check, "last_verified", required=True)
    source_date = _date(raw.get("source_date"), check, "source_date")
    locations = _locations(raw.get("locations"), check)
    record = ServiceRecord(
        id=record_id or "", name=name or "", organization_id=org_id or "", organization_name=org_name or "",
        organization_url=org_url, kind=kind, description=check.text("description", raw.get("description")), url=url, email=email,
        phones=phones,
        formats=check.codes(raw, "formats", FORMATS), audiences=check.codes(raw, "audiences", AUDIENCES),
        stages=check.codes(raw, "stages", STAGES), needs=check.codes(raw, "needs", NEEDS, required=False),
        areas=check.codes(raw, "areas", areas()),
        postcode_areas=check.codes(raw, "postcode_areas", _PostcodeAreas(), required=False),
        languages=check.codes(raw, "languages", _LanguageCodes(), required=False) or ("en",),
        cost=check.text("cost", raw.get("cost")), schedule=check.text("schedule", raw.get("schedule")),
        referral_route=route, referral_how=str(referral["how"]).strip() if referral.get("how") else None,
        volunteer_training=check.text("quality.volunteer_training", quality.get("volunteer_training")),
        supervision=check.text("quality.supervision", quality.get("supervision")),
        safeguarding_policy=check.text("quality.safeguarding_policy", quality.get("safeguarding_policy")),
        locations=locations,
        source=source or "", last_verified=verified or date.min,
        status=status, status_since=status_since, status_note=status_note, source_date=source_date,
    )
    return (None if check.errors else record), check.errors


class _LanguageCodes:
    """ISO 639-1: two lowercase letters (membership test only)."""

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and re.fullmatch(r"[a-z]{2}", code) is not None

    def __iter__(self):
        return iter(["two-letter ISO 639-1 codes such as en, gd, pl, ar"])


class _PostcodeAreas:
    """The letters of a UK postcode area: "KW", "G" (membership test only)."""

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and re.fullmatch(r"[A-Z]{1,2}", code) is not None

    def __iter__(self):
        return iter(["postcode areas: the one or two capital letters a postcode starts with, such as KW or G"])


def _phones(value: Any, check: _Checker) -> tuple[PhoneNumber, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list):
        check.fail("phones", "must be a list of {number, type, description}")
        return ()
    phones = []
    for i, item in enumerate(value, 1):
        if not isinstance(item, dict) or not item.get("number"):
            check.fail(f"phones[{i}]", "needs a number")
            continue
        number = str(item["number"]).strip()
        kind = str(item.get("type") or "voice")
        if not PHONE_PATTERN.match(number):
            check.fail(f"phones[{i}].number", f"'{number}' is not a phone number")
        if kind not in PHONE_TYPES:
            check.fail(f"phones[{i}].type", f"'{kind}' is not one of {', '.join(PHONE_TYPES)}")
        phones.append(PhoneNumber(number, kind, item.get("description")))
    return tuple(phones)


def _locations(value: Any, check: _Checker) -> tuple[Place, ...]:
    if value in (None, ""):
        return ()
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        check.fail("locations", "must be a list of {name, postcode, address_1, city}")
        return ()
    return tuple(Place(v.get("name"), v.get("postcode"), v.get("address_1"), v.get("city")) for v in value)


def _status(value: Any, check: _Checker) -> tuple[str, date | None, str | None]:
    """`{state: closed, since: 2025-03-31, note: ...}` (or just `active`); a change of state needs its date."""
    if value in (None, ""):
        return "active", None, None
    if isinstance(value, str):
        value = {"state": value}
    if not isinstance(value, dict):
        check.fail("status", "must be a mapping {state, since, note}")
        return "active", None, None
    state = str(value.get("state") or "active").strip()
    if state not in STATUSES:
        check.fail("status.state", f"'{state}' is not one of {', '.join(STATUSES)}")
    since = _date(value.get("since"), check, "status.since", required=state != "active")
    return state, since, check.text("status.note", value.get("note"), max_len=1000)


def _date(value: Any, check: _Checker, name: str, required: bool = False) -> date | None:
    if isinstance(value, date):
        parsed = value
    elif isinstance(value, str) and value.strip():
        try:
            parsed = date.fromisoformat(value.strip())
        except ValueError:
            check.fail(name, f"'{value}' is not a date (YYYY-MM-DD)")
            return None
    else:
        if required:
            check.fail(name, "is required (YYYY-MM-DD)")
        return None
    if parsed > date.today():
        check.fail(name, f"{parsed} is in the future")
    return parsed
