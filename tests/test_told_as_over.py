"""A crisis told as past and over is asked about, never given the alarm (bot.language.told_as_over, hazard H46).

"After my first baby I had thoughts of ending my life. I'm well now" is one of the commonest messages a perinatal
peer-support service gets. The alarm (999, an alert to clinicians) answers what the person said is past; the
possible-risk question asks about now, kindly, with the 24/7 numbers, and a "yes" gets the crisis answer.
"""
from __future__ import annotations

from unittest.mock import Mock

import pytest

from bot import crisis, language
from bot.channels import guard
from bot.nlu import crisis_component, crisis_net
from bot.nlu.crisis_component import CrisisComponent
from rasa.shared.nlu.training_data.message import Message

TOLD_AS_OVER = [
    "A year ago I was thinking of ending my life. Now I'm doing well, I go to therapy and feel safe. "
    "Looking for a group to meet other mums",
    "After my first baby I had depression and suicidal thoughts. Now I'm pregnant again and feeling good but want "
    "to be prepared.",
    "After my first baby I had suicidal thoughts. Therapy helped. Looking for a group before the second arrives",
    "I had thoughts of harming my baby with my first, they were intrusive thoughts, I'm much better now",
    "I self harmed when I was a teenager, I'm fine now, is that ok to mention at the group?",
    # a question further on in the sentence asks about something else, not about being well
    "After my first baby I had suicidal thoughts, I'm well now, is there a group in Leith for mums who've been there?",
]
# Abuse told as past and over is asked "are you safe now?" (H55).
ABUSE_TOLD_AS_OVER = [
    "My ex used to hit me. I left him three years ago and I'm safe now.",
    "my ex beat me for years, I got out in 2019, now I'm doing really well. any groups for mums like me?",
    "My husband used to beat me when I was pregnant with my first. We divorced and I'm safe now, pregnant again.",
    # memories coming back are not a danger now (the `not_over` words for them speak for suicidal thoughts only)
    "My ex used to hit me. I left him years ago and I'm safe now. Sometimes the memories come back.",
    "Fostul soț mă bătea. Am divorțat acum cinci ani și acum sunt în siguranță.",
    "以前老公打我，我们已经离婚很多年了",
]
STILL_ALARMED = [
    "I want to die",
    "I had suicidal thoughts last year. I was fine for a while but they're back",
    "I'm fine now but I want to die",  # the crisis comes after the "fine"
    "I used to think about killing myself. I'm fine now. Actually no, I want to die tonight",
    "I wanted to end it all last night. I'm safe now but scared",
    "After my first I had suicidal thoughts and now I'm not ok, I'm not coping",
    "I had suicidal thoughts with my first. Therapy helped but lately I'm feeling like that again",
    # asking whether they are well is not saying so
    "I had thoughts of ending my life after my first baby. Am I fine now?",
    "I had thoughts of ending my life after my first baby, I'm better now, right?",
    # abuse told as over, but recent, or the person is back or in touch: "I'm ok now" is the hours after it
    "He hit me last night but I'm ok now",
    "he had his hands round my neck this morning. I'm ok now. he's at work",
    "he punched me yesterday, I feel fine now",
    "My ex used to hit me, I left years ago and I'm safe now, but he found me",
    "My ex used to hit me. I left years ago and I'm fine now, but he keeps texting me threats",
    "My ex used to hit me. I left him years ago and I'm safe now. Last month he came back to the area.",
    "以前老公打我，我们已经离婚很多年了。可是他还经常来我家门口",
    "他打我，我逃出来了，他在找我",  # an escape now: the guard for abuse long over needs a past word (ZH-G-32)
    # memories coming back after suicidal thoughts told as over keep the alarm
    "I had suicidal thoughts after my first. I'm fine now. Sometimes the memories come back.",
    # a category the person is never asked about, told as over, keeps the alarm
    "I had postpartum psychosis and heard voices telling me to hurt the baby, I've fully recovered now",
]


@pytest.mark.parametrize("text", TOLD_AS_OVER)
def test_a_crisis_told_as_past_and_over_becomes_a_question(text):
    analysis = crisis.analyse(text)
    assert analysis.told_as_over and analysis.signals == []
    assert analysis.asks and analysis.asks[0].category in ("suicide_self_harm", "harm_to_baby")
    assert analysis.asks[0].rule, "the record for review names the rule that read the crisis"


@pytest.mark.parametrize("text", ABUSE_TOLD_AS_OVER)
def test_abuse_told_as_past_and_over_is_asked_whether_the_person_is_safe_now(text):
    analysis = crisis.analyse(text)
    assert analysis.told_as_over and analysis.signals == [], text
    assert [ask.category for ask in analysis.asks][:1] == ["abuse_danger"] and analysis.asks[0].rule


def processed(text: str, diet_intent: str) -> Message:
    """`text` through the crisis component, DIET having predicted `diet_intent` with high confidence."""
    component = CrisisComponent.create(CrisisComponent.get_default_config(), Mock(), Mock(), Mock())
    top = {"name": diet_intent, "confidence": 0.99}
    msg = Message(data={"text": text, "intent": top, "intent_ranking": [top], "entities": []},
                  output_properties={"intent", "intent_ranking", "entities"})
    component.process([msg])
    return msg


def test_the_component_asks_about_abuse_told_as_over_with_its_own_question():
    msg = processed(ABUSE_TOLD_AS_OVER[0], "crisis_abuse_danger")
    assert msg.get("intent")["name"] == "possible_abuse_danger"
    assert (msg.get("crisis")["tier"], msg.get("crisis")["category"]) == ("possible", "abuse_danger")
    assert not [e for e in msg.get("entities") if e["entity"] == "crisis_category"], "nothing is alerted"


@pytest.mark.parametrize("text", STILL_ALARMED)
def test_a_crisis_now_back_or_after_the_well_keeps_the_alarm(text):
    analysis = crisis.analyse(text)
    assert not analysis.told_as_over and analysis.signals, text


def test_the_silence_guard_keeps_the_alarm_because_it_cannot_ask_and_wait():
    [reply, _] = guard.fallback_replies(TOLD_AS_OVER[0])
    assert reply == guard.response_text("utter_crisis_suicide_self_harm")


def test_a_failure_reading_it_keeps_the_alarm(monkeypatch, caplog):
    def broken(text, signals):
        raise RuntimeError("language data unreadable")
    monkeypatch.setattr(language, "told_as_over", broken)
    analysis = crisis.analyse(TOLD_AS_OVER[0])
    assert analysis.signals and not analysis.told_as_over
    assert "the alarm stands" in caplog.text and "ending my life" not in caplog.text


def test_the_nets_never_raise_it_back_to_the_alarm():
    decision, view = crisis_net.assess(TOLD_AS_OVER[0], None, "suicide_self_harm", False, "suicide_self_harm",
                                       told_as_over=True)
    assert (decision.tier, decision.category, decision.source) == ("possible", "suicide_self_harm", "lexicon")
    assert view is None


def test_the_component_asks_and_names_the_rule_whatever_diet_predicted():
    msg = processed(TOLD_AS_OVER[2], "crisis_suicide_self_harm")
    assert msg.get("intent")["name"] == f"{crisis_component.POSSIBLE_PREFIX}suicide_self_harm"
    details = msg.get("crisis")
    assert (details["tier"], details["source"]) == ("possible", "lexicon") and details["rule"]
    assert details["asked_because"] == "told_as_over"
    assert not [e for e in msg.get("entities") if e["entity"] == "crisis_category"], "nothing is alerted"


def test_english_over_words_hold_their_examples():
    lexicon = language.english_lexicon()
    assert lexicon.over and lexicon.not_over
    for rule in lexicon.over + lexicon.not_over:
        for example in rule.examples:
            assert lexicon.rule_hits(rule, example), (rule.id, example)
        for example in rule.not_examples:
            assert not lexicon.rule_hits(rule, example), (rule.id, example)


def test_every_language_has_over_and_not_over_words():
    for lang in language.languages().values():
        assert lang.lexicon.over and lang.lexicon.not_over, lang.code


def test_a_guard_for_a_crisis_told_as_over_stands_down_when_the_message_says_it_may_be_back():
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm", "patterns": ["chce umrzec"]}],
            "guards": [{"id": "XX-G-01", "past": True, "patterns": ["rok temu ...3 chce umrzec ...5 teraz dobrze"]},
                       {"id": "XX-G-02", "patterns": ["umrzec ze smiechu"]}],
            "not_over": [{"id": "XX-NOTOVER-01", "patterns": ["znowu|wrocilo"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    assert lexicon.hits("rok temu chce umrzec myslalam, teraz dobrze")[0] == []
    [hit], _ = lexicon.hits("rok temu chce umrzec myslalam, teraz dobrze, ale wrocilo")
    assert hit.rule == "XX-SSH-01", "the past guard stands down: the alarm stays"
    assert lexicon.hits("chce umrzec ze smiechu znowu")[0] == [], "other guards still apply"


def test_a_past_guard_stands_down_on_a_relapse_but_not_on_another_languages_words():
    """PL-G-78 (a violent partner left long ago) is marked `past`. The Arabic `not_over` "od" (an overdose) is the
    Polish "from": only English's and the message's own languages' relapse words count."""
    calm = "dwa lata temu odeszłam od męża, który mnie bił, teraz jestem w nowym związku"
    assert crisis.analyse(calm).signals == []
    relapse = calm + ", ale on mnie znalazł i znowu grozi"
    assert [s.category for s in crisis.analyse(relapse).signals] == ["abuse_danger"]


def test_over_and_not_over_words_speak_only_for_the_crises_they_name(monkeypatch):
    """"I'm safe now" says abuse is over, not suicidal thoughts; "the memories come back" keeps the alarm for
    suicidal thoughts, not for abuse long over. An entry that names no categories speaks for every one."""
    from collections import namedtuple

    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon, PatternError
    spec = {"over": [{"id": "XX-OVER-01", "patterns": ["teraz dobrze"]},
                     {"id": "XX-OVER-02", "categories": ["abuse_danger"], "patterns": ["jestem bezpieczna"]}],
            "not_over": [{"id": "XX-NOTOVER-01", "categories": ["suicide_self_harm", "harm_to_baby"],
                          "patterns": ["wracaja wspomnienia"]},
                         {"id": "XX-NOTOVER-02", "patterns": ["znowu"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    monkeypatch.setattr(language, "_over_lexicons", lambda codes: [lexicon])
    signal = namedtuple("Signal", "language category end")

    def over(text: str, category: str) -> bool:
        return language.told_as_over(text, [signal("xx", category, text.index(","))])

    assert over("bil mnie, teraz jestem bezpieczna, czasem wracaja wspomnienia", "abuse_danger")
    assert not over("chcialam umrzec, teraz jestem bezpieczna", "suicide_self_harm"), "safe speaks for abuse only"
    assert not over("chcialam umrzec, teraz dobrze, czasem wracaja wspomnienia", "suicide_self_harm")
    assert over("chcialam umrzec, teraz dobrze", "suicide_self_harm")
    assert not over("bil mnie, teraz jestem bezpieczna, ale znowu", "abuse_danger"), "no categories: every crisis"
    with pytest.raises(PatternError, match="psychosis"):
        Lexicon("xx", {"over": [{"id": "XX-OVER-09", "categories": ["psychosis"], "patterns": ["ok"]}]},
                fold_marks=True, characters=False, categories=CATEGORIES)


def test_a_past_guard_stands_down_only_for_the_crises_the_not_over_words_speak_for():
    """"The memories come back" brings back the alarm for suicidal thoughts told as over, not for abuse long over:
    the guard for abuse left years ago still applies."""
    from bot.crisis import CATEGORIES
    from bot.language.lexicon import Lexicon
    spec = {"rules": [{"id": "XX-SSH-01", "category": "suicide_self_harm", "patterns": ["chce umrzec"]},
                      {"id": "XX-ABU-01", "category": "abuse_danger", "patterns": ["bil mnie"]}],
            "guards": [{"id": "XX-G-01", "past": True, "patterns": ["rok temu ...3 chce umrzec"]},
                       {"id": "XX-G-02", "past": True, "patterns": ["dawno temu ...2 bil mnie"]}],
            "not_over": [{"id": "XX-NOTOVER-01", "categories": ["suicide_self_harm", "harm_to_baby"],
                          "patterns": ["wracaja wspomnienia"]},
                         {"id": "XX-NOTOVER-02", "patterns": ["znowu"]}]}
    lexicon = Lexicon("xx", spec, fold_marks=True, characters=False, categories=CATEGORIES)
    assert lexicon.hits("dawno temu bil mnie, czasem wracaja wspomnienia")[0] == []
    [hit], _ = lexicon.hits("rok temu chce umrzec, czasem wracaja wspomnienia")
    assert hit.rule == "XX-SSH-01"
    [hit], _ = lexicon.hits("dawno temu bil mnie, ale znowu")
    assert hit.rule == "XX-ABU-01", "a not_over phrase for every crisis still brings the alarm back"
