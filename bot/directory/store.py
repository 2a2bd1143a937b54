"""Persisting and loading service records (one transaction per call, owned by the caller)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from bot.directory.openreferral import Held
from bot.directory.records import PhoneNumber, Place, ServiceRecord
from bot.models import (Attribute, DirectoryRevision, CostOption, HeldService, Language, Location, Organization, Phone, Schedule, Service,
                        ServiceArea, ServiceAtLocation, Taxonomy, TaxonomyTerm)
from bot.vocabulary import AUDIENCES, FORMATS, NEEDS, STAGES, TAXONOMIES, areas, health_boards, mask

TAXONOMY_NAMES = {"format": "Support format", "audience": "Who it is for", "stage": "Perinatal stage",
                  "need": "Specific needs"}


def ensure_taxonomy(session: Session) -> None:
    """Make the taxonomy tables hold exactly the vocabulary's terms (bot.vocabulary is the source)."""
    existing = set(session.scalars(select(TaxonomyTerm.id)))
    for taxonomy_id, terms in TAXONOMIES.items():
        if session.get(Taxonomy, taxonomy_id) is None:
            session.add(Taxonomy(id=taxonomy_id, name=TAXONOMY_NAMES[taxonomy_id]))
        for code, name in terms.items():
            if f"{taxonomy_id}:{code}" not in existing:
                session.add(TaxonomyTerm(id=f"{taxonomy_id}:{code}", taxonomy_id=taxonomy_id, code=code, name=name))
    session.flush()


def save_records(session: Session, records: Iterable[ServiceRecord], locate=None) -> int:
    """Insert or replace each record. `locate(postcode)` → (easting, northing) | None places locations."""
    ensure_taxonomy(session)
    area_names = areas()
    count = 0
    for r in records:
        session.merge(Organization(id=r.organization_id, name=r.organization_name, website=r.organization_url,
                                   source=r.source, last_verified=r.last_verified))
        old = session.get(Service, r.id)
        if old is not None:
            session.delete(old)
            session.flush()
        service = Service(
            id=r.id, organization_id=r.organization_id, name=r.name, description=r.description, url=r.url,
            email=r.email, kind=r.kind, application_process=r.referral_how, referral_route=r.referral_route,
            volunteer_training=r.volunteer_training, supervision=r.supervision,
            safeguarding_policy=r.safeguarding_policy, source=r.source, last_verified=r.last_verified,
            status=r.status, status_since=r.status_since, status_note=r.status_note, source_date=r.source_date,
            formats_mask=mask(r.formats, FORMATS), audiences_mask=mask(r.audiences, AUDIENCES),
            stages_mask=mask(r.stages, STAGES), needs_mask=mask(r.needs, NEEDS),
            postcode_areas=" ".join(r.postcode_areas) or None,
            record_json=json.dumps(r.to_dict(), ensure_ascii=False),
        )
        service.phones = [Phone(number=p.number, type=p.type, description=p.description) for p in r.phones]
        service.service_areas = [ServiceArea(code=c, name=area_names[c].name) for c in r.areas]
        service.languages = [Language(code=c) for c in r.languages]
        service.cost_options = [CostOption(option=r.cost)] if r.cost else []
        service.schedules = [Schedule(description=r.schedule)] if r.schedule else []
        service.attributes = [Attribute(taxonomy_term_id=f"{taxonomy}:{code}")
                              for taxonomy, codes in (("format", r.formats), ("audience", r.audiences),
                                                      ("stage", r.stages), ("need", r.needs))
                              for code in codes]
        for i, place in enumerate(r.locations, 1):
            point = locate(place.postcode) if (locate and place.postcode) else None
            location = session.merge(Location(
                id=f"{r.id}-{i}", organization_id=r.organization_id, location_type="physical", name=place.name,
                address_1=place.address_1, city=place.city, postal_code=place.postcode,
                easting=point[0] if point else None, northing=point[1] if point else None))
            service.service_at_locations.append(ServiceAtLocation(location=location))
        session.add(service)
        count += 1
    bump_revision(session)
    session.flush()
    return count


def bump_revision(session: Session) -> None:
    row = session.get(DirectoryRevision, 1)
    if row is None:
        session.add(DirectoryRevision(id=1, revision=1))
    else:
        row.revision += 1
        row.updated_at = datetime.utcnow()


def current_revision(session: Session) -> int:
    return session.scalar(select(DirectoryRevision.revision).where(DirectoryRevision.id == 1)) or 0


def _with_children():
    return (selectinload(Service.organization), selectinload(Service.phones), selectinload(Service.service_areas),
            selectinload(Service.languages), selectinload(Service.cost_options), selectinload(Service.schedules),
            selectinload(Service.attributes),
            selectinload(Service.service_at_locations).selectinload(ServiceAtLocation.location))


def load_records(session: Session, ids: Iterable[str] | None = None) -> list[ServiceRecord]:
    """Records in the order of `ids` when given, else every service by id."""
    query = select(Service).options(*_with_children()).order_by(Service.id)
    if ids is not None:
        ids = list(ids)
        query = query.where(Service.id.in_(ids))
    services = {s.id: s for s in session.scalars(query)}
    order = ids if ids is not None else list(services)
    return [to_record(services[i]) for i in order if i in services]


def load_cached_records(session: Session, ids: list[str]) -> list[ServiceRecord]:
    """Records in the order of `ids`, from the JSON written with each service (one query)."""
    rows = dict(session.execute(select(Service.id, Service.record_json).where(Service.id.in_(ids))).all())
    return [ServiceRecord.from_dict(json.loads(rows[i])) for i in ids if i in rows]


def cache_mismatches(session: Session) -> list[str]:
    """Services whose cached JSON no longer matches their rows (someone wrote the tables directly)."""
    return [s.id for s in session.scalars(select(Service).options(*_with_children()))
            if json.loads(s.record_json or "{}") != to_record(s).to_dict()]


def to_record(s: Service) -> ServiceRecord:
    terms: dict[str, list[str]] = {t: [] for t in TAXONOMIES}
    for attribute in s.attributes:
        terms[attribute.term.taxonomy_id].append(attribute.term.code)
    return ServiceRecord(
        id=s.id, name=s.name, organization_id=s.organization_id, organization_name=s.organization.name,
        organization_url=s.organization.website, kind=s.kind, description=s.description, url=s.url, email=s.email,
        phones=tuple(PhoneNumber(p.number, p.type, p.description) for p in s.phones),
        formats=_ordered(terms["format"], FORMATS), audiences=_ordered(terms["audience"], AUDIENCES),
        stages=_ordered(terms["stage"], STAGES), needs=_ordered(terms["need"], NEEDS),
        areas=tuple(a.code for a in s.service_areas), languages=tuple(lang.code for lang in s.languages),
        cost=s.cost_options[0].option if s.cost_options else None,
        schedule=s.schedules[0].description if s.schedules else None,
        referral_route=s.referral_route, referral_how=s.application_process,
        volunteer_training=s.volunteer_training, supervision=s.supervision, safeguarding_policy=s.safeguarding_policy,
        locations=tuple(Place(sal.location.name, sal.location.postal_code, sal.location.address_1, sal.location.city)
                        for sal in s.service_at_locations),
        source=s.source, last_verified=s.last_verified, status=s.status, status_since=s.status_since,
        status_note=s.status_note, source_date=s.source_date,
        postcode_areas=tuple((s.postcode_areas or "").split()),
    )


def _ordered(codes: list[str], vocabulary: dict[str, str]) -> tuple[str, ...]:
    return tuple(c for c in vocabulary if c in codes)


def replace_all(session: Session, records: list[ServiceRecord], locate=None) -> int:
    """Make the directory hold exactly `records` (used to re-seed)."""
    session.execute(delete(Service).where(Service.id.not_in([r.id for r in records])))
    return save_records(session, records, locate)


def coverage_gaps(records: Iterable[ServiceRecord]) -> list[tuple[str, str]]:
    """(health board name, format) pairs no local or national service reaches."""
    records = list(records)
    area_index = areas()
    gaps = []
    for board in health_boards():
        reaching = [r for r in records
                    if any(area_index[c].kind == "national" or area_index[c].board_code == board.code
                           for c in r.areas)]
        for fmt in FORMATS:
            if not any(fmt in r.formats for r in reaching):
                gaps.append((board.name, fmt))
    return gaps


def hold(session: Session, held: Iterable[Held]) -> None:
    """Keep feed records that could not be mapped, with their reasons, for a person to review."""
    for h in held:
        session.add(HeldService(feed=h.feed[:500], external_id=str(h.external_id)[:200] if h.external_id else None,
                                name=str(h.name)[:300] if h.name else None, reasons="\n".join(h.reasons),
                                record=json.dumps(h.raw, ensure_ascii=False, default=str)))
    session.flush()


def held_records(session: Session) -> list[HeldService]:
    return list(session.scalars(select(HeldService).order_by(HeldService.id)))


def clear_held(session: Session, held_id: int) -> bool:
    return session.execute(delete(HeldService).where(HeldService.id == held_id)).rowcount > 0
