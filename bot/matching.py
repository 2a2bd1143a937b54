"""Matching a person's request to services in the directory: which services, in which order.

Turning the result into words is bot/signposting.py's job; this module only ranks.

Hard filters (a service failing one is never suggested):
  - active, and covering the person's council or health board, or national; a service covering only part
    of its council area (by postcode area: Home-Start Caithness is KW in Highland) is local only to people
    whose postcode or place lies in it, or who gave no more than the council;
  - for their audience and stage (when known; a skipped answer filters nothing);
  - not offered only in formats the person refused ("no groups", "I hate phones");
  - not a specialist service unless the person stated a need it is for (baby loss, domestic abuse,
    substance use, neonatal care, birth trauma, ethnic minority, young or lone parents, LGBTQ+): offered
    to someone who never mentioned it, such a service is worse than a shorter list, and can read as a
    judgement;
  - when a format was asked for: offering it, unless the service meets a need the person stated
    (then signposting says plainly that it does not offer that format) or nothing at all offers it.

Ranking, best first, and why:
  1. more of the person's stated needs met: someone who said "traumatic birth" or "in recovery" is
     helped most by the service for that, wherever it is based (a baby-loss stage counts as stating it);
  2. offers the requested format: what the person asked for, before where it is;
  3. local before national (local groups are what peer support is mostly about);
  4. nearest in-person location, when we know where the person is;
  5. when whom it is for is unknown (the role skipped, or a friend asking): services open to mums, dads and
     families before services for one of them, which may not be the person's (a national one for one group,
     meeting no stated need, is left out when two or more others are found);
  6. fewer needs the service focuses on that the person did not state (general support first);
  7. by kind of support (bot.directory.records.KINDS): peer support, befriending, counselling, then
     support lines and information; then name.

Search runs on an in-memory index of the taxonomy masks (numpy arrays, one row per service),
rebuilt from the database whenever the directory's revision number changes; the database stays
the source of truth. That keeps a search well under 10 ms at 100k services (bench/).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.directory.records import KIND_ORDER, ServiceRecord
from bot.directory.store import current_revision, load_cached_records
from bot.models import Location, Service, ServiceArea, ServiceAtLocation
from bot.vocabulary import AUDIENCES, FORMATS, NATIONAL_AREAS, NEEDS, SPECIALIST_NEEDS, STAGES, bit, mask

IN_PERSON = bit("group", FORMATS) | bit("one_to_one", FORMATS)


@dataclass(frozen=True)
class MatchRequest:
    council_code: str | None = None
    board_code: str | None = None
    audience: str | None = None
    stage: str | None = None
    format: str | None = None  # None: "don't mind"
    avoid_formats: tuple[str, ...] = ()  # formats the person refused
    needs: tuple[str, ...] = ()
    easting: int | None = None
    northing: int | None = None
    postcode_area: str | None = None  # "KW": narrows services that cover only part of a council area
    exclude_ids: tuple[str, ...] = ()
    limit: int = 3

    @property
    def local_codes(self) -> tuple[str, ...]:
        return tuple(c for c in (self.council_code, self.board_code) if c)

    @property
    def asked_needs(self) -> tuple[str, ...]:
        """The needs stated, plus baby loss when that is the stage (the button says only the stage)."""
        implied = ("baby_loss",) if self.stage == "baby_loss" and "baby_loss" not in self.needs else ()
        return self.needs + implied


@dataclass(frozen=True)
class Match:
    service: ServiceRecord
    local: bool
    format_match: bool  # offers the requested format (True when none was asked for)
    needs_met: tuple[str, ...]
    distance_km: float | None


@dataclass(frozen=True)
class MatchResult:
    request: MatchRequest
    matches: list[Match] = field(default_factory=list)

    @property
    def local_fit(self) -> bool:
        """Did anything local fit (in the requested format, if one was asked for)?"""
        return any(m.local and m.format_match for m in self.matches)


class SearchIndex:
    """Column arrays over every active service, and row numbers per area code."""

    def __init__(self, session: Session, revision: int) -> None:
        self.revision = revision
        rows = session.execute(
            select(Service.id, Service.formats_mask, Service.audiences_mask, Service.stages_mask,
                   Service.needs_mask, Service.kind, Service.name, Service.postcode_areas)
            .where(Service.status == "active").order_by(Service.name, Service.id)).all()
        self.ids = np.array([r.id for r in rows], dtype=object)
        self.row_of = {sid: i for i, sid in enumerate(self.ids)}
        self.formats, self.audiences, self.stages, self.needs = (
            np.array([r[k] for r in rows], dtype=np.int64) for k in range(1, 5))
        self.kind_rank = np.array([KIND_ORDER.get(r.kind, len(KIND_ORDER)) for r in rows], dtype=np.int64)
        # The few services covering only part of their council area: row → the postcode areas they cover.
        self.postcode_areas = {i: frozenset(r.postcode_areas.split()) for i, r in enumerate(rows) if r.postcode_areas}
        # Rows are in name order, so the row number is the final tie-break.
        by_area: dict[str, list[int]] = {}
        for sid, code in session.execute(select(ServiceArea.service_id, ServiceArea.code)):
            if sid in self.row_of:
                by_area.setdefault(code, []).append(self.row_of[sid])
        self.by_area = {code: np.array(sorted(rows_), dtype=np.int64) for code, rows_ in by_area.items()}
        points = sorted((self.row_of[sid], e, n) for sid, e, n in session.execute(
            select(ServiceAtLocation.service_id, Location.easting, Location.northing)
            .join(Location, Location.id == ServiceAtLocation.location_id)
            .where(Location.easting.is_not(None))) if sid in self.row_of)
        # Locations sorted by service row; a service's points are point_xy[start:start + count].
        point_rows = np.array([p[0] for p in points], dtype=np.int64)
        self.point_xy = np.array([(p[1], p[2]) for p in points], dtype=np.float64).reshape(-1, 2)
        self.point_count = np.bincount(point_rows, minlength=len(self.ids))
        self.point_start = np.searchsorted(point_rows, np.arange(len(self.ids)))

    def rows_for(self, codes) -> np.ndarray:
        found = [self.by_area[c] for c in codes if c in self.by_area]
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def rank(self, request: MatchRequest) -> list[tuple[str, bool, bool, int, float | None]]:
        """(service id, local, format_ok, needs met, squared distance) for the best `limit` services."""
        local_rows = self.rows_for(request.local_codes)
        if request.postcode_area:  # someone in Portree (IV) is not in reach of a service for Caithness (KW)
            local_rows = np.array([r for r in local_rows if request.postcode_area in
                                   self.postcode_areas.get(r, (request.postcode_area,))], dtype=np.int64)
        candidates = np.union1d(local_rows, self.rows_for(NATIONAL_AREAS))
        keep = np.ones(len(candidates), dtype=bool)
        if request.audience:
            keep &= (self.audiences[candidates] & bit(request.audience, AUDIENCES)) != 0
        if request.stage:
            keep &= (self.stages[candidates] & bit(request.stage, STAGES)) != 0
        if request.avoid_formats:
            keep &= (self.formats[candidates] & ~mask(request.avoid_formats, FORMATS)) != 0
        asked = request.asked_needs
        # A specialist service is offered only to someone who stated at least one of the needs it is for.
        specialist = (self.needs[candidates] & mask(SPECIALIST_NEEDS, NEEDS)) != 0
        keep &= ~specialist | ((self.needs[candidates] & mask(asked, NEEDS)) != 0)
        if request.exclude_ids:
            excluded = [self.row_of[i] for i in request.exclude_ids if i in self.row_of]
            keep &= ~np.isin(candidates, excluded)
        rows = candidates[keep]
        needs_met = sum(((self.needs[rows] & bit(n, NEEDS)) != 0).astype(np.int64) for n in asked) \
            if asked else np.zeros(len(rows), dtype=np.int64)
        format_ok = ((self.formats[rows] & bit(request.format, FORMATS)) != 0 if request.format
                     else np.ones(len(rows), dtype=bool))
        if format_ok.any():  # the format asked for, unless the service is there for a need they stated
            rows, needs_met, format_ok = (a[format_ok | (needs_met > 0)] for a in (rows, needs_met, format_ok))
        if len(rows) == 0:
            return []
        local = np.isin(rows, local_rows)
        unasked = mask(set(NEEDS) - set(asked), NEEDS)
        specialisms = sum(((self.needs[rows] & bit(n, NEEDS) & unasked) != 0).astype(np.int64) for n in NEEDS)
        # Whom it is for unknown (skipped, or a friend asking): services open to everyone before those for one group,
        # and a national service for one group (a dads' line to someone who may be a mum) only to fill a short list.
        for_one_group = (self.audiences[rows] != mask(AUDIENCES, AUDIENCES)) if not request.audience \
            else np.zeros(len(rows), dtype=bool)
        padding = for_one_group & ~local & (needs_met == 0)
        if padding.any() and (~padding).sum() >= 2:
            rows, local, format_ok, needs_met, specialisms, for_one_group = (
                a[~padding] for a in (rows, local, format_ok, needs_met, specialisms, for_one_group))
        distance2 = self._distance2(rows, request)
        order = np.lexsort((rows, self.kind_rank[rows], specialisms, for_one_group, distance2, ~local, ~format_ok,
                            -needs_met))[:request.limit]
        return [(self.ids[rows[i]], bool(local[i]), bool(format_ok[i]), int(needs_met[i]),
                 None if np.isinf(distance2[i]) else float(distance2[i])) for i in order]

    def _distance2(self, rows: np.ndarray, request: MatchRequest) -> np.ndarray:
        """Squared grid distance to each in-person service's nearest location; inf if unknown."""
        distance2 = np.full(len(rows), np.inf)
        if request.easting is None or request.northing is None:
            return distance2
        located = np.flatnonzero(((self.formats[rows] & IN_PERSON) != 0) & (self.point_count[rows] > 0))
        if len(located) == 0:
            return distance2
        counts = self.point_count[rows[located]]
        offsets = np.cumsum(counts) - counts
        points = np.repeat(self.point_start[rows[located]] - offsets, counts) + np.arange(counts.sum())
        d2 = ((self.point_xy[points] - (request.easting, request.northing)) ** 2).sum(axis=1)
        distance2[located] = np.minimum.reduceat(d2, offsets)
        return distance2


_index_lock = threading.Lock()
_indexes: dict[str, SearchIndex] = {}  # by database URL


def search_index(session: Session) -> SearchIndex:
    """The index for this session's database, rebuilt if the directory changed since it was built."""
    revision = current_revision(session)
    key = str(session.get_bind().url)
    with _index_lock:
        index = _indexes.get(key)
        if index is None or index.revision != revision:
            index = _indexes[key] = SearchIndex(session, revision)
    return index


def find_matches(session: Session, request: MatchRequest) -> MatchResult:
    ranked = search_index(session).rank(request)
    records = {r.id: r for r in load_cached_records(session, [sid for sid, *_ in ranked])}
    matches = []
    for sid, local, format_ok, _, distance2 in ranked:
        service = records[sid]
        met = tuple(n for n in request.asked_needs if n in service.needs)
        distance_km = round(distance2 ** 0.5 / 1000, 1) if distance2 is not None else None
        matches.append(Match(service, local, format_ok, met, distance_km))
    return MatchResult(request, matches)
