"""Matching a person's request to services in the directory.

Hard filters: the service covers the person's council or health board (or is national), is for
their audience and stage. Ranking, best first:
  1. local services in the requested format (a real local fit),
  2. other services in the requested format (national ones, so "nothing local" still helps),
  3. local before national,
  4. more of the person's specific needs met,
  5. nearest in-person location when we know where the person is,
  6. peer support before general helplines, then name.
Steps 1–2 only differ from "local first" when a format was asked for and nothing local offers it.
The filters and order run as one indexed SQL query over the taxonomy masks, so the search stays
fast at 100k services; reasons are worded here from the same facts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session

from bot.directory.records import ServiceRecord
from bot.directory.store import load_records
from bot.models import Location, Service, ServiceArea, ServiceAtLocation, UnmetNeed
from bot.vocabulary import AUDIENCES, FORMATS, NATIONAL_AREAS, NEEDS, STAGES, areas, bit

IN_PERSON_FORMATS = ("group", "one_to_one")


@dataclass(frozen=True)
class MatchRequest:
    council_code: str | None = None
    board_code: str | None = None
    audience: str | None = None
    stage: str | None = None
    format: str | None = None  # None: "don't mind"
    needs: tuple[str, ...] = ()
    easting: int | None = None
    northing: int | None = None
    exclude_ids: tuple[str, ...] = ()
    limit: int = 3

    @property
    def local_codes(self) -> tuple[str, ...]:
        return tuple(c for c in (self.council_code, self.board_code) if c)


@dataclass(frozen=True)
class Match:
    service: ServiceRecord
    local: bool
    format_match: bool
    needs_met: tuple[str, ...]
    distance_km: float | None
    reason: str


@dataclass(frozen=True)
class MatchResult:
    request: MatchRequest
    matches: list[Match] = field(default_factory=list)

    @property
    def local_fit(self) -> bool:
        """Did anything local fit (in the requested format, if one was asked for)?"""
        return any(m.local and m.format_match for m in self.matches)


def find_matches(session: Session, request: MatchRequest) -> MatchResult:
    local_codes = request.local_codes
    is_local = func.max(case((ServiceArea.code.in_(local_codes), 1), else_=0)) if local_codes else literal(0)
    format_ok = (Service.formats_mask.op("&")(bit(request.format, FORMATS)) != 0) if request.format else literal(True)
    needs_met = sum((case((Service.needs_mask.op("&")(bit(n, NEEDS)) != 0, 1), else_=0) for n in request.needs),
                    literal(0))
    distance2 = _distance_squared(request)

    conditions = [ServiceArea.code.in_(local_codes + tuple(NATIONAL_AREAS)), Service.status == "active"]
    if request.audience:
        conditions.append(Service.audiences_mask.op("&")(bit(request.audience, AUDIENCES)) != 0)
    if request.stage:
        conditions.append(Service.stages_mask.op("&")(bit(request.stage, STAGES)) != 0)
    if request.exclude_ids:
        conditions.append(Service.id.not_in(request.exclude_ids))

    query = (
        select(Service.id, is_local.label("local"), format_ok.label("format_ok"), needs_met.label("needs"),
               distance2.label("d2"))
        .join(ServiceArea, ServiceArea.service_id == Service.id)
        .where(and_(*conditions))
        .group_by(Service.id)
        .order_by(
            (is_local * case((format_ok, 1), else_=0)).desc(), format_ok.desc(), is_local.desc(), needs_met.desc(),
            distance2.is_(None), distance2, case((Service.kind == "peer_support", 0), else_=1), Service.name)
        .limit(request.limit)
    )
    rows = session.execute(query).all()
    records = {r.id: r for r in load_records(session, [row.id for row in rows])}
    matches = []
    for row in rows:
        service = records[row.id]
        met = tuple(n for n in request.needs if n in service.needs)
        distance_km = round((row.d2 ** 0.5) / 1000, 1) if row.d2 is not None else None
        matches.append(Match(service, bool(row.local), bool(row.format_ok), met, distance_km,
                             explain(service, request, bool(row.local), met, distance_km)))
    return MatchResult(request, matches)


def _distance_squared(request: MatchRequest):
    """Squared grid distance to the service's nearest in-person location; NULL if unknown."""
    if request.easting is None or request.northing is None:
        return literal(None)
    in_person = or_(*(Service.formats_mask.op("&")(bit(f, FORMATS)) != 0 for f in IN_PERSON_FORMATS))
    nearest = (
        select(func.min((Location.easting - request.easting) * (Location.easting - request.easting)
                        + (Location.northing - request.northing) * (Location.northing - request.northing)))
        .join(ServiceAtLocation, ServiceAtLocation.location_id == Location.id)
        .where(ServiceAtLocation.service_id == Service.id, Location.easting.is_not(None))
        .scalar_subquery()
    )
    return case((in_person, nearest), else_=None)


def explain(service: ServiceRecord, request: MatchRequest, local: bool, needs_met: tuple[str, ...],
            distance_km: float | None) -> str:
    """One plain-English line on why this service was suggested."""
    area_index = areas()
    if local:
        place = next(area_index[c].name for c in service.areas if c in request.local_codes)
        parts = [f"runs in {place.removeprefix('NHS ')}"]
    else:
        parts = ["available wherever you are in Scotland"]
    if request.format and request.format in service.formats:
        parts.append(f"offers {FORMATS[request.format]}, as you asked")
    else:
        parts.append("offers " + " and ".join(FORMATS[f] for f in service.formats[:2]))
    if request.audience == "fathers_partners" and "fathers_partners" in service.audiences \
            and "mothers" not in service.audiences:
        parts.append("just for dads and partners")
    if needs_met:
        parts.append("helps with " + " and ".join(NEEDS[n] for n in needs_met))
    if distance_km is not None:
        parts.append(f"about {distance_km:g} km away")
    text = ", ".join(parts)
    return text[0].upper() + text[1:] + "."


def record_unmet_need(session: Session, request: MatchRequest) -> None:
    """Aggregate facts only (area, format, audience, stage, needs): never who asked."""
    session.add(UnmetNeed(area_code=request.council_code or request.board_code, board_code=request.board_code,
                          format=request.format, audience=request.audience, stage=request.stage,
                          needs=",".join(request.needs) or None))


def signpost(session: Session, request: MatchRequest) -> MatchResult:
    """Find matches; when nothing local fits, record the unmet need so services can be planned."""
    result = find_matches(session, request)
    if request.local_codes and not result.local_fit:
        record_unmet_need(session, request)
    return result
