"""Evaluation built in: the feedback question, follow-up consent and texts, anonymised events."""
from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions.privacy import (ActionCloseConversation, ActionEraseMyData, ActionRecordFeedback,
                             ActionRecordFollowUpConsent, ActionRecordFollowUpOutcome)
from actions.support import ActionSuggestServices
from bot.channels.twilio.store import pending_menu
from bot.db import session_scope
from bot.escalation import Detection, record
from bot.evaluation import pseudonym
from bot.evaluation.follow_up import schedule, send_due
from bot.models import (ChannelContact, ErasureRequest, EvaluationEvent, FollowUp, PseudonymKey, TwilioDelivery,
                        TwilioOptOut)
from bot.privacy import conversation_id
from tests.twilio_emulator import ACCOUNT_SID, AUTH_TOKEN, TwilioEmulator

DOMAIN = yaml.safe_load((Path(__file__).parent.parent / "domain.yml").read_text(encoding="utf-8"))
SMS_PERSON = conversation_id("+447700900456")


def tracker(sender="web:person", intent="thanks", entities=(), events=(), **slots) -> Tracker:
    return Tracker(sender_id=sender, slots=slots, latest_message={"text": "", "intent": {"name": intent},
                                                                  "entities": list(entities)},
                   events=list(events), paused=False, followup_action=None, active_loop={},
                   latest_action_name=None)


def said(dispatcher) -> list[str]:
    return [m["response"] for m in dispatcher.messages]


def events(kind: str) -> list[EvaluationEvent]:
    with session_scope() as session:
        return session.scalars(select(EvaluationEvent).where(EvaluationEvent.kind == kind)).all()


CRISIS_TURN = {"event": "user", "text": "...", "parse_data": {"intent": {"name": "crisis_suicide_self_harm"}}}


@pytest.mark.parametrize("slots, turns, intent, expected", [
    ({"shown_service_ids": ["a"]}, [], "thanks", "utter_ask_feedback"),  # the natural end of a search
    ({}, [], "thanks", "utter_thanks"),  # nothing was searched: nothing to rate
    ({}, [], "goodbye", "utter_goodbye"),
    ({"shown_service_ids": ["a"]}, [CRISIS_TURN], "goodbye", "utter_goodbye"),  # never after a crisis
    ({"shown_service_ids": ["a"]}, [{"event": "bot", "metadata": {"utter_action": "utter_ask_feedback"}}],
     "goodbye", "utter_goodbye"),  # asked once only
    # The action server is sent only the recent turns (bot/rasa_speed.py): older facts come from slots.
    ({"shown_service_ids": ["a"], "crisis_met": True}, [], "thanks", "utter_thanks"),
    ({"shown_service_ids": ["a"], "questions_asked": ["utter_ask_feedback"]}, [], "goodbye", "utter_goodbye"),
])
def test_the_feedback_question_comes_only_at_the_natural_end(database_url, slots, turns, intent, expected):
    dispatcher = CollectingDispatcher()
    ActionCloseConversation().run(dispatcher, tracker(intent=intent, events=turns, **slots), DOMAIN)
    assert said(dispatcher) == [expected]


def test_a_question_asked_is_noted_for_the_rest_of_the_conversation(database_url):
    dispatcher = CollectingDispatcher()
    events_ = ActionCloseConversation().run(dispatcher, tracker(shown_service_ids=["a"],
                                                                questions_asked=["utter_other"]), DOMAIN)
    assert said(dispatcher) == ["utter_ask_feedback"]
    assert events_ == [{"event": "slot", "timestamp": None, "name": "questions_asked",
                        "value": ["utter_other", "utter_ask_feedback"]}]


def test_feedback_is_counted_without_words_and_no_asks_why(database_url):
    dispatcher = CollectingDispatcher()
    ActionRecordFeedback().run(dispatcher, tracker(intent="feedback", entities=[{"entity": "helpful",
                                                                                  "value": "no"}]), DOMAIN)
    assert said(dispatcher) == ["utter_ask_feedback_reason"]
    dispatcher = CollectingDispatcher()
    ActionRecordFeedback().run(dispatcher, tracker(intent="feedback_reason",
                                                   entities=[{"entity": "reason", "value": "nothing_near"}]), DOMAIN)
    assert said(dispatcher) == ["utter_feedback_thanks"]  # the web: no follow-up text to offer
    assert sorted(e.outcome for e in events("feedback")) == ["no", "reason:nothing_near"]
    assert all(e.person.startswith(f"{date.today():%Y-%m}:") and "web" not in e.person for e in events("feedback"))


def test_on_sms_a_follow_up_is_offered_and_a_yes_schedules_it(database_url):
    dispatcher = CollectingDispatcher()
    ActionRecordFeedback().run(dispatcher, tracker(SMS_PERSON, "feedback", [{"entity": "helpful", "value": "yes"}]),
                               DOMAIN)
    assert said(dispatcher) == ["utter_ask_follow_up"]
    dispatcher = CollectingDispatcher()
    ActionRecordFollowUpConsent().run(dispatcher, tracker(SMS_PERSON, "follow_up_consent",
                                                          [{"entity": "consent", "value": "yes"}]), DOMAIN)
    assert said(dispatcher) == ["utter_follow_up_agreed"]
    with session_scope() as session:
        row = session.get(FollowUp, SMS_PERSON)
        assert row.status == "scheduled" and timedelta(days=13) < row.due_at - row.agreed_at < timedelta(days=15)


@pytest.mark.parametrize("turns, slots", [([CRISIS_TURN], {}), ([], {"crisis_met": True})])
def test_no_follow_up_after_a_crisis(database_url, turns, slots):
    dispatcher = CollectingDispatcher()
    ActionRecordFollowUpConsent().run(dispatcher, tracker(SMS_PERSON, "follow_up_consent",
                                                          [{"entity": "consent", "value": "yes"}],
                                                          events=turns, **slots), DOMAIN)
    with session_scope() as session:
        assert session.get(FollowUp, SMS_PERSON) is None


def test_a_search_is_counted_with_what_was_offered_and_the_unmet_need(sample_directory):
    ActionSuggestServices().run(CollectingDispatcher(), tracker(role="mum", stage="postnatal", location="Paisley",
                                                                format="text"), DOMAIN)
    [request], [suggestion], [unmet] = events("request"), events("suggestion"), events("unmet_need")
    assert (request.board_code, request.format, request.audience) == ("S08000031", "text", "mothers")
    assert suggestion.service_ids and unmet.area_code == "S12000038"


def test_the_pseudonym_key_rotates_monthly_and_old_keys_are_deleted(database_url):
    with session_scope() as session:
        november = pseudonym(session, "web:x", date(2026, 11, 30))
        assert pseudonym(session, "web:x", date(2026, 11, 2)) == november  # stable within the month
        december = pseudonym(session, "web:x", date(2026, 12, 1))
        assert december != november and december.startswith("2026-12:")
        assert [k.period for k in session.scalars(select(PseudonymKey))] == ["2026-12"]


def test_the_erasure_action_only_records_the_request(database_url):
    dispatcher = CollectingDispatcher()
    assert ActionEraseMyData().run(dispatcher, tracker("web:person", "affirm"), DOMAIN) == []
    assert dispatcher.messages == []  # the guard confirms, after erasing
    with session_scope() as session:
        assert session.get(ErasureRequest, "web:person").status == "pending"


def test_the_follow_up_answer_is_counted(database_url):
    schedule(SMS_PERSON, "twilio", datetime.utcnow(), datetime.utcnow())
    dispatcher = CollectingDispatcher()
    ActionRecordFollowUpOutcome().run(dispatcher, tracker(SMS_PERSON, "follow_up_outcome",
                                                          [{"entity": "outcome", "value": "not_yet"}]), DOMAIN)
    assert said(dispatcher) == ["utter_follow_up_thanks"] and events("follow_up")[0].outcome == "not_yet"
    with session_scope() as session:
        assert session.get(FollowUp, SMS_PERSON).status == "answered"


# --- the follow-up text, sent by the worker through the real Twilio client to a local emulator --------

@pytest.fixture
def twilio(monkeypatch):
    with TwilioEmulator() as emulator:
        for name, value in (("TWILIO_API_BASE_URL", emulator.base_url), ("TWILIO_ACCOUNT_SID", ACCOUNT_SID),
                            ("TWILIO_AUTH_TOKEN", AUTH_TOKEN), ("TWILIO_SMS_NUMBER", "+447700900001"),
                            ("TWILIO_WHATSAPP_NUMBER", "whatsapp:+447700900002")):
            monkeypatch.setenv(name, value)
        yield emulator


def _agreed(conversation: str, address: str, last_inbound: datetime) -> None:
    now = datetime.utcnow()
    schedule(conversation, "twilio", now - timedelta(days=15), now - timedelta(minutes=1))
    with session_scope() as session:
        session.add(ChannelContact(conversation_id=conversation, channel="twilio", address=address,
                                   last_inbound_at=last_inbound))


def test_a_due_follow_up_is_texted_with_a_numbered_menu(database_url, twilio):
    _agreed(SMS_PERSON, "+447700900456", datetime.utcnow() - timedelta(days=15))
    assert send_due() == {"sent": 1, "cancelled": 0, "not_sent": 0}
    [message] = twilio.wait_for_messages(1)
    assert message.to == "+447700900456" and "Did you get in touch with any of the services?" in message.body
    assert "Reply 1 for yes, it helped" in message.body
    menu = pending_menu(SMS_PERSON, datetime.utcnow() + timedelta(days=3))  # answered days later, still a menu
    assert menu[0].payload == '/follow_up_outcome{"outcome":"contacted_helped"}'
    with session_scope() as session:
        assert session.get(FollowUp, SMS_PERSON).status == "sent"
        assert session.scalar(select(func.count()).select_from(TwilioDelivery)) == 1
    assert send_due() == {"sent": 0, "cancelled": 0, "not_sent": 0}  # once


def test_no_follow_up_after_stop_or_a_later_crisis_or_outside_whatsapps_window(database_url, twilio):
    stopped, crisis = conversation_id("+447700900457"), conversation_id("+447700900458")
    whatsapp = conversation_id("whatsapp:+447700900459")
    for person, address in ((stopped, "+447700900457"), (crisis, "+447700900458"),
                            (whatsapp, "whatsapp:+447700900459")):
        _agreed(person, address, datetime.utcnow() - timedelta(days=15))
    with session_scope() as session:
        session.add(TwilioOptOut(conversation_id=stopped, keyword="STOP"))
        record(session, Detection(crisis, "twilio", "suicide_self_harm", "..."))
    assert send_due() == {"sent": 0, "cancelled": 2, "not_sent": 1}
    assert twilio.messages == []
    assert os.environ.get("TWILIO_WHATSAPP_FOLLOW_UP_TEMPLATE_SID") is None
