"""bot/rasa_speed.py: the recent conversation for the policies and the action server, and Rasa's reply check."""
from __future__ import annotations

import json

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import PROJECT_ROOT, rasa_speed
from bot.rasa_speed import RECENT_USER_TURNS, recent_tracker

DOMAIN = Domain.load(str(PROJECT_ROOT / "domain.yml"))


def turn(text: str, intent: str, *after) -> list:
    return [ActionExecuted("action_listen"), UserUttered(text, {"name": intent, "confidence": 1.0}), *after]


def conversation(user_turns: int) -> DialogueStateTracker:
    """A crisis first, the support form begun early and interrupted, then ordinary questions."""
    events = turn("I want to kill myself", "crisis_suicide_self_harm", SlotSet("crisis_met", True),
                  SlotSet("crisis_category", "suicide_self_harm"), ActionExecuted("utter_crisis_suicide_self_harm"),
                  BotUttered("call 999", metadata={"utter_action": "utter_crisis_suicide_self_harm"}))
    events += turn("find me a group", "find_support", ActionExecuted("support_form"), ActiveLoop("support_form"),
                   SlotSet("role", "mum"), SlotSet("requested_slot", "stage"))
    for number in range(user_turns - 2):
        events += turn(f"question {number}", "faq", ActionExecuted("utter_faq"), BotUttered(f"answer {number}"),
                       ActionExecuted("support_form"), SlotSet("requested_slot", "stage"))
    return DialogueStateTracker.from_events("speed", events, DOMAIN.slots)


def test_a_short_conversation_is_given_whole():
    tracker = conversation(RECENT_USER_TURNS)
    assert recent_tracker(tracker, DOMAIN.slots) is tracker


def test_a_long_conversation_is_narrowed_to_its_recent_turns_with_the_same_current_state():
    tracker = conversation(40)
    narrowed = recent_tracker(tracker, DOMAIN.slots)
    assert sum(isinstance(e, UserUttered) for e in narrowed.events) == RECENT_USER_TURNS
    assert len(narrowed.events) < len(tracker.events) / 3
    whole, recent = tracker.current_state(), narrowed.current_state()
    for key in ("slots", "latest_message", "active_loop", "latest_action", "latest_action_name",
                "latest_input_channel", "sender_id", "paused"):
        assert recent[key] == whole[key], key
    assert recent["slots"]["crisis_met"] is True and recent["slots"]["role"] == "mum"
    assert narrowed.active_loop_name == "support_form"
    assert recent_tracker(tracker, DOMAIN.slots) is narrowed  # the three policies and the action share one


def test_the_policies_predict_from_the_recent_turns(monkeypatch):
    given = []
    monkeypatch.setattr(rasa_speed, "_rasa_predict_next_with_tracker", lambda processor, tracker: given.append(tracker))
    processor = type("Processor", (), {"domain": DOMAIN})()
    tracker = conversation(30)
    rasa_speed._predict_next_with_tracker(processor, tracker)
    assert given[-1] is recent_tracker(tracker, DOMAIN.slots) and given[-1] is not tracker
    tracker.followup_action = "utter_greet"  # Rasa runs a follow-up action without predicting: the real tracker
    rasa_speed._predict_next_with_tracker(processor, tracker)
    assert given[-1] is tracker


def test_every_rasa_process_that_loads_our_tracker_store_has_them():
    import bot.rasa_stores  # noqa: F401  (endpoints.yml names it: every `rasa run` imports it)
    from rasa.core.processor import MessageProcessor
    assert MessageProcessor._predict_next_with_tracker is rasa_speed._predict_next_with_tracker
    assert RemoteAction._action_call_format is rasa_speed._action_call_format
    assert RemoteAction._validate_action_result is rasa_speed._validate_action_result


def test_the_action_server_is_sent_the_recent_turns_and_the_domain_only_when_asked():
    endpoint = EndpointConfig("http://127.0.0.1:1/webhook", enable_selective_domain=True)
    tracker = conversation(60)
    body = RemoteAction("action_close_conversation", endpoint)._action_call_format(tracker, DOMAIN)
    assert sum(e["event"] == "user" for e in body["tracker"]["events"]) == RECENT_USER_TURNS
    assert body["tracker"]["slots"] == tracker.current_state()["slots"]
    assert "domain" not in body
    assert len(json.dumps(body["tracker"]["events"])) < len(json.dumps([e.as_dict() for e in tracker.events])) / 3
    form = RemoteAction("validate_support_form", endpoint)._action_call_format(tracker, DOMAIN)
    assert form["domain"]["forms"]["support_form"]["required_slots"] == ["role", "stage", "location", "format"]


def test_action_server_replies_are_still_checked():
    action = RemoteAction("action_close_conversation", None)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "x", "value": 1}],
                                           "responses": [{"text": "hi"}]})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list", "responses": []})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": [{"event": "no_such_event"}], "responses": []})


def test_the_state_at_the_cut_is_carried_forward_not_replayed_from_the_start(monkeypatch):
    """Turn after turn the cut moves on; its state is found from the last cut's (same result as a replay)."""
    tracker = conversation(40)
    recent_tracker(tracker, DOMAIN.slots)
    for number in range(3):  # three more turns: the same event objects, as the tracker store keeps them
        for event in turn(f"more {number}", "faq", ActionExecuted("utter_faq"), SlotSet("requested_slot", "stage")):
            tracker.update(event)
        replays = []
        original = DialogueStateTracker.from_events.__func__
        monkeypatch.setattr(DialogueStateTracker, "from_events", classmethod(
            lambda cls, sender, events, *a, **k: replays.append(len(events)) or original(cls, sender, events, *a, **k)))
        narrowed = recent_tracker(tracker, DOMAIN.slots)
        monkeypatch.undo()
        assert max(replays) < len(tracker.events) / 3, replays  # never the whole conversation
        whole = DialogueStateTracker.from_events("speed", list(tracker.events), DOMAIN.slots)
        assert narrowed.current_state()["slots"] == whole.current_state()["slots"]
        assert narrowed.active_loop_name == whole.active_loop_name == "support_form"


def test_a_rebuilt_conversation_keeps_nothing_from_before():
    tracker = conversation(30)
    recent_tracker(tracker, DOMAIN.slots)
    assert "speed" in rasa_speed._cut_states and rasa_speed._last[0] is tracker
    rasa_speed.forget("speed")  # what the tracker store does when it rebuilds (erasure, purge, new session)
    assert "speed" not in rasa_speed._cut_states and rasa_speed._last is None
