"""From what the conversation knows to suggestions a person can act on, in words.

bot/matching.py decides which services and in what order; this module reads the person's answers into
a request, records what nobody local offers, and says why each suggestion fits. Pure functions over
plain values: the Rasa actions pass slots in and send what comes out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy.orm import Session

from bot import helplines
from bot.directory.records import KINDS, ServiceRecord
from bot.directory.store import load_cached_records, load_records
from bot.geography import Resolution, resolve
from bot.matching import Match, MatchRequest, MatchResult, find_matches
from bot.models import UnmetNeed
from bot.nlu.answers import NOT_GIVEN, SKIP, is_skip, read_answer
from bot.vocabulary import AUDIENCES, FORMATS, NEEDS, STAGES, areas

AUDIENCE_FOR_ROLE = {"mum": "mothers", "dad_partner": "fathers_partners", "other": "families"}
OUTSIDE_SCOTLAND = "outside_scotland"  # location slot value: national and UK-wide services only
MAX_UNREADABLE = 2  # unreadable answers to one question before the form carries on without it


@dataclass(frozen=True)
class Suggestions:
    text: str  # what every channel can show (SMS included)
    payload: dict[str, Any]  # {"services": [...]} for channels that render cards
    service_ids: tuple[str, ...]
    local_fit: bool


def place_for(location: str | None) -> Resolution | None:
    if not location or location in (OUTSIDE_SCOTLAND, NOT_GIVEN["location"]):
        return None
    place = resolve(location)
    return place if place.status == "resolved" else None


def audience_for(role: str | None, support_for: str | None) -> str | None:
    """Whom the services must be for: the role's audience ("unknown", skipped, filters nothing). The role
    question asks whom the support is for, so its answer ("he's the dad", "for her") is that person's role.
    But a friend or relative asking for someone else ("my best friend had a traumatic birth, is there
    someone she could talk to") is not asking for family support: with the role "family or friend" (or none)
    nothing is filtered, and each suggestion says whom it is for."""
    if support_for == "someone_else" and role in (None, "other", NOT_GIVEN["role"]):
        return None
    return AUDIENCE_FOR_ROLE.get(role or "")


def build_request(role: str | None, stage: str | None, format: str | None, needs: Iterable[str] | None,
                  location: str | None, exclude_ids: Iterable[str] = (),
                  avoid_formats: Iterable[str] | None = (), support_for: str | None = None) -> MatchRequest:
    place = place_for(location)
    avoid = tuple(f for f in dict.fromkeys(avoid_formats or ()) if f in FORMATS and f != format)
    return MatchRequest(
        council_code=place.council_code if place else None,
        board_code=place.board_code if place else None,
        audience=audience_for(role, support_for),
        stage=stage if stage in STAGES else None,  # "unknown" (skipped) → no stage filter
        format=format if format in FORMATS else None,  # "any" → no preference
        avoid_formats=avoid if len(avoid) < len(FORMATS) else (),
        needs=tuple(n for n in (needs or ()) if n in NEEDS),
        easting=place.easting if place else None,
        northing=place.northing if place else None,
        postcode_area=place.postcode_area if place else None,
        exclude_ids=tuple(exclude_ids),
    )


def describe(service: ServiceRecord, reason: str | None = None) -> str:
    """One service in full, as plain text. Not numbered: on SMS, numbers are for the menu that follows."""
    formats = " / ".join(FORMATS[f] for f in service.formats)
    who = who_for(service.audiences)
    return "\n".join(line for line in (
        f"- {service.name}",
        # The reason line names the kind of support; without one, say it here.
        f"{formats[0].upper()}{formats[1:]}, for {who}." if reason else f"{kind_label(service)}: {formats}, for {who}.",
        f"How: {contact_line(service)}",
        f"Why: {reason}" if reason else (service.description or ""),
    ) if line)


def _local_place(match: Match, request: MatchRequest) -> str:
    """The person's area this local service runs in ("Fife", "Lothian")."""
    return next(areas()[c].name for c in match.service.areas if c in request.local_codes).removeprefix("NHS ")


def explain(match: Match, request: MatchRequest) -> str:
    """One plain-English line on why this service was suggested, honest about what it does not offer."""
    service = match.service
    parts = [f"runs in {_local_place(match, request)}" if match.local else "available wherever you are in Scotland"]
    if match.needs_met:
        parts.append("for " + " and ".join(NEEDS[n] for n in match.needs_met))
    offered = " and ".join(FORMATS[f] for f in service.formats[:2])
    if request.format and match.format_match:
        parts.append(f"offers {FORMATS[request.format]}, as you asked")
    elif request.format:
        parts.append(f"does not offer {FORMATS[request.format]} (it offers {offered})")
    else:
        parts.append("offers " + offered)
    if request.audience == "fathers_partners" and "fathers_partners" in service.audiences \
            and "mothers" not in service.audiences:
        parts.append("just for dads and partners")
    if match.distance_km is not None:
        parts.append(f"about {match.distance_km:g} km away")
    text = ", ".join(parts)
    return f"{kind_label(service)}. {text[0].upper()}{text[1:]}."


def kind_label(service) -> str:
    """What kind of support this is, first in every suggestion (peer support is not counselling, seed 4.1)."""
    label = KINDS.get(service.kind, "support")
    return label[0].upper() + label[1:]


SHORT_FORMATS = {"group": "group", "one_to_one": "one-to-one", "phone": "phone", "online": "online", "text": "text"}
SHORT_KINDS = {"peer_support": "Peer support", "befriending": "Befriending", "specialist": "Staff support",
               "counselling": "Counselling", "helpline": "Support line", "information": "Information"}


def short_reason(match: Match, request: MatchRequest) -> str:
    """The reason in a few words, for a phone screen: "Peer support; in Fife; for birth trauma; group, online"."""
    service = match.service
    parts = [SHORT_KINDS.get(service.kind, "Support"),
             f"in {_local_place(match, request)}" if match.local else "Scotland-wide"]
    if match.needs_met:
        parts.append("for " + " and ".join(NEEDS[n] for n in match.needs_met))
    if request.format and not match.format_match:
        parts.append(f"no {SHORT_FORMATS[request.format]} ({', '.join(SHORT_FORMATS[f] for f in service.formats)})")
    else:
        parts.append(", ".join(SHORT_FORMATS[f] for f in service.formats))
    if request.audience == "fathers_partners" and "mothers" not in service.audiences:
        parts.append("dads and partners only")
    if match.distance_km is not None:
        parts.append(f"{match.distance_km:g} km")
    return "; ".join(parts)


def short_contact(service) -> str:
    """One way to get in touch, short enough for a text: a number, else a link without its scheme."""
    if service.phones:
        phone = service.phones[0]
        return f"{'Call' if phone.type == 'voice' else 'Text'} {phone.number}"
    link = service.url or service.organization_url or ""
    if len(link) > 45 and service.organization_url:
        link = service.organization_url
    return link.removeprefix("https://").removeprefix("http://").rstrip("/") or (service.email or "")


def record_unmet_need(session: Session, request: MatchRequest) -> None:
    """Aggregate facts only (area, format, audience, stage, needs): never who asked."""
    session.add(UnmetNeed(area_code=request.council_code or request.board_code, board_code=request.board_code,
                          format=request.format, audience=request.audience, stage=request.stage,
                          needs=",".join(request.needs) or None))


def signpost(session: Session, request: MatchRequest, first_search: bool = True) -> MatchResult:
    """Find matches; when a first search finds nothing local that fits, record the unmet need so services
    can be planned ("more" pages through what was already judged, so it records nothing)."""
    result = find_matches(session, request)
    if first_search and request.local_codes and not result.local_fit:
        record_unmet_need(session, request)
    return result


def who_for(audiences) -> str:
    if set(audiences) == set(AUDIENCES):
        return "mums, dads, partners and families"
    names = [AUDIENCES[a] for a in audiences]
    return " and ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " and " + names[-1]


def contact_line(service) -> str:
    ways = [f"call {p.number}" if p.type == "voice" else f"text {p.number}" for p in service.phones[:2]]
    link = service.url or service.organization_url
    if link:
        ways.append(link)
    if service.referral_route == "professional":
        ways.append("ask your midwife, health visitor or GP to refer you")
    elif service.referral_route == "both":
        ways.append("or a professional can refer you")
    return ", ".join(ways) if ways else (service.email or "see the organisation's website")


def details(session: Session, service_id: str) -> str | None:
    """Everything about one service (after "reply 1 for more" on SMS), or None if it is not in the directory."""
    records = load_cached_records(session, [service_id]) if service_id else []
    if not records:
        return None
    service = records[0]
    if not service.active:
        # An old SMS menu can still name it: say so rather than send someone to a closed door.
        since = f" on {service.status_since:%-d %B %Y}" if service.status_since else ""
        return (f"{service.name}: {'closed' if service.status == 'closed' else 'paused'}{since}, "
                "so we no longer suggest it. Ask me to find support and I will look for others near you.")
    return "\n".join(line for line in (
        describe(service), f"Cost: {service.cost}" if service.cost else "",
        f"When: {service.schedule}" if service.schedule else "",
        f"Referral: {service.referral_how}" if service.referral_how else "",
        f"Checked {service.last_verified} (source: {service.source})" if service.last_verified else "",
    ) if line)


def in_language(session: Session, code: str, endonym: str, area_codes: Iterable[str] = ()) -> Suggestions | None:
    """Services that work in this language (the directory's `languages`), those serving the person's area
    first; None when there are none. Only services whose source names the language are tagged with it."""
    local = set(area_codes)
    found = sorted((r for r in load_records(session) if code in r.languages and r.active),
                   key=lambda r: (not local & set(r.areas), r.name))
    if not found:
        return None
    first_line = f"These services can help in {endonym}:"
    cards = [{**r.to_dict(), "reason": f"Works in {endonym}", "local": bool(local & set(r.areas)),
              "compact": {"contact": short_contact(r), "why": f"works in {endonym}"}} for r in found[:3]]
    text = "\n\n".join([first_line] + [describe(r, f"Works in {endonym}") for r in found[:3]])
    return Suggestions(text, {"opening": first_line, "services": cards}, tuple(r.id for r in found[:3]), bool(local))


def opening(result: MatchResult, area_label: str | None, more: bool = False) -> str:
    request = result.request
    wanted = FORMATS[request.format] if request.format else "peer support"
    if more:
        return "Here are some more:"
    if request.format and not any(m.format_match for m in result.matches):
        return f"I couldn't find {wanted} for that, sorry. These are the closest I have:"
    if request.local_codes and not result.local_fit:
        return f"I couldn't find {wanted} based in {area_label or 'your area'}, sorry. Here is what I found:"
    return "Here is what I found:" if request.local_codes else "These cover all of Scotland:"


def suggestions(result: MatchResult, area_label: str | None, more: bool = False) -> Suggestions:
    if not result.matches:
        text = ("I've shown you everything I have for that." if more else
                "I couldn't find a service that fits all of that.") + \
            (f" {helplines.SAMARITANS.name} ({helplines.SAMARITANS.number}, any time) and "
             f"{helplines.BREATHING_SPACE.name} ({helplines.BREATHING_SPACE.number}, evenings and weekends) are "
             "there for anyone in Scotland.")
        return Suggestions(text, {"services": []}, (), False)
    first_line = opening(result, area_label, more)
    reasons = [explain(m, result.request) for m in result.matches]
    lines = [first_line] + [describe(m.service, why) for m, why in zip(result.matches, reasons)]
    # Channels that show cards use these; SMS and WhatsApp build their compact form from them (bot/channels/sms.py).
    payload = {"opening": first_line, "services": [_card(m, why, result.request)
                                                   for m, why in zip(result.matches, reasons)]}
    return Suggestions("\n\n".join(lines), payload, tuple(m.service.id for m in result.matches), result.local_fit)


def _card(match: Match, reason: str, request: MatchRequest) -> dict[str, Any]:
    card = match.service.to_dict()
    card["reason"] = reason
    card["local"] = match.local
    card["compact"] = {"contact": short_contact(match.service), "why": short_reason(match, request)}
    return card


# --------------------------------------------------------------------------- the form's answers

def read_slot_answer(slot: str, value: Any, requested_slot: str | None,
                     unclear: dict | None, needs: Any = ()) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Slot updates for a typed (or tapped) answer to the role, stage or format question, and anything
    to say first. An answer that can't be read is asked about once more, then skipped."""
    code = read_answer(slot, value, needs)
    if code == SKIP:
        return _answered(slot, NOT_GIVEN[slot], requested_slot), []
    if code is not None:
        return _answered(slot, code, requested_slot), []
    return _unreadable(slot, requested_slot, unclear)


def _answered(slot: str, value: Any, requested_slot: str | None, **more: Any) -> dict[str, Any]:
    """The slot's new value; answering the question just asked also ends its second asking."""
    return {slot: value, **more, **({"reask": None} if slot == requested_slot else {})}


def read_location(value: Any, requested_slot: str | None,
                  unclear: dict | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    text = str(value or "")[:200]
    if text in (OUTSIDE_SCOTLAND, NOT_GIVEN["location"]):
        return _answered("location", text, requested_slot), []
    place = resolve(text)
    if place.status == "resolved":
        return _answered("location", text, requested_slot, council_code=place.council_code,
                         board_code=place.board_code, area_label=place.label), []
    if place.status == "outside_scotland":
        # Carry on with services that cover the whole UK rather than asking forever.
        return _answered("location", OUTSIDE_SCOTLAND, requested_slot, council_code=None, board_code=None,
                         area_label="outside Scotland"), [{"text": place.message}]
    if requested_slot == "location" and is_skip(text):  # "skip", "rather not say"
        return _answered("location", NOT_GIVEN["location"], requested_slot), []
    updates, say = _unreadable("location", requested_slot, unclear)
    if updates.get("location") is None and requested_slot == "location":
        say = [{"text": place.message}] + say
    return updates, say


FORM = "support_form"
_NOT_DIGRESSIONS = {"action_listen", FORM, f"validate_{FORM}", "action_extract_slots"}


def returning_from_digression(events: list[dict[str, Any]]) -> bool:
    """Is the form running again after answering something else mid-form (a FAQ, "are you a bot?", low mood)?
    Then some other action has run since the person's last message."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=None)
    if last_user is None:
        return False
    return any(e.get("event") == "action" and e.get("name") not in _NOT_DIGRESSIONS for e in events[last_user + 1:])


def read_digression(requested_slot: str, unclear: dict | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A digression instead of an answer counts as an unreadable answer to the question it interrupted."""
    return _unreadable(requested_slot, requested_slot, unclear)


def _unreadable(slot: str, requested_slot: str | None,
                unclear: dict | None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if requested_slot != slot:  # a stray value for a question not asked: ignore it, count nothing
        return {slot: None}, []
    counts = dict(unclear or {})
    counts[slot] = counts.get(slot, 0) + 1
    if counts[slot] >= MAX_UNREADABLE:
        return {slot: NOT_GIVEN[slot], "unclear_answers": counts, "reask": None}, [
            {"response": "utter_carry_on_without"}]
    return {slot: None, "unclear_answers": counts, "reask": slot}, []
