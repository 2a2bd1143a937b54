"""End to end over real HTTP: the trained model, Rasa's server, the action server and the seed directory.

Run by `make test` (which trains the model first). Tests that stop the action server come last.
"""
from __future__ import annotations

import json
import uuid
from collections import Counter

from pathlib import Path

import pytest
import requests
import yaml

from bot.vocabulary import areas
from tests.conversation_driver import asked_slot, drive, render, suggested
from tests.servers import Servers

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    running = Servers(tmp_path_factory.mktemp("e2e")).start()
    yield running
    running.stop()


def new_sender() -> str:
    return f"e2e-{uuid.uuid4().hex[:10]}"


def texts(replies) -> str:
    return "\n".join(r.get("text", "") for r in replies)


def services(replies) -> list[dict]:
    return [s for r in replies if "custom" in r for s in r["custom"].get("services", [])]


def test_greeting_says_what_this_is_and_where_to_go_in_an_emergency(servers):
    replies = servers.say(new_sender(), "hi")
    text = texts(replies)
    assert "automated" in text and "not a clinical service" in text and "999" in text
    assert replies[0]["buttons"]


def test_a_health_question_gets_no_advice_but_the_people_who_can_answer(servers):
    """Wording nobody trained on: the assistant says plainly it gives no medical advice and points onward."""
    text = texts(servers.say(new_sender(), "does the baby need sun cream in the summer"))
    assert "can't give medical advice" in text and "111" in text and "999" in text, text


@pytest.mark.parametrize("payload, expected", [("/out_of_scope", "can't help with that"),
                                               ("/faq/cost", "free")])
def test_a_tapped_answer_button_gets_its_answer_even_from_an_old_menu(servers, payload, expected):
    """Payloads naming a retrieval intent (bot/nlu/payloads.py): answered, not left to the silence guard."""
    sender = new_sender()
    servers.say(sender, "hi")
    text = texts(servers.say(sender, payload))
    assert expected in text.lower() and "went wrong" not in text, text


def test_only_faq_and_out_of_scope_messages_are_given_an_answer(servers):
    """The response selectors run only on their own intent (bot/nlu/response_selection.py): an FAQ or a health
    question still gets its answer, and a message of another intent costs no selection."""
    for text, intent, answer in (("how much does peer support cost", "faq", "faq/cost"),
                                 ("can I give calpol to a 3 month old", "out_of_scope", "out_of_scope/health")):
        parse = parsed(servers, text)
        assert parse["intent"]["name"] == intent, parse["intent"]
        assert parse["response_selector"][intent]["response"]["intent_response_key"] == answer
    other = parsed(servers, "is there a group in Dundee")
    assert other["intent"]["name"] == "find_support"
    assert not {"faq", "out_of_scope"} & set(other.get("response_selector", {})), other.get("response_selector")
    assert "free" in texts(servers.say(new_sender(), "how much does peer support cost")).lower()


def test_a_dad_in_fife_reaches_dads_support_in_three_turns_or_fewer(servers):
    sender = new_sender()
    replies = servers.say(sender, "any groups for dads in Fife?")
    turns = 1
    while not services(replies) and turns < 3:
        replies = servers.say(sender, "my partner is pregnant" if asked_slot(replies) == "stage" else "don't mind")
        turns += 1
    found = services(replies)
    assert found, texts(replies)
    assert all("fathers_partners" in s["audiences"] for s in found)
    assert {"id", "name", "formats", "audiences", "stages", "needs", "areas", "phones", "url"} <= set(found[0])
    assert servers.slot(sender, "board_code") == "S08000029"


OPENERS = yaml.safe_load((Path(__file__).parent / "data" / "openers.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", OPENERS, ids=[c["opener"][:30] for c in OPENERS])
def test_ten_openers_reach_relevant_suggestions(servers, case):
    sender = new_sender()
    run = drive(lambda text: servers.say(sender, text), case["opener"], case["answers"])
    found = run.services
    assert found, run.transcript
    assert run.most_asked <= 2, run.transcript
    expect = case["expect"]
    assert all(expect["audience"] in s["audiences"] for s in found), found
    assert all(expect.get("stage", s["stages"][0]) in s["stages"] for s in found)
    assert all(expect["board"] in local_boards(s) or set(s["areas"]) & {"scotland", "uk"} for s in found)
    assert servers.slot(sender, "board_code") == expect["board"]


def local_boards(service) -> set[str]:
    return {areas()[code].board_code for code in service["areas"] if code in areas()} - {None}


CONVERSATIONS = yaml.safe_load((Path(__file__).parent / "data" / "conversations_e2e.yml").read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CONVERSATIONS, ids=[c["name"][:60] for c in CONVERSATIONS])
def test_conversations_the_way_people_talk(servers, case):
    """Typed answers, negation, corrections, digressions, old menus, stated needs (tests/data/conversations_e2e.yml)."""
    sender, asked, found, transcript = new_sender(), Counter(), [], []
    for turn in case["turns"]:
        replies = servers.say(sender, turn["say"])
        transcript += [f"> {turn['say']}"] + [render(r) for r in replies if r.get("text")]
        log = "\n".join(transcript)
        question = asked_slot(replies)
        if question:
            asked[question] += 1
        if "asks" in turn:
            assert question == (None if turn["asks"] == "none" else turn["asks"]), log
        if turn.get("suggests"):
            assert suggested(replies), log
        found = suggested(replies) or found
        for phrase in turn.get("says", []):
            assert phrase in texts(replies), log
        for phrase in turn.get("not_says", []):
            assert phrase not in texts(replies), log
    log = "\n".join(transcript)
    assert max(asked.values(), default=0) <= 2, log  # never the same question more than twice
    expect = case.get("expect", {})
    slots = servers.tracker(sender)["slots"]
    for name, value in expect.get("slots", {}).items():
        assert slots.get(name) == value, (name, slots.get(name), log)
    if "audience" in expect:
        assert all(expect["audience"] in s["audiences"] for s in found), log
    if "offers" in expect:
        wanted = expect["offers"]
        assert all(wanted in s["formats"] or "does not offer" in s["reason"] for s in found), log
        assert found and wanted in found[0]["formats"] or "does not offer" in found[0]["reason"], log
    for refused in expect.get("avoid", []):
        assert not any(set(s["formats"]) <= set(expect["avoid"]) for s in found), log
    if "first_need" in expect:
        assert expect["first_need"] in found[0]["needs"], log
    for need in expect.get("unstated", []):
        assert not any(need in s["needs"] for s in found), log
    for service_id in expect.get("not_offered", []):
        assert service_id not in [s["id"] for s in found], log


def test_a_correction_mid_form_changes_the_area(servers):
    sender = new_sender()
    servers.say(sender, "I'm a mum looking for support, I'm in Edinburgh")
    servers.say(sender, "actually I'm in Perth")
    assert servers.slot(sender, "council_code") == "S12000048"


def test_crisis_mid_form_is_answered_first_and_recorded(servers):
    sender = new_sender()
    servers.say(sender, "I'd like to find a group")
    replies = servers.say(sender, "I want to kill myself")
    first = replies[0]["text"]
    assert "999" in first and "116 123" in first
    assert servers.slot(sender, "crisis_category") == "suicide_self_harm"
    assert servers.tracker(sender)["active_loop"] in ({}, None) or \
        servers.tracker(sender)["active_loop"].get("name") is None


POSSIBLE = "honestly whats the point of any of it anymore"


def escalations(servers, sender: str) -> list[str]:
    """The conversation's recorded escalation categories, polled briefly (the broker writes in the background)."""
    return _recorded(servers, "select category from escalation where conversation_id = ?", sender)


def _recorded(servers, query: str, sender: str) -> list:
    """The query's first column for this conversation, polled for up to 10 s until every row has a value."""
    import sqlite3
    import time
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(servers.workdir / "directory.db") as db:
            rows = [r[0] for r in db.execute(query, (sender,))]
        if (rows and all(rows)) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


@pytest.mark.parametrize("answer, recorded", [("yes", "yes"), ("mhm", "yes"), ("sort of", "unsure")])
def test_a_possible_risk_is_asked_about_kindly_and_yes_becomes_a_recorded_crisis(servers, answer, recorded):
    """A typed "mhm" is a yes, and an unsure "sort of" is treated as one (H17)."""
    sender = new_sender()
    replies = [r for r in servers.say(sender, POSSIBLE) if not r.get("text", "").startswith("Privacy:")]
    question = texts(replies)
    assert "thoughts of ending their life" in question and "116 123" in question and "999" in question
    assert len(replies) == 1, "a question, not a menu (the first turn's privacy notice aside)"
    assert servers.slot(sender, "crisis_tier") == "possible" and servers.slot(sender, "crisis_category") is None
    replies = servers.say(sender, answer)
    assert "999" in replies[0]["text"] and "116 123" in replies[0]["text"]
    assert escalations(servers, sender) == ["suicide_self_harm"], "a crisis answer always has its escalation"
    assert review_answers(servers, sender) == [recorded]


def review_answers(servers, sender: str) -> list[str]:
    """The answers recorded for the conversation's possible-risk questions (written in the background)."""
    return _recorded(servers, "select answer from risk_review where conversation_id = ?", sender)


def test_no_to_the_question_goes_back_to_the_form_and_is_not_asked_again(servers):
    sender = new_sender()
    servers.say(sender, "I'd like to find some support")
    replies = servers.say(sender, POSSIBLE)
    assert "Is that happening for you?" in texts(replies)
    replies = servers.say(sender, "no")
    text = texts(replies)
    assert "Thank you for letting me know" in text and "?" in text.split("Thank you for letting me know")[1]
    assert servers.tracker(sender)["active_loop"].get("name") == "support_form"
    replies = servers.say(sender, "I'm a mum")
    assert "Is that happening for you?" not in texts(replies)
    assert servers.slot(sender, "crisis_tier") is False, "the tier applies to its own turn only"
    assert escalations(servers, sender) == []


def test_what_a_possible_risk_message_said_about_the_person_is_not_asked_again(servers):
    sender = new_sender()
    replies = servers.say(sender, "I'm a dad, my son is 4 months old. " + POSSIBLE)
    assert "Is that happening for you?" in texts(replies)
    servers.say(sender, "no")
    replies = servers.say(sender, "I'd like to find some support")
    assert asked_slot(replies) in ("location", "format"), texts(replies)
    assert servers.slot(sender, "role") == "dad_partner" and servers.slot(sender, "stage") == "postnatal"


TOLD_AS_OVER = ("After my first baby I had thoughts of ending my life. That was three years ago and therapy helped, "
                "I'm doing well now. Is there a group for mums expecting again?")


def test_a_crisis_told_as_past_and_over_is_asked_about_not_alarmed_and_kept_for_review(servers):
    """H46: the possible-risk question about now, not 999 and an alert about what the person said is past."""
    sender = new_sender()
    replies = [r for r in servers.say(sender, TOLD_AS_OVER) if not r.get("text", "").startswith("Privacy:")]
    question = texts(replies)
    assert "Is that happening for you?" in question and "116 123" in question and "999" in question
    assert servers.slot(sender, "crisis_tier") == "possible" and escalations(servers, sender) == []
    replies = servers.say(sender, "no")
    assert "Thank you for letting me know" in texts(replies)
    assert escalations(servers, sender) == []
    assert review_answers(servers, sender) == ["no"], "the signal is kept for clinical review with the answer"


ABUSE_TOLD_AS_OVER_RO = "Fostul meu soț mă bătea. L-am părăsit acum trei ani și acum mă simt în siguranță."


def test_abuse_told_as_past_and_over_is_asked_are_you_safe_now_in_the_language_and_yes_is_the_abuse_answer(servers):
    """H55: "are you safe now?" in Romanian and English with the helpline, no alarm yet; a Romanian "da" is the
    abuse crisis answer and its escalation."""
    sender = new_sender()
    replies = [r for r in servers.say(sender, ABUSE_TOLD_AS_OVER_RO) if not r.get("text", "").startswith("Privacy:")]
    question = texts(replies)
    assert "is anyone hurting you" in question and "0800 027 1234" in question and "999" in question
    assert question.index("te rănește cineva") < question.index("is anyone hurting you"), "Romanian, then English"
    assert servers.slot(sender, "crisis_tier") == "possible" and escalations(servers, sender) == []
    answer = texts(servers.say(sender, "da"))
    assert "It is not your fault, and you deserve to be safe." in answer and "press 55" in answer
    assert escalations(servers, sender) == ["abuse_danger"]
    assert review_answers(servers, sender) == ["yes"]


# From read batch 10 (tests/data/multilingual/batch10/ro.yml): a friend's suicidal thoughts last year, well now. The
# Romanian lexicon reads the words as an alarm; the languages net reads the message as ordinary.
DOUBTED_ALARM_RO = ("prietena mea a avut ganduri de sinucidere dupa nastere anul trecut. acum e bine, face terapie si e "
                    "alt om. voiam sa va multumesc ca ati ajutat-o atunci")


def test_an_alarm_the_languages_net_doubts_is_asked_in_the_language_and_english_and_alerts_nobody(servers):
    """H58: only the Romanian lexicon raised the alarm and the languages net reads the message as ordinary, so the
    person is asked, with the numbers, in Romanian and English; nothing is alerted, and "nu" is recorded."""
    sender = new_sender()
    question = texts(r for r in servers.say(sender, DOUBTED_ALARM_RO) if not r.get("text", "").startswith("Privacy:"))
    assert "Is that happening for you?" in question and "116 123" in question and "999" in question
    assert question.index("Ai și tu astfel de gânduri?") < question.index("Is that happening for you?")
    assert servers.slot(sender, "crisis_tier") == "possible" and escalations(servers, sender) == []
    assert "Thank you for letting me know." in texts(servers.say(sender, "nu"))
    assert escalations(servers, sender) == [] and review_answers(servers, sender) == ["no"]


@pytest.mark.parametrize("message,status", [
    ("", 200), (" ", 200), ("\x00\x01\x02 binary", 200), ("x" * 20_000, 200), ("😀" * 300, 200),
])
def test_odd_messages_get_an_answer(servers, message, status):
    response = requests.post(f"{servers.rasa_url}/webhooks/rest/webhook",
                             json={"sender": new_sender(), "message": message}, timeout=60)
    assert response.status_code == status
    assert response.json(), "every message gets at least one reply"


def test_malformed_requests_are_refused_clearly(servers):
    url = f"{servers.rasa_url}/webhooks/rest/webhook"
    assert requests.post(url, data=b"{not json", headers={"Content-Type": "application/json"},
                         timeout=30).status_code == 400
    assert requests.post(url, json=["not", "an", "object"], timeout=30).status_code == 400
    assert requests.post(url, json={"message": "no sender"}, timeout=30).status_code == 400
    assert requests.get(f"{servers.rasa_url}/webhooks/rest/", timeout=10).ok  # still up


def test_conversations_are_kept_in_the_sql_tracker_store(servers):
    import sqlite3
    sender = new_sender()
    servers.say(sender, "hello")
    with sqlite3.connect(servers.workdir / "tracker.db") as db:
        count = db.execute("select count(*) from events where sender_id = ?", (sender,)).fetchone()[0]
    assert count > 0


# --- data protection (bot/privacy) -----------------------------------------------------------

def readable_in(directory: Path, needle: str) -> list[str]:
    """Every file under the servers' directory (databases, write-ahead logs, journal, logs) holding `needle`."""
    return [str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file() and needle.encode() in
            p.read_bytes()]


def test_the_privacy_notice_comes_once_and_after_a_first_crisis_answer(servers):
    sender = new_sender()
    replies = servers.say(sender, "I want to kill myself")
    assert "999" in replies[0]["text"] and replies[-1]["text"].startswith("Privacy: I keep this chat 90 days")
    assert "Privacy:" not in texts(servers.say(sender, "hello"))


def test_delete_my_data_over_rest_leaves_nothing_readable_anywhere(servers):
    sender, secret = new_sender(), f"quokka{uuid.uuid4().hex[:8]}"
    servers.say(sender, "hi")
    servers.say(sender, f"I want to kill myself {secret}")
    assert escalations(servers, sender) == ["suicide_self_harm"]
    servers.say(sender, f"I live in Kirkcaldy {secret}")
    assert readable_in(servers.workdir, secret)  # the words are stored before
    question = servers.say(sender, "can you delete everything I've said")
    assert "delete this conversation" in texts(question)
    assert [b["payload"] for b in question[0]["buttons"]] == ["/confirm_erasure", "/cancel_erasure"]
    done = servers.say(sender, "/confirm_erasure")
    assert texts(done).startswith("Done: I've deleted this conversation")
    assert readable_in(servers.workdir, secret) == []
    assert escalations(servers, sender) == []  # anonymised: kept for audit, not linked to the person
    import sqlite3
    with sqlite3.connect(servers.workdir / "directory.db") as db:
        assert db.execute("select count(*) from escalation where message like '[erased%'").fetchone()[0] >= 1
    after = servers.say(sender, "hello")  # a new start, with the notice again
    assert "Privacy:" in texts(after)


PRIVACY_BLIND = yaml.safe_load((Path(__file__).parent / "data" / "privacy_blind.yml").read_text(encoding="utf-8"))
# Measured on the blind set (written by someone who never saw data/nlu/privacy.yml; 3 of the 40 requests
# happen to match a training example word for word): recall 0.85 (34/40), 6 false alarms of 25 (model
# 2a67e43b, 2026-12-03). Floors, not targets, with room for a retrain's variance: a drop means a regression.
# A false alarm costs a confirmation question ("Do you want me to delete…?"), never an erasure.
PRIVACY_RECALL_FLOOR, PRIVACY_FALSE_ALARMS_CEILING = 0.75, 8


def parsed(servers, text: str) -> dict:
    """What the model makes of `text` (Rasa's /model/parse)."""
    response = requests.post(f"{servers.rasa_url}/model/parse", params={"token": servers.rasa_token},
                             json={"text": text}, timeout=30)
    response.raise_for_status()
    return response.json()


def intent_of(servers, text: str) -> str:
    return parsed(servers, text)["intent"]["name"]


def test_delete_my_data_is_understood_on_a_blind_set(servers):
    requests_ = PRIVACY_BLIND["delete_my_data"]
    missed = [t for t in requests_ if intent_of(servers, t) != "delete_my_data"]
    false_alarms = [(m["text"], intent) for m in PRIVACY_BLIND["not_delete_my_data"]
                    if (intent := intent_of(servers, m["text"])) == "delete_my_data"]
    recall = 1 - len(missed) / len(requests_)
    print(f"\ndelete_my_data blind set: recall {recall:.2f} ({len(requests_) - len(missed)}/{len(requests_)}), "
          f"false alarms {len(false_alarms)}/{len(PRIVACY_BLIND['not_delete_my_data'])}; missed: {missed}; "
          f"false alarms: {false_alarms}")
    assert recall >= PRIVACY_RECALL_FLOOR and len(false_alarms) <= PRIVACY_FALSE_ALARMS_CEILING


def test_a_typed_yes_erases_too_and_no_keeps_everything(servers):
    sender, secret = new_sender(), f"wombat{uuid.uuid4().hex[:8]}"
    servers.say(sender, f"hi {secret}")
    servers.say(sender, "delete my data")
    assert "haven't deleted anything" in texts(servers.say(sender, "no"))
    assert readable_in(servers.workdir, secret)
    servers.say(sender, "please erase this conversation")
    assert texts(servers.say(sender, "yes")).startswith("Done:")
    assert readable_in(servers.workdir, secret) == []


def test_feedback_at_the_natural_end_of_a_search_but_not_after_a_crisis(servers):
    sender = new_sender()
    for message in ("I'm a mum looking for a group in Fife", "the baby is 3 months"):
        servers.say(sender, message)
    if servers.slot(sender, "shown_service_ids"):
        closing = servers.say(sender, "thanks, that's all")
        assert "did this help?" in texts(closing).lower()
        assert "Thank you" in texts(servers.say(sender, '/feedback{"helpful":"yes"}'))
    crisis = new_sender()
    servers.say(crisis, "I want to kill myself")
    servers.say(crisis, "find me a group in Fife, I'm a mum, baby is 3 months")
    assert "did this help?" not in texts(servers.say(crisis, "thanks bye")).lower()


def test_a_long_conversation_keeps_its_early_facts_and_its_form(servers):
    """Past 10 user turns the policies and the action server see only the recent turns (bot/rasa_speed.py): a
    crisis at turn 1 still stops the feedback question at turn 16, and a form begun before the window's edge
    carries on through a question asked inside it."""
    from bot.rasa_speed import RECENT_USER_TURNS
    sender = new_sender()
    servers.say(sender, "I want to kill myself")
    chat = ["what is peer support?", "is it free?", "are you a real person?", "what happens at a group?",
            "can dads get pnd?", "is this confidential?", "what is peer support?", "is it free?"]
    for message in chat:
        servers.say(sender, message)
    servers.say(sender, "I'm a mum looking for a group")
    for message in ["is it free?", "the baby is 3 months"]:
        replies = servers.say(sender, message)
    assert len([e for e in servers.tracker(sender)["events"] if e["event"] == "user"]) > RECENT_USER_TURNS + 1
    assert servers.slot(sender, "role") == "mum" and servers.slot(sender, "stage"), texts(replies)
    replies = servers.say(sender, "Fife")
    if asked_slot(replies) == "format":
        replies = servers.say(sender, "don't mind")
    assert services(replies), texts(replies)
    assert servers.slot(sender, "crisis_met") is True
    assert "did this help?" not in texts(servers.say(sender, "thanks bye")).lower()


# --- other languages (bot/language, data/i18n/) ----------------------------------------------

# Written for these tests (not taken from the labelled sets): one plain disclosure and one ordinary request each.
CRISIS_IN = {"pl": "Nie chcę już żyć", "uk": "Я більше не хочу жити", "ro": "Nu mai vreau să trăiesc",
             "ar": "أريد أن أموت", "ur": "میں مرنا چاہتی ہوں", "pa": "ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦੀ ਹਾਂ", "zh": "我不想活了"}
ORDINARY_IN = {"pl": "Szukam grupy wsparcia dla mam w Glasgow", "uk": "Я шукаю групу підтримки для мам",
               "ro": "Caut un grup de sprijin pentru mame", "ar": "أبحث عن مجموعة دعم للأمهات",
               "ur": "میں ماؤں کے لیے سپورٹ گروپ ڈھونڈ رہی ہوں", "pa": "ਮੈਂ ਮਾਵਾਂ ਲਈ ਸਹਾਇਤਾ ਗਰੁੱਪ ਲੱਭ ਰਹੀ ਹਾਂ",
               "zh": "我在找妈妈互助小组"}


def said(replies) -> str:
    """A turn's text as written: Rasa's REST channel sends each paragraph ("\n\n") as a message of its own."""
    return "\n\n".join(r.get("text", "") for r in replies)


def translated(code: str, key: str) -> str:
    from bot import language
    return language.get(code).responses[key]


@pytest.mark.parametrize("code", sorted(CRISIS_IN))
def test_a_crisis_in_another_language_gets_the_answer_in_it_and_in_english_and_an_escalation(servers, code):
    sender = new_sender()
    first = said(servers.say(sender, CRISIS_IN[code]))  # Rasa sends each paragraph as its own message
    assert first.startswith(translated(code, "crisis_suicide_self_harm")), first
    assert "I'm really sorry you're feeling like this" in first and "116 123" in first and "999" in first
    assert translated(code, "interpreter") in first
    assert escalations(servers, sender) == ["suicide_self_harm"]


@pytest.mark.parametrize("code", sorted(ORDINARY_IN))
def test_an_ordinary_message_in_another_language_is_answered_in_it_never_with_an_english_question_alone(servers, code):
    sender = new_sender()
    reply = said(servers.say(sender, ORDINARY_IN[code]))
    assert reply.startswith(translated(code, "not_english")), reply
    assert "This service works in English" in reply and "111" in reply and "999" in reply
    assert servers.slot(sender, "language") == code
    assert escalations(servers, sender) == []


# Worded so that no lexicon knows it ("sometimes I think everyone would have it easier if I weren't here"): the
# crisis net, which has learned the other languages, is unsure, so the person is asked.
POSSIBLE_IN_POLISH = "Czasem myślę, że wszystkim byłoby lżej, gdyby mnie tu nie było"


def test_a_possible_risk_in_another_language_is_asked_in_it_and_its_yes_becomes_a_recorded_crisis(servers):
    sender = new_sender()
    replies = [r for r in servers.say(sender, POSSIBLE_IN_POLISH) if not r.get("text", "").startswith("Privacy:")]
    question = said(replies)
    assert question.startswith(translated("pl", "possible_suicide_self_harm")), question
    assert "Is that happening for you?" in question and "116 123" in question and "999" in question
    assert [b["title"] for r in replies for b in r.get("buttons", [])] == ["Tak / Yes", "Nie / No"]
    assert servers.slot(sender, "crisis_tier") == "possible" and escalations(servers, sender) == []
    answer = said(servers.say(sender, "tak"))  # typed, as on SMS
    assert answer.startswith(translated("pl", "crisis_suicide_self_harm")), answer
    assert "I'm really sorry you're feeling like this" in answer
    assert escalations(servers, sender) == ["suicide_self_harm"], "a crisis answer always has its escalation"


def test_no_to_the_question_in_another_language_is_thanked_in_it_without_an_alert(servers):
    sender = new_sender()
    servers.say(sender, POSSIBLE_IN_POLISH)
    reply = said(servers.say(sender, "nie"))
    assert reply.startswith(translated("pl", "possible_declined")) and "Thank you for letting me know" in reply
    assert escalations(servers, sender) == []


def test_another_language_mid_form_is_answered_then_the_question_comes_again(servers):
    sender = new_sender()
    servers.say(sender, "I'd like to find a group")
    replies = servers.say(sender, ORDINARY_IN["pl"])
    assert said(replies).startswith(translated("pl", "not_english"))
    assert asked_slot(replies), texts(replies)  # the form carries on, in English, after the explanation


# --- with the action server stopped (keep these last) -------------------------------------

def test_with_the_action_server_down_a_crisis_is_still_answered(servers):
    servers.stop_actions()
    sender = new_sender()
    replies = servers.say(sender, "my partner hits me and I'm scared to go home")
    assert "999" in replies[0]["text"] and "0800 027 1234" in replies[0]["text"]


def test_with_the_action_server_down_a_crisis_in_another_language_is_answered_in_it(servers):
    sender = new_sender()
    first = said(servers.say(sender, CRISIS_IN["ur"]))
    assert first.startswith(translated("ur", "crisis_suicide_self_harm")) and "116 123" in first
    assert escalations(servers, sender) == ["suicide_self_harm"]


def test_with_the_action_server_down_the_possible_risk_question_and_yes_still_work(servers):
    sender = new_sender()
    assert "Is that happening for you?" in texts(servers.say(sender, POSSIBLE))
    replies = servers.say(sender, "yes")
    assert "999" in replies[0]["text"]
    assert escalations(servers, sender) == ["suicide_self_harm"]


def test_with_the_action_server_down_a_search_gets_a_helpful_reply_not_silence(servers):
    sender = new_sender()
    replies = servers.say(sender, "I'm a mum with a 3 month old in Glasgow, any groups?")
    assert replies, "never silence"
    assert any("111" in r.get("text", "") or "0800 83 85 87" in r.get("text", "") for r in replies)
