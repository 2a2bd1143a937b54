"""Controlled vocabularies of the service directory (taxonomy terms).

The codes are a contract: the directory, the matching engine, the conversation's slots,
the channels' payloads and the tests all use exactly these strings.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import yaml

from bot import DATA_DIR

FORMATS: dict[str, str] = {
    "group": "a peer support group",
    "one_to_one": "one-to-one support",
    "phone": "phone support",
    "online": "online support",
    "text": "text or chat support",
}
AUDIENCES: dict[str, str] = {
    "mothers": "mums and birthing parents",
    "fathers_partners": "dads and partners",
    "families": "families",
}
STAGES: dict[str, str] = {
    "pregnancy": "pregnancy",
    "postnatal": "after the birth",
    "baby_loss": "after the loss of a baby",
}
NEEDS: dict[str, str] = {
    "baby_loss": "baby loss",
    "ethnic_minority": "ethnic minority families",
    "young_parents": "young parents",
    "domestic_abuse": "domestic abuse",
    "substance_use": "alcohol or drug use",
    "disability": "disability",
    "neonatal": "a baby in neonatal care",
    "birth_trauma": "a difficult or traumatic birth",
    "low_income": "money worries",
    "lgbtq": "LGBTQ+ parents",
    "postpartum_psychosis": "postpartum psychosis",
    "rural": "rural and island communities",
}
# A service tagged with one of these is FOR people with that need: suggested only to someone who stated
# it (bot/matching.py). The others (rural, disability) describe who a general service also reaches.
SPECIALIST_NEEDS: frozenset[str] = frozenset({"baby_loss", "ethnic_minority", "young_parents", "domestic_abuse",
                                              "substance_use", "neonatal", "birth_trauma", "low_income", "lgbtq",
                                              "postpartum_psychosis"})
REFERRAL_ROUTES: dict[str, str] = {
    "self": "you can contact them yourself",
    "professional": "a professional (midwife, health visitor, GP) refers you",
    "both": "contact them yourself or ask a professional to refer you",
}
NATIONAL_AREAS: dict[str, str] = {"scotland": "all of Scotland", "uk": "the whole UK"}

# One place for "which vocabulary is this term in", used by import, validation and the taxonomy table.
TAXONOMIES: dict[str, dict[str, str]] = {
    "format": FORMATS,
    "audience": AUDIENCES,
    "stage": STAGES,
    "need": NEEDS,
}


@dataclass(frozen=True)
class Area:
    code: str
    name: str
    kind: str  # "health_board" | "council" | "national"
    board_code: str | None  # the health board a council lies in; the board itself for a board
    aliases: tuple[str, ...] = ()


@lru_cache(maxsize=1)
def areas() -> dict[str, Area]:
    """Every area code the directory accepts, keyed by code (boards, councils, national)."""
    raw = yaml.safe_load((DATA_DIR / "geography" / "areas.yml").read_text(encoding="utf-8"))
    result: dict[str, Area] = {}
    for board in raw["health_boards"]:
        result[board["code"]] = Area(board["code"], board["name"], "health_board", board["code"],
                                     tuple(board.get("aliases", ())))
        for council in board["councils"]:
            result[council["code"]] = Area(council["code"], council["name"], "council", board["code"],
                                           tuple(council.get("aliases", ())))
    for code, name in NATIONAL_AREAS.items():
        result[code] = Area(code, name, "national", None)
    return result


def health_boards() -> list[Area]:
    return [a for a in areas().values() if a.kind == "health_board"]


def councils() -> list[Area]:
    return [a for a in areas().values() if a.kind == "council"]


def is_national(area_code: str) -> bool:
    return area_code in NATIONAL_AREAS


def bit(code: str, vocabulary: dict[str, str]) -> int:
    """The bit for one code: its position in the vocabulary (the order above is part of the schema)."""
    return 1 << list(vocabulary).index(code)


def mask(codes, vocabulary: dict[str, str]) -> int:
    result = 0
    for code in codes:
        result |= bit(code, vocabulary)
    return result
