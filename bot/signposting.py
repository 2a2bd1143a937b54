"""From what the conversation knows to suggestions a person can act on.

Pure functions over plain values: the Rasa actions pass slots in and send what comes out.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from bot import helplines
from bot.geography import Resolution, resolve
from bot.matching import Match, MatchRequest, MatchResult
from bot.vocabulary import AUDIENCES, FORMATS, NEEDS

AUDIENCE_FOR_ROLE = {"mum": "mothers", "dad_partner": "fathers_partners", "other": "families"}
OUTSIDE_SCOTLAND = "outside_scotland"  # location slot value: national and UK-wide services only


@dataclass(frozen=True)
class Suggestions:
    text: str  # what every channel can show (SMS included)
    payload: dict[str, Any]  # {"services": [...]} for channels that render cards
    service_ids: tuple[str, ...]
    local_fit: bool


def place_for(location: str | None) -> Resolution | None:
    if not location or location == OUTSIDE_SCOTLAND:
        return None
    place = resolve(location)
    return place if place.status == "resolved" else None


def build_request(role: str | None, stage: str | None, format: str | None, needs: Iterable[str] | None,
                  location: str | None, exclude_ids: Iterable[str] = ()) -> MatchRequest:
    place = place_for(location)
    return MatchRequest(
        council_code=place.council_code if place else None,
        board_code=place.board_code if place else None,
        audience=AUDIENCE_FOR_ROLE.get(role or ""),
        stage=stage,
        format=format if format in FORMATS else None,  # "any" → no preference
        needs=tuple(n for n in (needs or ()) if n in NEEDS),
        easting=place.easting if place else None,
        northing=place.northing if place else None,
        exclude_ids=tuple(exclude_ids),
    )


def describe(match: Match) -> str:
    """One service as plain text. Not numbered: on SMS, numbers are for the menu that follows."""
    s = match.service
    formats = " / ".join(FORMATS[f] for f in s.formats)
    who = who_for(s.audiences)
    return "\n".join(line for line in (
        f"- {s.name}",
        f"{formats[0].upper()}{formats[1:]}, for {who}.",
        f"How: {contact_line(s)}",
        f"Why: {match.reason}",
    ) if line)


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


def suggestions(result: MatchResult, area_label: str | None, more: bool = False) -> Suggestions:
    request = result.request
    if not result.matches:
        text = ("I've shown you everything I have for that." if more else
                "I couldn't find a service that fits all of that.") + \
            (f" {helplines.SAMARITANS.name} ({helplines.SAMARITANS.number}, any time) and "
             f"{helplines.BREATHING_SPACE.name} ({helplines.BREATHING_SPACE.number}, evenings and weekends) are "
             "there for anyone in Scotland.")
        return Suggestions(text, {"services": []}, (), False)
    if more:
        opening = "Here are some more:"
    elif result.local_fit or not request.local_codes:
        opening = "Here is what I found:" if request.local_codes else "These cover all of Scotland:"
    else:
        wanted = FORMATS[request.format] if request.format else "peer support"
        opening = (f"I couldn't find {wanted} based in {area_label or 'your area'}, sorry. "
                   "These are available wherever you live:")
    lines = [opening] + [describe(m) for m in result.matches]
    payload = {"services": [_card(m) for m in result.matches]}
    return Suggestions("\n\n".join(lines), payload, tuple(m.service.id for m in result.matches), result.local_fit)


def _card(match: Match) -> dict[str, Any]:
    card = match.service.to_dict()
    card["reason"] = match.reason
    card["local"] = match.local
    return card
