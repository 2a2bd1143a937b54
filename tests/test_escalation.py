"""Crisis escalation: routing, episodes, the durable outbox, call-back consent, the Rasa broker."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot.db import session_scope
from bot.escalation import (EPISODE, MAX_ATTEMPTS, Detection, contacts_for, deliver_due, grant_callback, on_duty,
                            record)
from bot.escalation.__main__ import main as cli
from bot.escalation.broker import EscalationEventBroker
from bot.models import Alert, ChannelContact, ClinicalContact, Escalation, RiskReview

FIFE = "S08000029"
WED_10AM = datetime(2026, 11, 25, 10, 0)  # UK winter time = UTC
SAT_10AM = datetime(2026, 11, 28, 10, 0)


@pytest.fixture
def contacts(database_url):
    with session_scope(database_url) as session:
        session.add_all([
            ClinicalContact(name="Fife PMHT duty", role="Perinatal team", board_code=FIFE, channel="webhook",
                            address="http://fife.invalid/hook", hours="Mon-Fri 09:00-17:00"),
            ClinicalContact(name="National on-call", role="On-call clinician", board_code=None, channel="webhook",
                            address="http://national.invalid/hook", hours="24/7"),
        ])
    return database_url


def detection(category="suicide_self_harm", conversation="conv-1", board=FIFE, message="I want to end it"):
    return Detection(conversation_id=conversation, channel="rest", category=category, message=message,
                     board_code=board)


def alerts_of(session):
    return session.scalars(select(Alert).order_by(Alert.id)).all()


@pytest.mark.parametrize("hours,when,expected", [
    ("24/7", SAT_10AM, True),
    ("Mon-Fri 09:00-17:00", WED_10AM, True),
    ("Mon-Fri 09:00-17:00", SAT_10AM, False),
    ("Mon-Fri 09:00-17:00", datetime(2026, 11, 25, 17, 0), False),
    ("Sat 09:00-12:00, Mon-Fri 09:00-17:00", SAT_10AM, True),
    ("Mon-Fri 09:00-17:00", datetime(2026, 7, 1, 8, 30), True),  # 09:30 in British Summer Time
])
def test_on_duty_reads_hours_in_uk_time(hours, when, expected):
    assert on_duty(hours, when) is expected


def test_unreadable_hours_are_refused():
    with pytest.raises(ValueError):
        on_duty("weekdays", WED_10AM)


def test_alerts_go_to_the_board_in_hours_and_the_national_default_out_of_hours(contacts):
    with session_scope(contacts) as session:
        assert [c.name for c in contacts_for(session, FIFE, WED_10AM)] == ["Fife PMHT duty"]
        assert [c.name for c in contacts_for(session, FIFE, SAT_10AM)] == ["National on-call"]
        assert [c.name for c in contacts_for(session, None, WED_10AM)] == ["National on-call"]


def test_one_alert_per_episode_and_a_new_one_when_more_serious(contacts):
    with session_scope(contacts) as session:
        first = record(session, detection("abuse_danger"), WED_10AM)
        repeat = record(session, detection("abuse_danger", message="he's shouting again"), WED_10AM + timedelta(minutes=5))
        less = record(session, detection("sexual_violence"), WED_10AM + timedelta(minutes=6))
        worse = record(session, detection("suicide_self_harm"), WED_10AM + timedelta(minutes=10))
        later = record(session, detection("abuse_danger"), WED_10AM + EPISODE + timedelta(hours=1))
        assert [e.alerted for e in (first, repeat, less, worse, later)] == [True, False, False, True, True]
        assert [a.reason for a in alerts_of(session)] == ["new", "more_serious", "new"]
        assert session.scalar(select(Escalation).where(Escalation.id == repeat.id)).message == "he's shouting again"


def test_conversations_are_independent(contacts):
    with session_scope(contacts) as session:
        assert record(session, detection(conversation="a"), WED_10AM).alerted
        assert record(session, detection(conversation="b"), WED_10AM).alerted


def test_a_flood_of_detections_is_all_recorded_but_sends_one_summary_alert(contacts, monkeypatch):
    monkeypatch.setenv("ALERTS_PER_HOUR", "3")
    with session_scope(contacts) as session:
        for minute in range(8):
            record(session, detection(conversation=f"flood-{minute}"), WED_10AM + timedelta(minutes=minute))
        assert session.query(Escalation).count() == 8
        assert [a.reason for a in alerts_of(session)] == ["new", "new", "new", "flood"]
        assert "Alert limit reached" in alerts_of(session)[-1].body
        # An hour on, alerts flow again.
        record(session, detection(conversation="after"), WED_10AM + timedelta(minutes=70))
        assert alerts_of(session)[-1].reason == "new"


def test_call_backs_are_never_held_back_by_the_flood_brake(contacts, monkeypatch):
    monkeypatch.setenv("ALERTS_PER_HOUR", "1")
    with session_scope(contacts) as session:
        record(session, detection(conversation="a"), WED_10AM)
        record(session, detection(conversation="b"), WED_10AM)
        session.add(ChannelContact(conversation_id="b", channel="sms", address="+447700900461"))
        session.flush()
        assert grant_callback(session, "b", WED_10AM + timedelta(minutes=1)) is not None
        assert [a.reason for a in alerts_of(session)] == ["new", "flood", "callback"]


def test_with_no_contact_configured_the_alert_is_kept_as_failed_not_dropped(database_url, capsys):
    with session_scope(database_url) as session:
        record(session, detection(), WED_10AM)
        [alert] = alerts_of(session)
        assert (alert.status, alert.last_error) == ("failed", "no clinical contact configured")
    assert cli(["alerts", "--status", "failed"]) == 1
    assert "nobody configured" in capsys.readouterr().out


def test_outbox_retries_with_backoff_then_delivers(contacts):
    calls = []

    def flaky(contact, body):
        calls.append(body)
        if len(calls) < 3:
            raise ConnectionError("network down")

    with session_scope(contacts) as session:
        record(session, detection(), WED_10AM)
    assert deliver_due({"webhook": flaky}, WED_10AM) == {"delivered": 0, "retrying": 1, "failed": 0}
    with session_scope(contacts) as session:
        assert alerts_of(session)[0].next_attempt_at == WED_10AM + timedelta(seconds=15)
    assert deliver_due({"webhook": flaky}, WED_10AM + timedelta(seconds=5))["retrying"] == 0  # not due
    deliver_due({"webhook": flaky}, WED_10AM + timedelta(seconds=15))
    with session_scope(contacts) as session:
        assert alerts_of(session)[0].next_attempt_at == WED_10AM + timedelta(seconds=45)
    assert deliver_due({"webhook": flaky}, WED_10AM + timedelta(seconds=45))["delivered"] == 1
    with session_scope(contacts) as session:
        [alert] = alerts_of(session)
        assert (alert.status, alert.attempts, alert.last_error) == ("delivered", 3, None)
    assert "suicidal thoughts or self-harm" in calls[0] and "I want to end it" in calls[0]


def test_an_alert_that_never_gets_through_fails_visibly(contacts):
    failed = []

    def down(contact, body):
        raise TimeoutError("no answer")

    with session_scope(contacts) as session:
        record(session, detection(), WED_10AM)
    now = WED_10AM
    for _ in range(MAX_ATTEMPTS):
        deliver_due({"webhook": down}, now, on_failed=failed.append)
        now += timedelta(hours=1)
    with session_scope(contacts) as session:
        [alert] = alerts_of(session)
        assert (alert.status, alert.attempts) == ("failed", MAX_ATTEMPTS)
        assert "TimeoutError: no answer" in alert.last_error
    assert len(failed) == 1


def test_no_transaction_is_open_while_an_alert_is_sent(contacts):
    """A slow contact must not hold the database: the Rasa process records detections meanwhile."""
    with session_scope(contacts) as session:
        record(session, detection(conversation="first"), WED_10AM)
    recorded_meanwhile = []

    def slow(contact, body):
        import sqlite3
        path = contacts.removeprefix("sqlite:///")
        with sqlite3.connect(path, timeout=0.5) as other_writer:  # fails with "database is locked" if held
            other_writer.execute("insert into escalation (conversation_id, channel, category, detected_at, "
                                 "message, alerted, callback_consent) values ('second', 'rest', "
                                 "'suicide_self_harm', '2026-01-01', 'x', 0, 0)")
        recorded_meanwhile.append(contact.name)

    assert deliver_due({"webhook": slow}, WED_10AM)["delivered"] == 1
    assert recorded_meanwhile


def test_cli_refuses_bad_contacts(database_url):
    assert cli(["contacts", "add", "--name", "x", "--role", "r", "--channel", "sms", "--address", "+44",
                "--board", "S08999999"]) == 2
    with pytest.raises(ValueError):
        cli(["contacts", "add", "--name", "x", "--role", "r", "--channel", "sms", "--address", "+44",
             "--hours", "whenever"])


def test_callback_number_is_added_only_after_consent(contacts):
    with session_scope(contacts) as session:
        session.add(ChannelContact(conversation_id="conv-1", channel="twilio", address="whatsapp:+447700900123"))
        escalation = record(session, detection(), WED_10AM)
        assert escalation.callback_number is None and "No call-back consent" in alerts_of(session)[0].body
        granted = grant_callback(session, "conv-1", WED_10AM + timedelta(minutes=2))
        assert granted.callback_consent and granted.callback_number == "+447700900123"
        assert alerts_of(session)[-1].reason == "callback" and "+447700900123" in alerts_of(session)[-1].body
        assert grant_callback(session, "web-visitor") is None  # no number known: nothing to share


def user_event(sender, text, intent, entities=()):
    return {"sender_id": sender, "event": "user", "text": text, "input_channel": "rest",
            "parse_data": {"intent": {"name": intent, "confidence": 1.0}, "entities": list(entities)}}


def test_broker_records_a_crisis_with_the_area_the_conversation_gave(contacts):
    broker = EscalationEventBroker()
    broker.publish({"sender_id": "s1", "event": "slot", "name": "board_code", "value": FIFE})
    broker.publish(user_event("s1", "hello", "greet"))
    broker.publish(user_event("s1", "my husband hits me", "crisis_abuse_danger",
                              [{"entity": "crisis_category", "value": "abuse_danger"}]))
    broker.flush()
    with session_scope(contacts) as session:
        [escalation] = session.scalars(select(Escalation)).all()
        assert (escalation.category, escalation.board_code, escalation.channel) == ("abuse_danger", FIFE, "rest")
        assert escalation.alerts


def test_broker_takes_the_lexicon_category_over_the_intent(database_url):
    broker = EscalationEventBroker()
    broker.publish(user_event("s2", "text", "find_support", [{"entity": "crisis_category", "value": "psychosis"}]))
    broker.flush()
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation.category)).all() == ["psychosis"]


def test_with_the_database_down_detections_are_journalled_and_replayed(database_url, tmp_path, monkeypatch):
    monkeypatch.setenv("ESCALATION_JOURNAL", str(tmp_path / "journal.jsonl"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:9/none?connect_timeout=1")
    broker = EscalationEventBroker()
    broker.publish(user_event("s3", "I want to die", "crisis_suicide_self_harm"))
    broker.flush()
    assert "s3" in (tmp_path / "journal.jsonl").read_text()
    monkeypatch.setenv("DATABASE_URL", database_url)
    cli(["deliver"])
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation.conversation_id)).all() == ["s3"]
    assert not (tmp_path / "journal.jsonl").exists() or not (tmp_path / "journal.jsonl").read_text().strip()


def test_the_broker_replays_its_own_journal_once_the_database_is_back(database_url, tmp_path, monkeypatch):
    # In Kubernetes the journal is on the Rasa pod's disk, out of the alert worker's reach.
    from bot.escalation import broker as broker_module
    monkeypatch.setenv("ESCALATION_JOURNAL", str(tmp_path / "journal.jsonl"))
    monkeypatch.setenv("DATABASE_URL", "postgresql://nobody:x@127.0.0.1:9/none?connect_timeout=1")
    broker = EscalationEventBroker()
    broker.publish(user_event("s5", "I want to die", "crisis_suicide_self_harm"))
    broker.flush()
    assert "s5" in (tmp_path / "journal.jsonl").read_text()
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setattr(broker_module, "REPLAY_EVERY_SECONDS", 0)
    broker.publish(user_event("s6", "hello", "greet"))
    broker.flush()
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation.conversation_id)).all() == ["s5"]


def test_only_one_process_replays_the_journal_at_a_time(database_url, tmp_path, monkeypatch):
    import fcntl
    from bot.escalation import journal, replay_journal, utcnow
    monkeypatch.setenv("ESCALATION_JOURNAL", str(tmp_path / "journal.jsonl"))
    journal.append(Detection(conversation_id="s7", channel="rest", category="psychosis", message="x"), utcnow())
    with (tmp_path / "journal.lock").open("a") as other_process:
        fcntl.flock(other_process, fcntl.LOCK_EX)
        assert replay_journal() == 0
    assert replay_journal() == 1
    with session_scope(database_url) as session:
        assert session.scalars(select(Escalation.conversation_id)).all() == ["s7"]


def test_a_torn_journal_line_loses_no_other_detection(database_url, tmp_path, monkeypatch):
    from bot.escalation import journal
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("ESCALATION_JOURNAL", str(path))
    journal.append(detection(conversation="before"), WED_10AM)
    with path.open("a") as torn:
        torn.write('{"conversation_id": "torn", "chan')  # a crash mid-write
    journal.append(detection(conversation="after"), WED_10AM)
    cli(["deliver"])
    with session_scope(database_url) as session:
        assert sorted(session.scalars(select(Escalation.conversation_id))) == ["after", "before"]
    assert "torn" in path.with_suffix(".unreadable").read_text(), "kept for a person to look at"


def test_a_replay_left_unfinished_is_finished_not_overwritten(database_url, tmp_path, monkeypatch):
    from bot.escalation import journal
    path = tmp_path / "journal.jsonl"
    monkeypatch.setenv("ESCALATION_JOURNAL", str(path))
    journal.append(detection(conversation="interrupted"), WED_10AM)
    path.rename(path.with_suffix(".replaying"))  # a replay that crashed after claiming the journal
    journal.append(detection(conversation="newer"), WED_10AM)
    cli(["deliver"])
    cli(["deliver"])
    with session_scope(database_url) as session:
        assert sorted(session.scalars(select(Escalation.conversation_id))) == ["interrupted", "newer"]


def test_the_delivery_worker_outlives_a_database_fault(database_url, monkeypatch):
    from bot.escalation import __main__ as worker
    rounds = []

    def flaky_round(notifiers):
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise RuntimeError("database is down")
        if len(rounds) == 3:
            raise KeyboardInterrupt  # end the test's loop
        return {"delivered": 0, "retrying": 0, "failed": 0}

    monkeypatch.setattr(worker, "deliver_due", flaky_round)
    monkeypatch.setattr(worker.time, "sleep", lambda seconds: None)
    with pytest.raises(KeyboardInterrupt):
        cli(["deliver", "--loop"])
    assert rounds == [0, 1, 2], "a failed round was retried, not fatal"


def bot_event(sender, utter_action):
    return {"sender_id": sender, "event": "bot", "text": "…", "metadata": {"utter_action": utter_action}}


def test_a_crisis_answer_without_a_category_on_the_message_is_still_recorded(contacts):
    """A "yes" to the possible-risk question gets the crisis answer: that answer is an escalation."""
    broker = EscalationEventBroker()
    broker.publish(user_event("p1", "I just want to disappear", "possible_suicide_self_harm"))
    broker.publish(bot_event("p1", "utter_possible_suicide_self_harm"))
    broker.publish(user_event("p1", "yes", "affirm"))
    broker.publish(bot_event("p1", "utter_crisis_suicide_self_harm"))
    broker.publish(bot_event("p1", "utter_crisis_followup"))
    broker.flush()
    with session_scope(contacts) as session:
        [escalation] = session.scalars(select(Escalation)).all()
        assert (escalation.category, escalation.message, escalation.alerted) == ("suicide_self_harm", "yes", True)
        [review] = session.scalars(select(RiskReview)).all()
        assert (review.kind, review.message, review.answer) == ("possible_suicide_self_harm",
                                                                "I just want to disappear", "yes")


def test_a_crisis_answer_is_recorded_once_per_message(contacts):
    broker = EscalationEventBroker()
    broker.publish(user_event("p2", "I want to die", "crisis_suicide_self_harm",
                              [{"entity": "crisis_category", "value": "suicide_self_harm"}]))
    broker.publish(bot_event("p2", "utter_crisis_suicide_self_harm"))
    broker.flush()
    with session_scope(contacts) as session:
        assert len(session.scalars(select(Escalation)).all()) == 1


@pytest.mark.parametrize("reply,intent,answer", [("no", "deny", "no"), ("Fife", "find_support", "none")])
def test_a_possible_risk_is_kept_for_review_with_its_answer_and_never_alerted(contacts, reply, intent, answer):
    broker = EscalationEventBroker()
    broker.publish(user_event("p3", "whats the point of anything", "possible_suicide_self_harm"))
    broker.publish(bot_event("p3", "utter_possible_suicide_self_harm"))
    broker.publish(user_event("p3", reply, intent))
    broker.flush()
    with session_scope(contacts) as session:
        assert session.scalars(select(Escalation)).all() == [] and session.scalars(select(Alert)).all() == []
        [review] = session.scalars(select(RiskReview)).all()
        assert review.answer == answer
    assert cli(["review"]) == 0


@pytest.mark.parametrize("details,reason", [
    ({"tier": "possible", "source": "lexicon", "rule": "PL-SSH-01", "asked_because": "alarm_doubted"},
     "alarm_doubted:PL-SSH-01"),
    ({"tier": "possible", "source": "lexicon", "rule": "PL-ASK-03", "asked_because": "ask_rule"}, "ask_rule:PL-ASK-03"),
    ({"tier": "possible", "source": "net", "rule": None, "asked_because": "net"}, "net"),
    (None, None),
])
def test_a_review_says_why_it_was_asked_naming_the_rule_never_the_words(contacts, capsys, details, reason):
    """The clinical lead reviews a lexicon's alarm the languages net doubted (H58) apart from a sigh the net read."""
    event = user_event("p4", "nie chce juz zyc, serio, o ktorej jest grupa w Leith", "possible_suicide_self_harm")
    if details:
        event["parse_data"]["crisis"] = details
    broker = EscalationEventBroker()
    broker.publish(event)
    broker.flush()
    with session_scope(contacts) as session:
        [review] = session.scalars(select(RiskReview)).all()
        assert review.reason == reason and session.scalars(select(Alert)).all() == []
    assert cli(["review"]) == 0
    shown = capsys.readouterr().out
    assert f"asked: {reason or '?'}" in shown
    assert f"{int(reason is not None and reason.startswith('alarm_doubted'))} a lexicon's alarm the languages net doubted" \
        in shown


@pytest.mark.parametrize("status,expected", [
    ("answered", "They were sent emergency numbers by text."),
    ("suppressed", "They could NOT be answered: this number had opted out of texts (STOP)."),
    ("failed", "could NOT be delivered"),
    ("received", "is not confirmed"),
])
def test_an_sms_alert_says_what_the_person_was_actually_given(contacts, status, expected):
    from bot.models import TwilioInbound
    sent = []
    with session_scope(contacts) as session:
        session.add(TwilioInbound(message_sid="SM1", conversation_id="twilio:abc", kind="sms",
                                  received_at=WED_10AM, status=status))
        record(session, Detection("twilio:abc", "twilio", "suicide_self_harm", "I want to end it", board_code=FIFE),
               WED_10AM)
        assert alerts_of(session)[0].next_attempt_at == WED_10AM + timedelta(seconds=20), "waits for the outcome"
    assert deliver_due({"webhook": lambda contact, body: sent.append(body)}, WED_10AM)["delivered"] == 0
    deliver_due({"webhook": lambda contact, body: sent.append(body)}, WED_10AM + timedelta(seconds=20))
    assert sent and expected in sent[0] and "They were given" not in sent[0]


def test_a_web_alert_says_the_numbers_were_shown_in_the_chat(contacts):
    sent = []
    with session_scope(contacts) as session:
        record(session, detection(), WED_10AM)
    deliver_due({"webhook": lambda contact, body: sent.append(body)}, WED_10AM)
    assert "They were shown emergency numbers in the chat." in sent[0]


def test_an_alert_for_a_message_in_another_language_says_so(contacts):
    """The clinician calling back needs to know to book an interpreter."""
    with session_scope(contacts) as session:
        record(session, detection(message="Nie chcę już żyć", conversation="conv-pl"), WED_10AM)
        record(session, detection(message="I want to end it", conversation="conv-en"), WED_10AM)
        bodies = {a.escalation.conversation_id: a.body for a in alerts_of(session)}
    assert "Written in Polish: a call-back may need an interpreter." in bodies["conv-pl"]
    assert "Written in" not in bodies["conv-en"]


def test_alerts_after_the_detection_never_identify_the_language_again(contacts, monkeypatch):
    """The language is found once, when the detection is recorded (in the Rasa process, detector loaded). A
    call-back consent (action server) or a delivery (alert worker) that identified it again would load the
    detector, 10 s, inside a write transaction, stalling every other writer: an e2e status callback waited 7.7 s."""
    from bot import language
    with session_scope(contacts) as session:
        session.add(ChannelContact(conversation_id="conv-pl", channel="twilio", address="+447700900123"))
        escalation = record(session, detection(message="Nie chcę już żyć", conversation="conv-pl"), WED_10AM)
        assert escalation.language == "pl"

    def no_identifying(*_args, **_kwargs):
        raise AssertionError("the language was identified again")
    monkeypatch.setattr(language, "identify", no_identifying)
    monkeypatch.setattr(language, "reply_language", no_identifying)
    with session_scope(contacts) as session:
        grant_callback(session, "conv-pl", WED_10AM + timedelta(minutes=2))
    sent = []
    deliver_due({"webhook": lambda contact, body: sent.append(body)}, WED_10AM + timedelta(minutes=3))
    assert sent and all("Written in Polish: a call-back may need an interpreter." in body for body in sent)
    assert any("Call-back agreed: +447700900123" in body for body in sent)
