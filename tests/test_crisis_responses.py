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


def test_no_crisis_or_possible_risk_message_fills_a_form_slot():
    """Hazards H2 and H17: a form slot filled from a crisis or possible-risk message ("I can't do phone calls with
    the baby screaming" carries a format to avoid and a stage) lets the form carry on, and Rasa's rules for a
    crisis or the possible-risk question mid-form never run. Every slot mapping that reads the message excludes
    those intents; custom mappings are filled by the form's validation, which the excluded turn never reaches."""
    risky = {intent for intent in DOMAIN["intents"] if isinstance(intent, str)
             and intent.startswith(("crisis_", "possible_"))}
    assert {f"crisis_{category}" for category in CATEGORIES} <= risky
    assert {"possible_suicide_self_harm", "possible_harm_to_baby", "possible_abuse_danger"} <= risky
    form_slots = set(DOMAIN["forms"]["support_form"]["required_slots"]) | {"avoid_formats"}
    outside_a_form_only = [{"active_loop": None}]
    for name in form_slots:
        for mapping in DOMAIN["slots"][name]["mappings"]:
            if mapping["type"] not in ("from_entity", "from_text", "from_intent", "from_trigger_intent"):
                continue
            if "intent" in mapping:  # what a possible-risk message said, kept only when no form is active
                assert set(mapping["intent"]) <= risky and not any(i.startswith("crisis_") for i in mapping["intent"])
                assert mapping["conditions"] == outside_a_form_only, name
            else:
                assert risky <= set(mapping.get("not_intent", [])), (name, mapping["type"])
