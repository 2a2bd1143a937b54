"""Custom actions, tested as Rasa's demos do: a CollectingDispatcher, trackers built here, the real domain."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select

from actions.support import (ActionMoreOptions, ActionRestartSupport, ActionUpdateSearch,
                             ActionSuggestServices, ValidateSupportForm)
from bot.db import session_scope
from bot.nlu.entities import extract
from bot.models import UnmetNeed

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))
CONTRACT = {"id", "name", "formats", "audiences", "stages", "needs", "areas", "phones", "url"}


def tracker(**slots) -> Tracker:
    return Tracker(sender_id="test-user", slots=slots, latest_message={"text": "", "intent": {}, "entities": []},
                   events=[], paused=False, followup_action=None, active_loop={}, latest_action_name=None)


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


def responses(dispatcher) -> list[str | None]:
    return [m["response"] for m in dispatcher.messages]


def test_every_response_an_action_sends_is_in_the_domain(dispatcher, sample_directory):
    ActionSuggestServices().run(dispatcher, tracker(role="mum", stage="postnatal", location="Kirkcaldy"), DOMAIN)
    for name in filter(None, responses(dispatcher)):
        assert name in DOMAIN["responses"]


def test_suggestions_send_text_and_the_services_payload(dispatcher, sample_directory):
    events = ActionSuggestServices().run(
        dispatcher, tracker(role="mum", stage="postnatal", location="Kirkcaldy", format="group"), DOMAIN)
    first, menu = dispatcher.messages
    assert "- Fife Mums Group" in first["text"]
    assert "Why: Peer support from people who have been through it. Runs in Fife" in first["text"]
    services = first["custom"]["services"]
    assert services[0]["id"] == "fife-mums-group"
    assert all(CONTRACT <= set(s) for s in services)
    assert menu["response"] == "utter_after_suggestions"
    assert events == [SlotSet("shown_service_ids", [s["id"] for s in services])]


def test_a_dad_is_offered_dads_support(dispatcher, sample_directory):
    ActionSuggestServices().run(dispatcher, tracker(role="dad_partner", stage="pregnancy", location="Fife",
                                                    format="any"), DOMAIN)
    assert dispatcher.messages[0]["custom"]["services"][0]["id"] == "fife-dads-group"
    assert "just for dads and partners" in dispatcher.messages[0]["text"]


def test_nothing_local_says_so_offers_national_and_records_the_need(dispatcher, sample_directory):
    ActionSuggestServices().run(dispatcher, tracker(role="mum", stage="postnatal", location="Paisley",
                                                    format="text", area_label="Paisley (Renfrewshire)"), DOMAIN)
    text = dispatcher.messages[0]["text"]
    assert text.startswith("I couldn't find text or chat support based in Paisley (Renfrewshire), sorry.")
    assert [s["id"] for s in dispatcher.messages[0]["custom"]["services"]] == ["national-text"]
    with session_scope(sample_directory) as session:
        [need] = session.scalars(select(UnmetNeed)).all()
    assert (need.area_code, need.format, need.audience) == ("S12000038", "text", "mothers")


def test_more_shows_only_new_services_then_says_when_there_are_none(dispatcher, sample_directory):
    slots = dict(role="mum", stage="postnatal", location="Fife")
    [shown] = ActionSuggestServices().run(dispatcher, tracker(**slots), DOMAIN)
    first_seen = shown["value"][:1]  # as if only the first had been shown
    more_dispatcher = CollectingDispatcher()
    [more] = ActionMoreOptions().run(more_dispatcher, tracker(**slots, shown_service_ids=first_seen), DOMAIN)
    new_ids = [s["id"] for s in more_dispatcher.messages[0]["custom"]["services"]]
    assert new_ids and not set(new_ids) & set(first_seen)
    assert more_dispatcher.messages[0]["text"].startswith("Here are some more:")
    last = CollectingDispatcher()
    ActionMoreOptions().run(last, tracker(**slots, shown_service_ids=more["value"]), DOMAIN)
    assert last.messages[0]["text"].startswith("I've shown you everything I have for that.")


def test_database_down_gives_a_kind_reply_not_silence(dispatcher, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:nothing@127.0.0.1:9/none?connect_timeout=1")
    events = ActionSuggestServices().run(dispatcher, tracker(role="mum", stage="postnatal", location="Fife"), DOMAIN)
    assert responses(dispatcher) == ["utter_service_unavailable"] and events == []
    assert "0800 83 85 87" in DOMAIN["responses"]["utter_service_unavailable"][0]["text"]


def _said(tracker_, text):
    """The tracker as it is when `text` arrives: its entities as the entity component reads them."""
    tracker_.latest_message["text"] = text
    tracker_.latest_message["entities"] = extract(text)
    return tracker_


def _updates(dispatcher, text, **slots):
    return {e["name"]: e["value"] for e in ActionUpdateSearch().run(dispatcher, _said(tracker(**slots), text), DOMAIN)}


def test_asking_for_a_different_format_or_area_clears_only_that(dispatcher):
    assert _updates(dispatcher, "a different kind of support please", format="group", location="Fife") == \
        {"format": None, "shown_service_ids": None}
    assert _updates(dispatcher, "can you look somewhere else", format="group", location="Fife") == \
        {"location": None, "council_code": None, "board_code": None, "area_label": None, "shown_service_ids": None}


def test_the_buttons_ask_for_the_same_changes_as_typed_words(dispatcher):
    """ "A different format" / "A different area" after suggestions send find_support with a `change` entity."""
    buttons = {b["title"]: b["payload"] for b in DOMAIN["responses"]["utter_after_suggestions"][0]["buttons"]}
    for title, cleared in (("A different format", "format"), ("A different area", "location")):
        intent, entities = buttons[title].replace("{{", "{").replace("}}", "}").split("{", 1)
        asked = tracker(format="group", location="Fife")
        asked.latest_message["entities"] = [{"entity": k, "value": v} for k, v in json.loads("{" + entities).items()]
        assert intent == "/find_support"
        events = {e["name"]: e["value"] for e in ActionUpdateSearch().run(dispatcher, asked, DOMAIN)}
        assert events[cleared] is None


def test_a_change_that_names_the_new_value_keeps_it(dispatcher):
    """ "Could I do online instead?", "what about somewhere else, like Perth": the value just named is kept
    (the slot mapping sets it and the form validates it), not asked again."""
    assert _updates(dispatcher, "could I do online instead?", format="group") == {"shown_service_ids": None}
    assert _updates(dispatcher, "try somewhere else, Perth maybe", location="Fife") == {"shown_service_ids": None}


def test_a_first_request_clears_nothing_it_did_not_have(dispatcher):
    assert _updates(dispatcher, "something other than a group in Fife") == {"shown_service_ids": None}
    assert _updates(dispatcher, "somewhere else please") == {"shown_service_ids": None}


def test_refusing_the_chosen_format_means_any_other_format_not_a_new_question(dispatcher):
    assert _updates(dispatcher, "actually no groups", format="group") == {"shown_service_ids": None, "format": "any"}
    # refusing a format that wasn't chosen leaves the choice alone ("phone, and no groups")
    assert _updates(dispatcher, "no groups", format="phone") == {"shown_service_ids": None}


def test_restart_keeps_the_crisis_record(dispatcher):
    cleared = {e["name"] for e in ActionRestartSupport().run(dispatcher, tracker(), DOMAIN)}
    assert "crisis_category" not in cleared and {"role", "stage", "location", "format", "needs"} <= cleared


@pytest.mark.parametrize("typed,expected", [
    ("Kirkcaldy", {"council_code": "S12000047", "board_code": "S08000029"}),
    ("the Borders", {"board_code": "S08000016"}),
    ("PA2 0AA", {"council_code": "S12000038"}),
])
def test_a_place_in_scotland_is_resolved_to_codes(dispatcher, typed, expected):
    result = ValidateSupportForm().validate_location(typed, dispatcher, tracker(), DOMAIN)
    assert result["location"] == typed
    assert {k: result[k] for k in expected} == expected
    assert dispatcher.messages == []


def test_an_unknown_place_gets_a_kind_answer_and_is_asked_again(dispatcher):
    asked = tracker(requested_slot="location")
    result = ValidateSupportForm().validate_location("Narnia", dispatcher, asked, DOMAIN)
    assert result == {"location": None, "unclear_answers": {"location": 1}, "reask": "location"}
    assert dispatcher.messages[0]["text"]
    again = ValidateSupportForm().validate_location("Narnia", CollectingDispatcher(),
                                                    tracker(requested_slot="location",
                                                            unclear_answers={"location": 1}), DOMAIN)
    assert again["location"] == "unknown"  # carry on with services for all of Scotland; never a third time


def test_a_stray_unreadable_value_for_a_question_not_asked_is_ignored_quietly(dispatcher):
    result = ValidateSupportForm().validate_stage("Glasgow", dispatcher, tracker(requested_slot="location"), DOMAIN)
    assert result == {"stage": None} and dispatcher.messages == []


def test_a_place_outside_scotland_carries_on_with_uk_wide_services(dispatcher):
    result = ValidateSupportForm().validate_location("SW1A 1AA", dispatcher, tracker(), DOMAIN)
    assert result["location"] == "outside_scotland" and result["council_code"] is None
    assert "Scotland" in dispatcher.messages[0]["text"]


# --- call-back consent after a crisis ---------------------------------------------------------

def _crisis_conversation(url, sender: str, number: str | None) -> None:
    from bot.escalation import Detection, record
    from bot.models import ChannelContact, ClinicalContact
    with session_scope(url) as session:
        session.add(ClinicalContact(name="On call", role="Clinician", channel="webhook",
                                    address="http://127.0.0.1:9/hook", hours="24/7"))
        if number:
            session.add(ChannelContact(conversation_id=sender, channel="twilio", address=number))
        session.flush()
        record(session, Detection(sender, "twilio" if number else "rest", "suicide_self_harm", "I want to die"))


def sender_tracker(sender: str, message_id: str | None = None) -> Tracker:
    t = tracker()
    t.sender_id = sender
    t.latest_message = {**t.latest_message, "message_id": message_id}
    return t


SMS_USER = "twilio:" + "a1" * 32
SID = "SM" + "0" * 32


def received_by_twilio(url, sender: str, sid: str = SID, minutes_ago: int = 0) -> None:
    """What the Twilio channel writes when a signed webhook arrives, before the turn starts."""
    from datetime import datetime, timedelta

    from bot.models import TwilioInbound
    with session_scope(url) as session:
        session.add(TwilioInbound(message_sid=sid, conversation_id=sender, kind="sms",
                                  received_at=datetime.utcnow() - timedelta(minutes=minutes_ago)))


def test_callback_is_offered_only_where_there_is_a_number(dispatcher, database_url):
    from actions.escalation import ActionOfferCallback
    _crisis_conversation(database_url, SMS_USER, "+447700900123")
    received_by_twilio(database_url, SMS_USER)
    ActionOfferCallback().run(dispatcher, sender_tracker(SMS_USER, SID), DOMAIN)
    assert responses(dispatcher) == ["utter_ask_callback"]
    web = CollectingDispatcher()
    ActionOfferCallback().run(web, sender_tracker("web-user"), DOMAIN)
    assert web.messages == []


@pytest.mark.parametrize("how", ["no message id", "another conversation's message", "an old message",
                                 "a message never received"])
def test_a_forged_action_call_learns_nothing_and_grants_nothing(dispatcher, database_url, how):
    """Only a message the Twilio channel itself received for this conversation, recently, counts."""
    from actions.escalation import ActionCallbackConsent, ActionOfferCallback
    from bot.models import Alert
    _crisis_conversation(database_url, SMS_USER, "+447700900123")
    if how == "another conversation's message":
        received_by_twilio(database_url, "twilio:" + "b2" * 32)
    elif how == "an old message":
        received_by_twilio(database_url, SMS_USER, minutes_ago=120)
    forged = sender_tracker(SMS_USER, None if how == "no message id" else SID)
    ActionOfferCallback().run(dispatcher, forged, DOMAIN)
    assert dispatcher.messages == []
    ActionCallbackConsent().run(dispatcher, forged, DOMAIN)
    assert responses(dispatcher) == ["utter_callback_unavailable"]
    with session_scope(database_url) as session:
        assert [a.reason for a in session.scalars(select(Alert))] == ["new"]  # no call-back alert queued


def test_consent_shares_the_number_and_queues_a_callback_alert(dispatcher, database_url):
    from actions.escalation import ActionCallbackConsent
    from bot.models import Alert, Escalation
    _crisis_conversation(database_url, SMS_USER, "+447700900123")
    received_by_twilio(database_url, SMS_USER)
    ActionCallbackConsent().run(dispatcher, sender_tracker(SMS_USER, SID), DOMAIN)
    assert responses(dispatcher) == ["utter_callback_confirmed"]
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation.callback_number)).all() == ["+447700900123"]
        assert [a.reason for a in session.scalars(select(Alert).order_by(Alert.id))] == ["new", "callback"]


def test_consent_without_a_number_says_so_kindly(dispatcher, database_url):
    from actions.escalation import ActionCallbackConsent
    _crisis_conversation(database_url, "web-user", None)
    ActionCallbackConsent().run(dispatcher, sender_tracker("web-user", "web-message-1"), DOMAIN)
    assert responses(dispatcher) == ["utter_callback_unavailable"]


# --- two-stage fallback ------------------------------------------------------------------------

def _asked_affirmation(dispatcher, text: str, runner_up: str) -> dict:
    """What the did-you-mean question says when DIET's best guess after nlu_fallback is `runner_up`."""
    from actions.fallback import ActionDefaultAskAffirmation
    t = tracker()
    t.latest_message = {"text": text, "intent": {"name": "nlu_fallback"},
                        "intent_ranking": [{"name": "nlu_fallback"}, {"name": runner_up}]}
    ActionDefaultAskAffirmation().run(dispatcher, t, DOMAIN)
    [message] = dispatcher.messages
    return message


def test_unclear_message_asks_in_plain_words_with_yes_and_no(dispatcher):
    message = _asked_affirmation(dispatcher, "grp??", "find_support")
    assert message["text"] == "Sorry, I'm not sure I understood. Did you want to find peer support?"
    assert [b["payload"] for b in message["buttons"]] == ["/find_support", "/out_of_scope"]
    assert "_" not in message["text"], "no intent names shown to people"


def test_an_unclear_faq_question_offers_the_faq_intent_as_its_yes(dispatcher):
    """A bare "/faq" is answered with the general FAQ answer (bot/nlu/payloads.py, tests/test_payloads.py)."""
    message = _asked_affirmation(dispatcher, "hw mch?", "faq")
    assert [b["payload"] for b in message["buttons"]] == ["/faq", "/out_of_scope"]
