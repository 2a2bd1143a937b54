"""bot/rasa_speed.py: the recent conversation for the policies and the action server, and Rasa's reply check."""
from __future__ import annotations

import dataclasses
import json
import logging

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionExecutionRejected, ActionReverted, ActiveLoop, BotUttered,
                                     FollowupAction, LoopInterrupted, Restarted, SessionStarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from bot import PROJECT_ROOT, rasa_speed
from bot.rasa_speed import RECENT_USER_TURNS, independent_copy, recent_tracker

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



def narrowed_by_replay(tracker: DialogueStateTracker) -> DialogueStateTracker:
    """The narrowing as it was first written: the state at the cut and the events since, replayed."""
    events = list(tracker.events)
    user_turns = [index for index, event in enumerate(events) if isinstance(event, UserUttered)]
    if len(user_turns) <= RECENT_USER_TURNS:
        return tracker
    cut = user_turns[-RECENT_USER_TURNS] - 1
    before = DialogueStateTracker.from_events("before", events[:cut], DOMAIN.slots)
    state = [SlotSet(name, slot.value) for name, slot in before.slots.items() if slot.value != slot.initial_value]
    if before.active_loop_name:
        state += [ActiveLoop(before.active_loop_name)] + [LoopInterrupted(True)] * before.active_loop.is_interrupted
    narrowed = DialogueStateTracker.from_events(tracker.sender_id, state + events[cut:], DOMAIN.slots)
    narrowed.followup_action = tracker.followup_action
    if tracker.active_loop is not None:
        narrowed.active_loop = dataclasses.replace(tracker.active_loop)
    return narrowed


def test_the_narrowing_is_the_replayed_one_without_replaying_the_recent_turns():
    trackers = [conversation(turns) for turns in range(1, 26)]
    closed = conversation(14)
    for event in [ActiveLoop(None), SlotSet("requested_slot", None)] + turn("hi", "greet") * 3:
        closed.update(event)
    trackers.append(closed)
    for tracker in trackers:
        mine, replayed = recent_tracker(tracker, DOMAIN.slots), narrowed_by_replay(tracker)
        assert (mine is tracker) == (replayed is tracker)
        assert list(mine.events) == list(replayed.events)
        assert mine.current_state() == replayed.current_state()
        assert mine.past_states(DOMAIN) == replayed.past_states(DOMAIN)


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
    from rasa.core.policies.ted_policy import TEDPolicy
    assert TEDPolicy.predict_action_probabilities is rasa_speed._ted_predict
    assert Domain.states_for_tracker_history is rasa_speed._states_for_tracker_history
    assert EndpointConfig.session is rasa_speed._borrowed_session
    from rasa.core.policies.rule_policy import RulePolicy
    assert RulePolicy._get_possible_keys is rasa_speed._get_possible_keys


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
    # Without the responses (Rasa renders them; rasa-sdk reads slots and forms), the rest as Rasa sends it.
    whole = DOMAIN.as_dict()
    assert "responses" not in form["domain"] and whole["responses"]
    assert form["domain"] == {key: value for key, value in whole.items() if key != "responses"}
    assert len(json.dumps(form)) < len(json.dumps(whole)) / 3


def test_action_server_replies_are_still_checked():
    action = RemoteAction("action_close_conversation", None)
    assert action._validate_action_result({"events": [{"event": "slot", "name": "x", "value": 1}],
                                           "responses": [{"text": "hi"}]})
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        action._validate_action_result({"events": "not a list", "responses": []})
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": [{"event": "no_such_event"}], "responses": []})


@pytest.mark.parametrize("ignore_rule_only_turns", [False, True])
def test_the_states_are_rasas_computed_once_per_tracker_and_handed_out_as_copies(ignore_rule_only_turns, monkeypatch):
    tracker = conversation(6)
    rule_only = {"slots": ["crisis_met"], "loops": []}
    expected = rasa_speed._rasa_states_for_tracker_history(DOMAIN, tracker, ignore_rule_only_turns=ignore_rule_only_turns,
                                                           rule_only_data=rule_only)
    calls = []
    original = rasa_speed._rasa_states_for_tracker_history
    replay = rasa_speed._states_with_and_without_rule_turns
    monkeypatch.setattr(rasa_speed, "_states_with_and_without_rule_turns",
                        lambda *a, **k: calls.append(1) or replay(*a, **k))
    ask = lambda: tracker.past_states(DOMAIN, ignore_rule_only_turns=ignore_rule_only_turns,  # noqa: E731
                                      rule_only_data={"slots": ["crisis_met"], "loops": []})
    first = ask()
    assert first == expected and len(calls) == 1
    first[-1]["user"].pop("intent", None)  # a featuriser edits the last user state in place
    assert ask() == expected and len(calls) == 1
    tracker.update(ActionExecuted("action_listen"))  # the tracker moved on: computed again
    assert ask() == original(DOMAIN, tracker, ignore_rule_only_turns=ignore_rule_only_turns, rule_only_data=rule_only)
    assert len(calls) == 2
    other = tracker.past_states(DOMAIN, ignore_rule_only_turns=not ignore_rule_only_turns, rule_only_data=rule_only)
    assert len(calls) == 2  # the other policies' states came from the same replay
    assert other == original(DOMAIN, tracker, ignore_rule_only_turns=not ignore_rule_only_turns,
                             rule_only_data=rule_only)
    rasa_speed.forget(tracker.sender_id)  # erased or rebuilt: nothing of it stays kept
    assert all(kept[0][1].sender_id != tracker.sender_id for kept in rasa_speed._kept_states.values())
    ask()
    assert len(calls) == 3


def recorded_trackers() -> list[DialogueStateTracker]:
    """Every conversation of the test and training stories, and each of their prefixes: forms begun,
    interrupted and finished, crises mid-form, possible-risk questions, as the policies see them."""
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    trackers = []
    for path in sorted([*(PROJECT_ROOT / "tests" / "stories").glob("*.yml"),
                        *(PROJECT_ROOT / "data" / "stories").glob("*.yml")]):
        for number, story in enumerate(YAMLStoryReader(DOMAIN).read_from_file(path)):
            events = list(story.events)
            for end in range(1, len(events) + 1):
                trackers.append(DialogueStateTracker.from_events(f"{path.stem}-{number}", events[:end], DOMAIN.slots))
    return trackers


def test_one_replay_gives_rasas_states_with_and_without_rule_turns():
    from rasa.shared.core.events import ActionReverted, Restarted, UserUtteranceReverted
    trackers = recorded_trackers() + [conversation(12)]
    reverted = conversation(5)
    for event in (UserUtteranceReverted(), ActionReverted(), Restarted(), *turn("hi", "greet")):
        reverted.update(event)
        trackers.append(DialogueStateTracker.from_events("reverted", list(reverted.events), DOMAIN.slots))
    assert len(trackers) > 300
    rule_only = {"slots": ["crisis_met", "requested_slot"], "loops": ["support_form"]}
    for tracker in trackers:
        for omit in (False, True):
            for data in (rule_only, None):
                with_rules, without = rasa_speed._states_with_and_without_rule_turns(DOMAIN, tracker, omit, data)
                assert with_rules == rasa_speed._rasa_states_for_tracker_history(
                    DOMAIN, tracker, omit_unset_slots=omit, ignore_rule_only_turns=False, rule_only_data=data)
                assert without == rasa_speed._rasa_states_for_tracker_history(
                    DOMAIN, tracker, omit_unset_slots=omit, ignore_rule_only_turns=True, rule_only_data=data)


def test_rule_matching_from_the_latest_states_finds_the_keys_rasa_finds(tmp_path):
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    policy = RulePolicy.create(RulePolicy.get_default_config(), LocalModelStorage(tmp_path), Resource("rules"),
                               ExecutionContext(GraphSchema({}), "test"))
    tracker = conversation(8)
    states = [state for state in tracker.past_states(DOMAIN) if state]
    start = [{}]  # a rule with `conversation_start: true` begins at the empty state
    # Rules of one to three states: taken from the end of the conversation (they match), from its middle (they
    # don't), with a feature changed (they don't), and one that starts a conversation (it doesn't, this late).
    changed = {**states[-1], "prev_action": {"action_name": "utter_something_else"}}
    differs_furthest_back = [{**states[-3], "prev_action": {"action_name": "utter_something_else"}}] + states[-2:]
    rules = [states[-1:], states[-2:], states[-3:], states[3:5], states[-2:-1] + [changed], start + states[:1],
             differs_furthest_back]
    lookup = {json.dumps(rule, sort_keys=True): f"action_{number}" for number, rule in enumerate(rules)}
    every_state = tracker.past_states(DOMAIN)
    found = rasa_speed._get_possible_keys(policy, lookup, every_state)
    assert found == rasa_speed._rasa_get_possible_keys(policy, lookup, every_state)
    assert {lookup[key] for key in found} == {"action_0", "action_1", "action_2"}
    short = every_state[:2]  # shorter than the longest rule: the same too
    assert rasa_speed._get_possible_keys(policy, lookup, short) == rasa_speed._rasa_get_possible_keys(policy, lookup,
                                                                                                      short)


def test_rule_matches_are_kept_by_the_latest_states(tmp_path, monkeypatch):
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    policy = RulePolicy.create(RulePolicy.get_default_config(), LocalModelStorage(tmp_path), Resource("rules"),
                               ExecutionContext(GraphSchema({}), "test"))
    states = [state for state in conversation(8).past_states(DOMAIN) if state]
    lookup = {json.dumps(states[-2:], sort_keys=True): "action_a", json.dumps(states[2:4], sort_keys=True): "action_b"}
    calls = []
    original = rasa_speed._rasa_get_possible_keys
    monkeypatch.setattr(rasa_speed, "_rasa_get_possible_keys", lambda *a: calls.append(1) or original(*a))
    first = rasa_speed._get_possible_keys(policy, lookup, states)
    again = rasa_speed._get_possible_keys(policy, lookup, [dict(state) for state in states])  # equal, not the same
    assert first == again == {json.dumps(states[-2:], sort_keys=True)} and len(calls) == 1
    again.clear()  # the caller's own set
    assert rasa_speed._get_possible_keys(policy, lookup, states) == first
    other = states[:-1]  # another conversation state: matched afresh
    assert rasa_speed._get_possible_keys(policy, lookup, other) == original(policy, lookup, other)
    assert len(calls) == 2


def test_rasas_deep_copies_in_these_modules_are_all_for_debug_log_lines():
    """What makes `_CopyOnlyForDebugLogs` safe: read again whenever Rasa is upgraded."""
    import ast
    import importlib
    import inspect
    for name in rasa_speed.DEBUG_COPYING_MODULES:
        tree = ast.parse(inspect.getsource(importlib.import_module(name)))
        inside_debug_lines = set()
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "debug"
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "structlogger"):
                inside_debug_lines.update(id(inner) for inner in ast.walk(node))
        uses = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name) and node.value.id == "copy"]
        assert uses, name
        assert all(use.attr == "deepcopy" and id(use) in inside_debug_lines for use in uses), name


def test_a_debug_log_copy_is_made_only_when_debug_lines_are_written(caplog):
    shim = rasa_speed._CopyOnlyForDebugLogs("rasa.core.processor")
    value = {"states": [{"user": {"intent": "greet"}}]}
    caplog.set_level(logging.INFO, logger="rasa.core.processor")
    assert shim.deepcopy(value) is value
    caplog.set_level(logging.DEBUG, logger="rasa.core.processor")
    copied = shim.deepcopy(value)
    assert copied == value and copied is not value and copied["states"][0] is not value["states"][0]
    import rasa.core.processor
    assert isinstance(rasa.core.processor.copy, rasa_speed._CopyOnlyForDebugLogs)


def test_endpoint_requests_share_one_keep_alive_connection_per_event_loop():
    """Rasa opened a client session, and a connection, for every request to the action server."""
    import asyncio
    from aiohttp import web

    async def scenario():
        peers = []

        async def webhook(request):
            peers.append((request.transport.get_extra_info("peername"), request.headers.get("Authorization")))
            return web.json_response({"events": [], "responses": []})
        app = web.Application()
        app.router.add_post("/webhook", webhook)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        try:
            endpoint = EndpointConfig(f"http://127.0.0.1:{port}/webhook", basic_auth={"username": "u", "password": "p"})
            replies = [await endpoint.request(json={"n": number}, method="post") for number in range(3)]
        finally:
            await rasa_speed.close_shared_sessions()
            await runner.cleanup()
        return replies, peers

    replies, peers = asyncio.run(scenario())
    assert replies == [{"events": [], "responses": []}] * 3
    assert len({peer for peer, _ in peers}) == 1  # one client port: one connection for the three requests
    assert all(auth and auth.startswith("Basic ") for _, auth in peers)


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


# --- tracker.copy() and applied_events() without walking the whole session ------------------------------------
def unusual_trackers() -> list[DialogueStateTracker]:
    """States a replay can leave differently from the tracker's own: the follow-up action cleared without an
    event (as Rasa's processor does), one set by an event, a restart, a reverted turn, a model id, no events."""
    trackers = []
    for after in ([], [FollowupAction("utter_faq")], [Restarted()], [UserUtteranceReverted()], [ActionReverted()],
                  [UserUtteranceReverted(), *turn("hi", "greet")], [SessionStarted()]):
        tracker = conversation(4)
        for event in after:
            tracker.update(event)
        trackers.append(tracker)
    cleared = conversation(3)
    cleared.update(FollowupAction("utter_faq"))
    cleared.clear_followup_action()
    cleared.model_id, cleared.assistant_id, cleared.sender_source = "model", "assistant", "source"
    trackers += [cleared, DialogueStateTracker("empty", DOMAIN.slots), DialogueStateTracker(None, DOMAIN.slots)]
    return trackers


def full_state(tracker: DialogueStateTracker) -> dict:
    """Everything a tracker holds, events by identity, slots with whether they have been set."""
    state = {key: value for key, value in vars(tracker).items()
             if key not in ("events", "slots", "active_loop", rasa_speed._APPLIED)}
    state["events"] = [id(event) for event in tracker.events]
    state["slots"] = {name: vars(slot) for name, slot in tracker.slots.items()}
    state["active_loop"] = dataclasses.asdict(tracker.active_loop) if tracker.active_loop else None
    return state


def test_a_copy_is_rasas_without_the_replay(monkeypatch):
    trackers = recorded_trackers() + unusual_trackers()
    assert len(trackers) > 300
    for tracker in trackers:
        replays, update = [], DialogueStateTracker.update
        monkeypatch.setattr(DialogueStateTracker, "update",
                            lambda self, event, domain=None: replays.append(event) or update(self, event, domain))
        mine = tracker.copy()
        monkeypatch.undo()
        rasas = rasa_speed._rasa_copy(tracker)
        assert full_state(mine) == full_state(rasas), tracker.sender_id
        if any(isinstance(event, (UserUtteranceReverted, ActionReverted)) for event in tracker.events):
            continue  # these may be replayed, as Rasa does
        assert not replays
        before = full_state(tracker)  # the copy is the caller's own, and goes on as Rasa's does
        for event in [SlotSet("role", "dad"), ActiveLoop("support_form"), LoopInterrupted(True),
                      ActionExecuted("utter_faq"), *turn("more", "faq", ActionExecuted("support_form"),
                                                         FollowupAction("utter_faq"))]:
            for copied in (mine, rasas):
                copied.update(event)
            assert full_state(mine) == full_state(rasas)
        assert full_state(tracker) == before



def test_a_forms_validation_tracker_is_rasas_without_the_replay(monkeypatch):
    from rasa.core.actions.forms import FormAction
    form = FormAction("support_form", None)
    trackers = recorded_trackers() + unusual_trackers() + [conversation(turns) for turns in (3, 12)]
    for tracker in trackers:
        added = [SlotSet("role", "dad"), SlotSet("stage", "pregnancy")]
        replays, update = [], DialogueStateTracker.update
        monkeypatch.setattr(DialogueStateTracker, "update",
                            lambda self, event, domain=None: replays.append(event) or update(self, event, domain))
        mine = rasa_speed._form_temporary_tracker(form, tracker, added, DOMAIN)
        monkeypatch.undo()
        rasas = rasa_speed._rasa_temporary_tracker(form, tracker, added, DOMAIN)
        assert list(mine.events) == list(rasas.events)
        assert {**full_state(mine), "events": None} == {**full_state(rasas), "events": None}, tracker.sender_id
        if not any(isinstance(event, (Restarted, UserUtteranceReverted, ActionReverted)) for event in tracker.events):
            assert len(replays) == 2 + len(added)  # the form's own events only


def test_applied_events_are_rasas_event_by_event():
    """Rasa's applied events after every event of every story, extended from the last call's: forms begun,
    interrupted, rejected and finished, a loop first seen late, reverted turns, restarts, new sessions."""
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    stories = [list(story.events) for path in sorted([*(PROJECT_ROOT / "tests" / "stories").glob("*.yml"),
                                                      *(PROJECT_ROOT / "data" / "stories").glob("*.yml")])
               for story in YAMLStoryReader(DOMAIN).read_from_file(path)]
    late_loop = (turn("x", "faq", ActionExecuted("support_form"), ActionExecuted("utter_faq"))
                 + turn("y", "faq", ActionExecuted("support_form"), ActiveLoop("support_form"))
                 + turn("z", "faq", ActionExecutionRejected("support_form"), ActionExecuted("utter_faq"),
                        ActionExecuted("support_form"), ActiveLoop(None)))
    reverted = list(conversation(5).events) + [UserUtteranceReverted(), ActionReverted(), Restarted(),
                                               *turn("hi", "greet"), SessionStarted(), *turn("again", "greet")]
    stories += [late_loop, reverted, list(conversation(15).events)]
    checked = 0
    for events in stories:
        tracker = DialogueStateTracker("applied", DOMAIN.slots)
        for event in events:
            tracker.update(event)
            assert [id(e) for e in tracker.applied_events()] == [id(e) for e in rasa_speed._rasa_applied_events(tracker)]
            checked += 1
        branch = independent_copy(tracker)  # a copy carries them over, and each goes on by itself
        for copied, text in ((branch, "branch"), (tracker, "trunk")):
            for event in turn(text, "faq", ActionExecuted("support_form"), ActiveLoop("support_form")):
                copied.update(event)
            assert [id(e) for e in copied.applied_events()] == [id(e) for e in rasa_speed._rasa_applied_events(copied)]
    assert checked > 400


def test_applied_events_walk_only_the_new_events(monkeypatch):
    tracker = conversation(40)
    tracker.applied_events()
    tracker.update(ActionExecuted("action_listen"))
    tracker.update(UserUttered("one more", {"name": "faq"}))
    walked = []
    monkeypatch.setattr(rasa_speed.itertools, "islice", lambda events, start, stop: walked.append(len(events) - start)
                        or list(events)[start:])
    assert tracker.applied_events()[-1].text == "one more"
    assert walked == [2]


# --- TEDPolicy's predictions reused for equal states: a real TED, trained here on a tiny domain ---------------
TINY_DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, ask, bye]
slots:
  known:
    type: bool
    influence_conversation: true
    mappings: [{type: custom}]
responses:
  utter_hello: [{text: hi}]
  utter_answer: [{text: answer}]
  utter_bye: [{text: bye}]
""")


def tiny_turn(intent: str, action: str, *after, text: str = "") -> list:
    """A turn of the tiny domain: the message is its intent's name unless `text` says otherwise."""
    return turn(text or intent, intent, *after, ActionExecuted(action))


@pytest.fixture(scope="module")
def ted(tmp_path_factory):
    from rasa.core.policies.ted_policy import TEDPolicy
    from rasa.engine.graph import ExecutionContext, GraphSchema
    from rasa.engine.storage.local_model_storage import LocalModelStorage
    from rasa.engine.storage.resource import Resource
    from rasa.shared.core.generator import TrackerWithCachedStates
    stories = [tiny_turn("greet", "utter_hello") + tiny_turn("ask", "utter_answer") + tiny_turn("bye", "utter_bye"),
               tiny_turn("greet", "utter_hello", SlotSet("known", True)) + tiny_turn("bye", "utter_bye")]
    trackers = [TrackerWithCachedStates.from_events(f"story {number}", events + [ActionExecuted("action_listen")],
                                                    TINY_DOMAIN.slots, domain=TINY_DOMAIN)
                for number, events in enumerate(stories)]
    policy = TEDPolicy.create({**TEDPolicy.get_default_config(), "epochs": 2, "random_seed": 1},
                              LocalModelStorage(tmp_path_factory.mktemp("ted")), Resource("ted"),
                              ExecutionContext(GraphSchema({}), "test"))
    policy.train(trackers, TINY_DOMAIN)
    return policy


def tiny_conversations() -> list[DialogueStateTracker]:
    """Conversations that end in different states (intent, slot, previous action, length)."""
    histories = [tiny_turn("greet", "utter_hello")[:2],
                 tiny_turn("greet", "utter_hello"),
                 tiny_turn("greet", "utter_hello") + tiny_turn("ask", "utter_answer")[:2],
                 tiny_turn("greet", "utter_hello", SlotSet("known", True)) + tiny_turn("ask", "utter_answer")[:2],
                 tiny_turn("greet", "utter_hello") + tiny_turn("bye", "utter_bye")]
    return [DialogueStateTracker.from_events(f"person {n}", events, TINY_DOMAIN.slots)
            for n, events in enumerate(histories)]


def count_network_calls(policy, monkeypatch) -> list:
    calls = []
    run_inference = policy.model.run_inference
    monkeypatch.setattr(policy.model, "run_inference", lambda *a, **k: calls.append(1) or run_inference(*a, **k))
    return calls


def test_ted_gives_the_same_confidences_as_rasas_ted_and_runs_its_network_once_per_state(ted, monkeypatch):
    ted.__dict__.pop("_kept_predictions", None)
    calls = count_network_calls(ted, monkeypatch)
    for tracker in tiny_conversations():
        expected = rasa_speed._rasa_ted_predict(ted, tracker, TINY_DOMAIN).probabilities
        first = ted.predict_action_probabilities(tracker, TINY_DOMAIN)
        calls.clear()
        again = ted.predict_action_probabilities(tracker, TINY_DOMAIN)
        assert first.probabilities == again.probabilities == expected
        assert again.policy_name == "TEDPolicy" and not again.events and not again.optional_events
        assert calls == []  # the second time, no network call
    assert len(ted._kept_predictions) == len(tiny_conversations())  # each state kept once, none shared


def test_ted_reuses_a_prediction_only_for_equal_states(ted, monkeypatch):
    ted.__dict__.pop("_kept_predictions", None)
    calls = count_network_calls(ted, monkeypatch)
    start = tiny_turn("greet", "utter_hello") + tiny_turn("ask", "utter_answer")[:2]
    ted.predict_action_probabilities(DialogueStateTracker.from_events("a", start, TINY_DOMAIN.slots), TINY_DOMAIN)
    assert len(calls) == 1
    # Someone else, other words, the same intents and slots: the same states, no network call.
    other_words = tiny_turn("greet", "utter_hello", text="hiya") + tiny_turn("ask", "utter_answer", text="eh?")[:2]
    ted.predict_action_probabilities(DialogueStateTracker.from_events("b", other_words, TINY_DOMAIN.slots),
                                     TINY_DOMAIN)
    assert len(calls) == 1
    # A slot that influences the conversation differs: a different state, so the network runs.
    with_slot = tiny_turn("greet", "utter_hello", SlotSet("known", True)) + tiny_turn("ask", "utter_answer")[:2]
    ted.predict_action_probabilities(DialogueStateTracker.from_events("c", with_slot, TINY_DOMAIN.slots), TINY_DOMAIN)
    assert len(calls) == 2


def test_ted_keeps_a_bounded_number_of_predictions(ted, monkeypatch):
    ted.__dict__.pop("_kept_predictions", None)
    monkeypatch.setattr(rasa_speed, "TED_PREDICTIONS_KEPT", 2)
    for tracker in tiny_conversations():
        ted.predict_action_probabilities(tracker, TINY_DOMAIN)
    assert len(ted._kept_predictions) == 2
