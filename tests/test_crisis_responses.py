"""The crisis replies: right numbers for each category, short, and safe-messaging compliant (hazards H4, H9)."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from bot import helplines
from bot.crisis import CATEGORIES

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))
RESPONSES = {name: variants[0]["text"] for name, variants in DOMAIN["responses"].items()}

# Each category's reply must give these (hazard log: "Clinical contact numbers in crisis replies").
REQUIRED = {
    "suicide_self_harm": ["999", "111", "116 123", "0800 83 85 87", "85258"],
    "harm_to_baby": ["999", "111", "GP, midwife, health visitor or perinatal mental health team", "116 123"],
    "psychosis": ["999", "111", "GP, midwife, health visitor or perinatal mental health team"],
    "abuse_danger": ["999", "55", "0800 027 1234"],
    "sexual_violence": ["999", "0800 148 88 88", "08088 01 03 02"],
    "medical_emergency": ["999", "111"],
}
KNOWN_NUMBERS = {line.number for line in helplines.ALL} | {helplines.SILENT_SOLUTION}
METHOD_WORDS = re.compile(r"\b(overdose|pills?|tablets?|hang|rope|jump|bridge|knife|blade|cut|poison|gun)\b", re.I)
JUDGEMENT = re.compile(r"\b(should have|why did you|you must not|calm down|selfish|attention)\b", re.I)


def test_every_category_has_a_reply():
    assert set(REQUIRED) == set(CATEGORIES)
    assert all(f"utter_crisis_{c}" in RESPONSES for c in CATEGORIES)


@pytest.mark.parametrize("category", CATEGORIES)
def test_each_reply_gives_the_right_contacts_first(category):
    text = RESPONSES[f"utter_crisis_{category}"]
    for needed in REQUIRED[category]:
        assert needed in text, f"{category} reply lacks {needed}"
    assert text.index("999") < 250, "emergency number comes early"


@pytest.mark.parametrize("name", [n for n in RESPONSES if n.startswith(("utter_crisis", "utter_urgent_help"))])
def test_replies_are_short_plain_and_carry_no_method_detail_or_judgement(name):
    text = RESPONSES[name]
    assert len(text) <= 459, "fits three SMS segments"
    assert not METHOD_WORDS.search(text) and not JUDGEMENT.search(text)
    assert text.isascii(), "GSM-friendly: no curly quotes or emoji"


def test_only_known_numbers_appear_in_any_reply():
    numbers = set()
    for text in RESPONSES.values():
        numbers |= {m.strip() for m in re.findall(r"(?<![\w])(\d[\d ]{1,14}\d)(?![\w])", text)}
    # Ages, weeks and times are not phone numbers; everything else must be a known number.
    assert numbers <= KNOWN_NUMBERS | {"24"}, numbers - KNOWN_NUMBERS
