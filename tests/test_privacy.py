"""Data protection: erasure that really removes the words, retention, access requests, the notice."""
from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.db import session_scope
from bot.escalation import Detection, record
from bot.models import (Alert, ChannelContact, ClinicalContact, ErasureRequest, Escalation, EvaluationEvent,
                        FollowUp, PrivacyNotice, RiskReview, TwilioDelivery, TwilioInbound, TwilioMenu, TwilioOptOut)
from bot.privacy import conversation_id, erasure, retention, turns
from bot.privacy.__main__ import main as cli
from bot.privacy.access import held_about

WORDS = "zebra lighthouse marmalade"  # stands for what a person wrote: unique, so a byte search is exact
NUMBER = "+447700900123"
PERSON = conversation_id(NUMBER)


@pytest.fixture
def stores(database_url, tmp_path, monkeypatch):
    """Our database and a real Rasa SQL tracker store, both SQLite files in tmp_path."""
    tracker_url = f"sqlite:///{tmp_path / 'tracker.db'}"
    monkeypatch.setenv("TRACKER_STORE_URL", tracker_url)
    monkeypatch.setenv("ESCALATION_JOURNAL", str(tmp_path / "journal.jsonl"))
    with session_scope() as session:
        session.add(ClinicalContact(name="Duty", role="Clinician", channel="email", address="duty@example.org"))
    return tmp_path


def save_conversation(sender: str, words: str = WORDS, when: datetime | None = None) -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa_stores import TrackerStoreFromEnv
    stamp = (when or datetime.utcnow()).timestamp()
    store = TrackerStoreFromEnv(domain=Domain.empty())
    tracker = DialogueStateTracker.from_events(sender, [
        UserUttered(f"I feel awful, {words}, call me on {NUMBER}", timestamp=stamp),
        BotUttered("I'm sorry you're going through this.", timestamp=stamp)])
    asyncio.run(store.save(tracker))


def seed_person(sender: str = PERSON, when: datetime | None = None, alert_status: str = "delivered") -> None:
    when = when or datetime.utcnow()
    save_conversation(sender, when=when)
    with session_scope() as session:
        escalation = record(session, Detection(sender, "twilio", "suicide_self_harm", f"I want to die, {WORDS}"),
                            now=when)
        escalation.callback_consent, escalation.callback_number = True, NUMBER
        for alert in escalation.alerts:
            alert.status = alert_status
        session.add_all([
            RiskReview(conversation_id=sender, channel="twilio", kind="possible_suicide_self_harm",
                       detected_at=when, message=f"what's the point, {WORDS}"),
            ChannelContact(conversation_id=sender, channel="twilio", address=NUMBER, last_inbound_at=when),
            TwilioInbound(message_sid="SM" + sender[-8:], conversation_id=sender, kind="sms", received_at=when,
                          status="answered"),
            TwilioMenu(conversation_id=sender, options_json="[]", sent_at=when),
            TwilioDelivery(conversation_id=sender, kind="sms", created_at=when, updated_at=when),
            TwilioOptOut(conversation_id=sender, keyword="STOP", opted_out_at=when),
            PrivacyNotice(conversation_id=sender, sent_at=when),
            FollowUp(conversation_id=sender, channel="twilio", agreed_at=when, due_at=when + timedelta(days=14))])


def readable_anywhere(directory: Path, *needles: str) -> list[str]:
    """Every file (databases, write-ahead logs, journals, logs) in which any needle can be read."""
    found = []
    for path in directory.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path.name}: {n}" for n in needles if n.encode() in data]
    return found


def test_erasure_removes_the_words_and_the_number_from_every_file(stores):
    seed_person()
    seed_person("twilio:" + "b" * 64)  # someone else, who must be untouched
    assert readable_anywhere(stores, "zebra", NUMBER)  # the search can see them before
    result = erasure.erase(PERSON, "twilio")
    assert not result.waiting and result.removed["tracker events"] >= 2
    with session_scope() as session:
        for table in (ChannelContact, TwilioInbound, TwilioMenu, TwilioDelivery, PrivacyNotice, FollowUp):
            assert session.scalar(select(func.count()).select_from(table).where(
                table.conversation_id == PERSON)) == 0, table.__tablename__
        kept = session.scalars(select(Escalation).where(Escalation.message == erasure.ERASED)).one()
        assert kept.category == "suicide_self_harm" and kept.conversation_id.startswith("erased:")
        assert kept.callback_number is None and kept.language is None
        assert all(a.body == erasure.ERASED for a in kept.alerts)
        assert session.get(TwilioOptOut, PERSON) is not None  # a STOP is honoured, not forgotten
        assert session.scalar(select(func.count()).select_from(EvaluationEvent).where(
            EvaluationEvent.kind == "erasure")) == 1
        other = session.scalars(select(Escalation).where(Escalation.conversation_id != kept.conversation_id)).one()
        assert WORDS in other.message
    # The other person's words are still there, so "zebra" is found once per store; the erased person's
    # phone number went with every row that held it (the other person's rows hold the same test number).
    leftovers = held_about(PERSON)
    assert leftovers["conversation"] == [] and leftovers["escalations"] == []
    assert leftovers["phone_number"] == [] and leftovers["risk_reviews"] == []


def test_nothing_of_an_erased_person_can_be_read_back_from_any_file(stores):
    seed_person()
    assert {f.split(": ")[1] for f in readable_anywhere(stores, "zebra", NUMBER)} == {"zebra", NUMBER}
    erasure.erase(PERSON, "twilio")
    assert readable_anywhere(stores, "zebra", "lighthouse", "marmalade", NUMBER, "447700900123") == []


def test_an_alert_still_on_its_way_is_delivered_first_then_erased(stores):
    seed_person(alert_status="pending")
    first = erasure.erase(PERSON, "twilio")
    assert first.waiting
    with session_scope() as session:
        escalation = session.scalars(select(Escalation)).one()
        assert WORDS in escalation.message and escalation.callback_number == NUMBER  # still needed
        assert session.get(ErasureRequest, PERSON).status == "waiting"
        assert session.get(ChannelContact, PERSON) is None  # everything else is gone already
    assert erasure.finish_waiting() == 0  # still pending: nothing more happens
    with session_scope() as session:
        for alert in session.scalars(select(Alert)):
            alert.status = "delivered"
    assert erasure.finish_waiting() == 1
    with session_scope() as session:
        assert session.scalars(select(Escalation)).one().message == erasure.ERASED
        assert session.get(ErasureRequest, PERSON) is None
    assert readable_anywhere(stores, "zebra", NUMBER) == []


def test_a_detection_still_in_the_journal_is_recorded_before_it_is_erased(stores):
    from bot.escalation import journal
    from bot.escalation.__main__ import replay_journal
    journal.append(Detection(PERSON, "twilio", "suicide_self_harm", f"journalled {WORDS}"), datetime.utcnow())
    assert erasure.erase(PERSON, "twilio").waiting
    assert replay_journal() == 1  # the worker records it (and queues its alert) ...
    with session_scope() as session:
        for alert in session.scalars(select(Alert)):
            alert.status = "delivered"  # ... and delivers it
    assert erasure.finish_waiting() == 1
    assert readable_anywhere(stores, "zebra", "journalled") == []


def test_retention_purge_keeps_the_audit_and_drops_the_words(stores):
    old = datetime.utcnow() - timedelta(days=120)
    seed_person(when=old)
    seed_person("twilio:" + "c" * 64)  # recent: untouched
    counts = retention.purge()
    assert counts["tracker events"] == 2 and counts["escalations"] == 1 and counts["channel_contact"] == 1
    with session_scope() as session:
        expired = session.scalars(select(Escalation).where(Escalation.detected_at < old + timedelta(days=1))).one()
        assert (expired.message, expired.callback_number, expired.language) == (retention.EXPIRED, None, None)
        assert expired.category == "suicide_self_harm" and expired.detected_at == old  # the audit stays
        assert expired.alerts[0].status == "delivered" and expired.alerts[0].body == retention.EXPIRED
        assert session.get(ChannelContact, "twilio:" + "c" * 64) is not None
        assert session.get(TwilioOptOut, PERSON) is not None  # kept two years
    assert held_about(PERSON)["conversation"] == []
    assert held_about("twilio:" + "c" * 64)["conversation"]


def test_retention_never_touches_an_alert_still_pending(stores):
    seed_person(when=datetime.utcnow() - timedelta(days=120), alert_status="pending")
    assert retention.purge()["escalations"] == 0
    with session_scope() as session:
        assert WORDS in session.scalars(select(Escalation)).one().message


def test_access_request_by_number_prints_everything_held(stores, capsys):
    seed_person()
    assert cli(["export", "--number", NUMBER]) == 0
    held = json.loads(capsys.readouterr().out)
    assert held["conversation_id"] == PERSON
    assert any(WORDS in (e.get("text") or "") for e in held["conversation"])
    assert held["phone_number"][0]["address"] == NUMBER
    assert held["escalations"][0]["callback_number"] == NUMBER and held["escalations"][0]["alerts"]


def test_cli_erase_and_purge(stores, capsys):
    seed_person(when=datetime.utcnow() - timedelta(days=20))
    assert cli(["purge", "--older-than", "30d"]) == 0
    assert "nothing was old enough" in capsys.readouterr().out
    assert cli(["purge", "--older-than", "2w"]) == 0
    assert "tracker events 2" in capsys.readouterr().out
    assert cli(["erase", "--conversation", PERSON]) == 0
    assert "Erased:" in capsys.readouterr().out
    with pytest.raises(ValueError):
        retention.parse_age("0d")


def test_the_notice_is_sent_once_and_records_the_conversation(stores, monkeypatch):
    monkeypatch.setenv("PRIVACY_NOTICE_URL", "https://example.org/privacy")
    monkeypatch.setenv("RETENTION_DAYS", "60")
    first, erased = turns.after_turn("web:abc", "socketio")
    assert not erased and first == ['Privacy: I keep this chat 60 days to run the service, then delete it. Say '
                                    '"delete my data" any time to erase it now. More: https://example.org/privacy']
    assert turns.after_turn("web:abc", "socketio") == ([], False)
    from bot.channels.sms import segments
    assert segments(first[0]).count == 1  # one SMS
    monkeypatch.delenv("PRIVACY_NOTICE_URL")
    assert "More:" not in turns.notice_text()


def test_a_pending_request_is_carried_out_after_the_turn_and_confirmed(stores):
    seed_person()
    erasure.request(PERSON, "twilio")
    replies, erased = turns.after_turn(PERSON, "twilio")
    assert erased and replies[0].startswith("Done: I've deleted this conversation")
    assert held_about(PERSON)["conversation"] == []


# --- around every turn: the channel guard ---------------------------------------------------------

def run_turn(text: str, sender: str, replies: list[str]) -> tuple[list[str], list[str]]:
    """A turn through the guard, with a stand-in for Rasa that says `replies`. Returns (sent, what Rasa saw)."""
    from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

    from bot.channels.guard import never_silent
    seen: list[str] = []

    async def rasa(message):
        seen.append(message.text)
        for reply in replies:
            await message.output_channel.send_text_message(message.sender_id, reply)

    out = CollectingOutputChannel()
    asyncio.run(never_silent(rasa)(UserMessage(text, out, sender, input_channel="rest")))
    return [m["text"] for m in out.messages], seen


def test_a_first_message_that_is_a_crisis_gets_the_crisis_answer_first_then_the_notice(stores):
    sent, _ = run_turn("I want to end it all", "rest-person", ["CRISIS ANSWER", "CRISIS FOLLOW-UP"])
    assert sent[:2] == ["CRISIS ANSWER", "CRISIS FOLLOW-UP"] and sent[2].startswith("Privacy:")
    sent, _ = run_turn("hello", "rest-person", ["Hi"])
    assert sent == ["Hi"]  # once


def test_the_confirmation_button_erases_without_a_rasa_turn(stores):
    save_conversation("rest-person")
    sent, seen = run_turn(erasure.CONFIRM_PAYLOAD, "rest-person", ["should not be said"])
    assert seen == [] and sent == ["Done: I've deleted this conversation and everything I held about you. If you "
                                   "message again, it starts afresh."]
    assert held_about("rest-person")["conversation"] == []


def test_a_typed_yes_is_erased_after_the_turn_with_no_fallback_and_no_notice(stores):
    save_conversation("rest-person")
    erasure.request("rest-person", "rest")  # what action_erase_my_data does during the turn
    sent, seen = run_turn("yes", "rest-person", [])  # the action says nothing itself
    assert seen == ["yes"] and len(sent) == 1 and sent[0].startswith("Done:")
    with session_scope() as session:
        assert session.get(PrivacyNotice, "rest-person") is None
