"""The rule-based entity extractor: codes and places found in the words people use."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.nlu.entities import extract

CASES = yaml.safe_load((Path(__file__).parent / "data" / "entities_labelled.yml").read_text(encoding="utf-8"))


def found(text: str) -> dict[str, object]:
    result: dict[str, object] = {}
    for e in extract(text):
        value = text[e["start"]:e["end"]] if e["entity"] == "location" else e["value"]
        if e["entity"] in result:  # multi-valued (needs): keep all
            result[e["entity"]] = sorted({*([result[e["entity"]]] if isinstance(result[e["entity"]], str)
                                            else result[e["entity"]]), value})
        else:
            result[e["entity"]] = value
    return result


@pytest.mark.parametrize("case", CASES, ids=[c["text"][:40] for c in CASES])
def test_extracts_exactly_the_labelled_entities(case):
    assert found(case["text"]) == case["entities"]


def test_location_value_is_what_was_typed_and_offsets_point_at_it():
    text = "groups near Kirkcaldy please"
    [place] = [e for e in extract(text) if e["entity"] == "location"]
    assert text[place["start"]:place["end"]] == place["value"] == "Kirkcaldy"


@pytest.mark.parametrize("text", ["", "   ", "\x00\xff\xfe", "🙂" * 500, "a" * 100_000, "<script>alert(1)</script>"])
def test_odd_input_is_handled(text):
    assert isinstance(extract(text), list)


def test_every_entity_is_marked_as_ours():
    assert all(e["extractor"] == "DirectoryEntityExtractor" for e in extract("dads group in Fife"))


@pytest.mark.parametrize("text", ["I'm hard of hearing and 32 weeks pregnant", "I’m 32 weeks pregnant",
                                  "im nearly 30 wks preg", "I'm expecting twins"])
def test_saying_i_am_pregnant_makes_the_writer_the_mum(text):
    assert found(text)["role"] == "mum"


@pytest.mark.parametrize("text", ["I'm worried my wife is pregnant", "I'm so glad she's expecting",
                                  "I'm not pregnant", "I'm the dad, we're expecting in May"])
def test_someone_else_pregnant_does_not_make_the_writer_the_mum(text):
    assert found(text).get("role") != "mum"


def test_no_longer_pregnant_is_after_the_birth():
    assert found("I'm not pregnant anymore, baby is 3 months")["stage"] == "postnatal"


@pytest.mark.parametrize("text,support_for", [
    ("My best friend had a really traumatic birth. Are there people who've been through it she could talk to?",
     "someone_else"),
    ("is there support for her, she's my sister and not coping", "someone_else"),
    ("my wife is away a lot and I'm not coping", "partner"),
    ("im a granny helping with my daughters baby, feeling low myself. anything for people like me", "self"),
    ("support for me please, my daughter has just had a baby", "self"),
    ("I'm worried about my wife, is there something for her", "someone_else"),
])
def test_who_the_support_is_for(text, support_for):
    found = [e["value"] for e in extract(text) if e["entity"] == "support_for"]
    assert found == [support_for]


@pytest.mark.parametrize("text,stage", [
    # pregnant now after a loss: the stage is the pregnancy, the loss a need
    ("expecting again after a stillbirth, scared all the time", "pregnancy"),
    ("I'm pregnant after two miscarriages", "pregnancy"),
    ("I was pregnant and we lost the baby at 20 weeks", "baby_loss"),
    # the weeks of a partner's pregnancy
    ("my girlfriend's 30 weeks, first baby, I'm bricking it", "pregnancy"),
    ("wife is nearly 36 weeks", "pregnancy"),
    ("my partner's baby is 3 weeks old", "postnatal"),
    ("a yr old and I'm still not sleeping", "postnatal"),
])
def test_the_stage_now(text, stage):
    assert found(text)["stage"] == stage
    if "miscarriage" in text or "stillbirth" in text:
        assert "baby_loss" in found(text)["need"]


@pytest.mark.parametrize("text,refused,wanted", [
    ("she won't phone anybody, could she message someone", "phone", "text"),
    ("he will not go to a group, maybe online", "group", "online"),
    ("mums groups don't feel right for us, one to one maybe", "group", "one_to_one"),
])
def test_more_ways_of_refusing_a_format(text, refused, wanted):
    entities = found(text)
    assert entities["avoid_format"] == refused and entities["format"] == wanted


@pytest.mark.parametrize("text", ["Ayr", "ayr", "in Ayr", "near Ayr, South Ayrshire"])
def test_a_town_is_not_an_age(text):
    assert "stage" not in found(text) and "location" in found(text)


@pytest.mark.parametrize("text", [
    "I think I need to speak to someone who has been through it",
    "can I speak to someone please",
])
def test_wanting_to_speak_to_someone_is_not_a_format(text):
    """Two writers meant one to one by it, others a phone line: the form asks instead of guessing."""
    assert "format" not in found(text)


@pytest.mark.parametrize("text,role", [
    ("Any perinatal support round Oban? Preg 16wk, history of depression", "mum"),
    ("16 weeks pregnant and struggling", "mum"),
    ("had a horrible birth, forceps n a 3rd degree tear, cant stop thinking about it", "mum"),
    ("my c-section was awful and I can't stop crying", "mum"),
    ("Pregnant wife, need help", None),
    ("my wife had a 3rd degree tear", None),
    ("we had a traumatic birth", None),
    ("My son's girlfriend is pregnant and I'm trying to be there for them", "other"),
    ("is there anything that supports families like us", "other"),
])
def test_the_writer_said_without_a_subject(text, role):
    """Texts drop the "I": a pregnancy or a birth in the body is the writer's unless someone else is named."""
    assert found(text).get("role") == role


@pytest.mark.parametrize("text,wanted,refused", [
    ("not online, the internet here is terrible. phone is better", "phone", "online"),
    ("no groups, a group setting isn't for me. text maybe", "text", "group"),
])
def test_a_refused_format_named_again_is_not_wanted(text, wanted, refused):
    entities = found(text)
    assert entities["format"] == wanted and entities["avoid_format"] == refused


def test_from_home_is_online():
    assert found("anything I can do from home at night once she's down")["format"] == "online"


@pytest.mark.parametrize("text", [
    "most mum groups feel really gendered and i just dont fit",
    "the mum groups are for the one who gave birth and the dads' groups obviously aren't me",
])
def test_groups_described_as_not_fitting_are_refused_not_wanted(text):
    entities = found(text)
    assert entities.get("avoid_format") == "group" and "format" not in entities


def test_a_controlling_and_abusive_ex_is_domestic_abuse():
    assert "domestic_abuse" in found("I left my ex because he was controlling and abusive")["need"]


@pytest.mark.parametrize("text,refused", [
    ("i dinnae want a group, too shy", "group"),
    ("couldnae face a group the now", "group"),
    ("please don't ring me, he might hear", "phone"),
    ("not interested in online stuff", "online"),
    ("big groups i couldnt face it", "group"),
])
def test_scots_and_everyday_refusals(text, refused):
    entities = found(text)
    assert entities.get("avoid_format") == refused and entities.get("format") != refused


@pytest.mark.parametrize("text", [
    "he reads my texts and goes mental",
    "I'm always on my phone at night",
    "she checks my messages",
])
def test_a_phone_or_texts_that_belong_to_someone_are_not_a_format(text):
    entities = found(text)
    assert "format" not in entities and "avoid_format" not in entities


@pytest.mark.parametrize("text,role", [
    ("my man works offshore so it's just me and the wean", None),
    ("ma fella is great but I'm still struggling", None),
    ("I'm a man and I don't know where to turn since the baby came", "dad_partner"),
    ("I had my son in June and my partner's been brilliant", "mum"),
    ("I've just had a wee boy, 2 weeks ago", "mum"),
    ("I had a baby with my girlfriend in May", None),
    ("my dad died just before she was born and I can't stop crying", None),
    ("ma mum says I should talk to someone", None),
])
def test_a_partner_named_is_not_the_writer_and_a_birth_said_with_i_is(text, role):
    assert found(text).get("role") == role


@pytest.mark.parametrize("text", [
    "he won't let me go out without him and checks my phone",
    "I feel like I'm walking on eggshells at home",
    "she controls the money and who I see",
])
def test_coercive_control_described_is_domestic_abuse(text):
    assert "domestic_abuse" in found(text).get("need", [])


@pytest.mark.parametrize("text", [
    "there's nothing round here for mums",
    "we're an hour from the nearest town and there's no bus",
    "a long way from anything out here",
])
def test_remoteness_described_is_rural(text):
    assert "rural" in found(text).get("need", [])


def test_money_being_tight_is_low_income():
    assert "low_income" in found("money is so tight since I stopped work")["need"]


@pytest.mark.parametrize("text,stage", [
    ("my son and his partner lost their baby at 20 weeks", "baby_loss"),
    ("they lost there baby at 23 weeks, I don't know what to say to them", "baby_loss"),
    ("the scan at 21 weeks showed a heart problem", None),
    ("she was born at 31 weeks and is home now", "postnatal"),
])
def test_at_a_number_of_weeks_is_a_point_in_the_pregnancy_not_the_babys_age(text, stage):
    assert found(text).get("stage") == stage
