"""How this project has Rasa 3.6 run a turn in less time, and in the same time at turn 200 as at turn 1.

Measured in bench/profile.md. Rasa gives the whole session to every policy prediction (each policy replays
and featurises every event, though it looks at 5 states at most) and to the action server with every
custom action (1.9 MB at turn 200), and it checks each action-server reply with `jsonschema.validate`,
which first checks Rasa's event schema itself against the JSON Schema meta-schema (25-39 ms a call).

- The policies (Rasa's own, as config.yml names them) are given the recent conversation: the slots and
  active loop as they stood RECENT_USER_TURNS user turns ago, then every event since. On two long
  conversations (bench/narrow_history.py) no prediction changed with 5 or more user turns; 10 is kept.
  Done where Rasa hands the tracker to the policies (`MessageProcessor._predict_next_with_tracker`), not in
  policy subclasses: Rasa recognises its RulePolicy by class name in places (validation, `rasa test`).
- The action server is sent the same recent conversation, and the domain (to the actions that ask for it)
  without its responses, which Rasa renders and rasa-sdk never reads. The facts our actions need from further back are
  in slots (`crisis_met`, `questions_asked`; domain.yml), and the current slots, latest message and active
  loop are exactly those of the whole tracker.
- The reply check is the same check, with the validator built once.
- Rasa opens a new HTTP client session (and so a new TCP connection, and the action server or balancer
  accepts one) for every request to an endpoint; here one pooled session per event loop serves them, with
  keep-alive connections dropped after KEEPALIVE_SECONDS idle, before the server (Sanic: 5 s) drops them.
- The dialogue states of a tracker (`Domain.states_for_tracker_history`, which replays every event) are
  computed once and handed, copied, to the next policy that asks: RulePolicy asks for them with rule turns,
  MemoizationPolicy and TEDPolicy without, each at every prediction; one replay gives both.
- RulePolicy matches its rules against as many of the latest states as its longest rule has, not against the
  whole (recent) conversation (every rule is applicable at a turn further back than its length), and keeps
  the rules that matched by those states, as TED's predictions are kept below.
- Rasa deep-copies trackers' states and events in the processor, RulePolicy and MemoizationPolicy only to
  hand them to structlog debug lines, which are dropped unless the level is DEBUG: the copy is made only then.
- TEDPolicy's prediction is reused when the states it reads are the ones of an earlier prediction: it reads
  only the last max_history states (intents, entity names, slots as featurised, the previous action, the
  active loop) and its network is fixed once loaded, so equal states give equal confidences. Its network
  call was about 4 ms of every prediction in the server, 2.8 predictions a turn (bench/profile.md).
- Rasa's `tracker.copy()` (before each action, and when a form starts) and a form's slot validation tracker
  replay every event of the session into a new tracker, and `tracker.applied_events()` (several times a turn)
  walks every event: all grew with the conversation (copy and applied events 0.5 -> 6.1 and 0.3 -> 3.6 ms a
  turn from turn 1 to 200, bench/profile.md). Here a copy copies the state itself and shares the event objects,
  setting what a replay would set differently (the follow-up action Rasa's processor clears without an event,
  and what Rasa's copy leaves out); the form's tracker is such a copy with the form's events added; each
  tracker keeps its applied events, extending them with the events added since; and the narrowing above finds
  its cut from the newest event back and copies the whole tracker's state instead of replaying the recent turns.

`install()` runs when this module is imported, which bot/rasa_stores.py does: every `rasa run` loads the
tracker store from endpoints.yml, so every process that serves the assistant has all of them. (`rasa test` and
`rasa shell` without our endpoints give the policies the whole session, which predicts the same.)
"""
import array
import asyncio
import copy
import dataclasses
import functools
import itertools
import json
import logging
from collections import OrderedDict, deque
from typing import Any, Dict, Optional

from rasa.core.actions.action import RemoteAction
from rasa.core.actions.forms import FormAction
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.constants import ACTION_LISTEN_NAME, ACTION_SESSION_START_NAME, REQUESTED_SLOT
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, BotUttered, Event, FollowupAction,
                                     LoopInterrupted, Restarted, SessionStarted, SlotSet, UserUttered,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.constants import DEFAULT_SENDER_ID
from rasa.shared.nlu.constants import TEXT
from rasa.utils.endpoints import EndpointConfig

RECENT_USER_TURNS = 10

# The last narrowing, reused by the next caller with the same tracker unchanged: a prediction and the action
# call that follows it (a tuple, replaced whole, so a reader never sees half of it).
_last: Optional[tuple] = None


def recent_tracker(tracker: DialogueStateTracker, slots: Any) -> DialogueStateTracker:
    """The tracker narrowed to its last RECENT_USER_TURNS user turns, or the tracker itself when it is no
    longer than that. The state at the cut (slots that differ from their initial value, the active loop)
    comes first as events, and the narrowed tracker holds the whole tracker's current state (copied, not
    replayed: the events from the cut on lead to it)."""
    global _last
    last = _last
    if last is not None and last[0] is tracker and last[1] == len(tracker.events):
        return last[2]
    events = tracker.events
    recent, user_turns, earlier = [], 0, reversed(events)  # from the newest event back, not the whole session
    for event in earlier:
        recent.append(event)
        user_turns += isinstance(event, UserUttered)
        if user_turns == RECENT_USER_TURNS:
            break
    if user_turns < RECENT_USER_TURNS or not any(isinstance(event, UserUttered) for event in earlier):
        return tracker  # no longer than that
    cut = len(events) - len(recent) - 1  # from the action_listen before that message
    recent.append(events[cut])
    recent.reverse()
    narrowed = independent_copy(tracker, events=_state_at(tracker.sender_id, events, cut, slots) + recent)
    _last = (tracker, len(tracker.events), narrowed)
    return narrowed


# Per conversation, the state at its last cut: (the event at the cut, its index, the state as events). The next
# cut replays only the events between the two, so finding the state does not grow with the conversation.
# Events are the same objects from turn to turn (the tracker store shares them), which identifies the prefix.
_cut_states: "OrderedDict[str, tuple[Event, int, list[Event]]]" = OrderedDict()
CUT_STATES_KEPT = 2_000


def _state_at(sender_id: str, events: "deque[Event]", cut: int, slots: Any) -> list[Event]:
    known = _cut_states.get(sender_id)
    if known is not None and known[1] <= cut and known[1] < len(events) and events[known[1]] is known[0]:
        before = DialogueStateTracker.from_events(
            sender_id, known[2] + list(itertools.islice(events, known[1], cut)), slots)
    else:
        before = DialogueStateTracker.from_events(sender_id, list(itertools.islice(events, cut)), slots)
    state: list[Event] = [SlotSet(name, slot.value) for name, slot in before.slots.items()
                          if slot.value != slot.initial_value]
    if before.active_loop_name:
        state.append(ActiveLoop(before.active_loop_name))
        if before.active_loop.is_interrupted:
            state.append(LoopInterrupted(True))
    _cut_states[sender_id] = (events[cut], cut, state)
    _cut_states.move_to_end(sender_id)
    while len(_cut_states) > CUT_STATES_KEPT:
        _cut_states.popitem(last=False)
    return state


def forget(sender_id: str) -> None:
    """Drop what is kept about a conversation (the tracker store calls this when it rebuilds one: after an
    erasure, the retention purge or a new session), so no slot value outlives the rows it came from."""
    global _last
    _cut_states.pop(sender_id, None)
    last = _last
    if last is not None and last[0].sender_id == sender_id:
        _last = None
    for key in [key for key, ((_, tracker, _), _) in list(_kept_states.items()) if tracker.sender_id == sender_id]:
        _kept_states.pop(key, None)


def independent_copy(tracker: DialogueStateTracker, events: Optional[list] = None) -> DialogueStateTracker:
    """The tracker's state, copied, over the same event objects (or the `events` given, which lead to that
    state): the state a replay of its events gives, without replaying them. Its applied events come along
    (computed first if need be: the next caller asks for them)."""
    clone = copy.copy(tracker)
    clone.events = deque(tracker.events if events is None else events, tracker.events.maxlen)
    clone.slots = type(tracker.slots)((name, copy.copy(slot)) for name, slot in tracker.slots.items())
    clone.active_loop = dataclasses.replace(tracker.active_loop) if tracker.active_loop else None
    clone.latest_action = dict(tracker.latest_action) if tracker.latest_action is not None else None
    clone.__dict__.pop(_APPLIED, None)
    if tracker.events.maxlen is None and events is None:
        clone.__dict__[_APPLIED] = dataclasses.replace(_applied_so_far(tracker), events=clone.events)
    return clone


_rasa_copy = DialogueStateTracker.copy
_REPLAY = object()  # the follow-up action is known only by replaying


def _copy(self: DialogueStateTracker) -> DialogueStateTracker:
    """What Rasa's `copy()` gives (a new tracker from `init_copy()` with every event replayed into it), made
    without the replay. A bounded history (`max_event_history`) is replayed as Rasa does: its state came from
    events no longer held."""
    followup = _followup_action_after_replay(self.events) if self.events.maxlen is None else _REPLAY
    if followup is _REPLAY:
        return _rasa_copy(self)
    clone = independent_copy(self)
    clone.followup_action = followup  # Rasa's processor clears it on the tracker itself, with no event
    clone.sender_id = self.sender_id or DEFAULT_SENDER_ID  # as init_copy(): nothing else of the source's
    clone.sender_source = clone.model_id = clone.assistant_id = None
    # Before the first user message or bot utterance, a replay's are empty placeholders of the copy's own.
    if clone.latest_message is not None and clone.latest_message.is_empty() and not clone.latest_message.intent:
        clone.latest_message = UserUttered.empty()
    if clone.latest_bot_utterance == BotUttered.empty():
        clone.latest_bot_utterance = BotUttered.empty()
    return clone


def _followup_action_after_replay(events: "deque[Event]") -> Any:
    """The follow-up action a replay of these events leaves: set by the last event that sets or clears one
    (apply_to of each), action_listen if none does (a new tracker's); _REPLAY after a reverted turn, whose
    replay re-applies the events before it."""
    for event in reversed(events):
        if isinstance(event, (UserUttered, ActionExecuted)):
            return None
        if isinstance(event, FollowupAction):
            return event.action_name
        if isinstance(event, Restarted):
            return ACTION_SESSION_START_NAME
        if isinstance(event, SessionStarted):
            return ACTION_LISTEN_NAME
        if isinstance(event, (UserUtteranceReverted, ActionReverted)):
            return _REPLAY
    return ACTION_LISTEN_NAME


_rasa_applied_events = DialogueStateTracker.applied_events
_APPLIED = "_applied_events_so_far"  # the attribute each tracker keeps them in


@dataclasses.dataclass(frozen=True)
class _AppliedSoFar:
    """A tracker's applied events as of its first `count` events (ending with `last`), the loop names among
    them, and whether any was a restart. Rasa's applied_events() is a fold over the events given every loop
    name in the session, so it extends from here while the new events bring no new loop name."""
    events: "deque[Event]"  # the deque they were computed from: a tracker given a new one starts again
    count: int
    last: Optional[Event]
    loop_names: frozenset
    applied: tuple
    restarted: bool


def _applied_events(self: DialogueStateTracker) -> list:
    """Rasa's applied events (every event but those reverted, restarted away or of a finished loop
    execution), extended from the last call's instead of recomputed from the first event."""
    if self.events.maxlen is not None:  # a bounded deque drops events from the front: no prefix to extend
        return _rasa_applied_events(self)
    return list(_applied_so_far(self).applied)


def _applied_so_far(tracker: DialogueStateTracker) -> _AppliedSoFar:
    events = tracker.events
    known: Optional[_AppliedSoFar] = tracker.__dict__.get(_APPLIED)
    if (known is None or known.events is not events or known.count > len(events)
            or (known.count and events[known.count - 1] is not known.last)):
        known = _AppliedSoFar(events, 0, None, frozenset(), (), False)
    if known.count == len(events):
        return known
    new = list(itertools.islice(events, known.count, None))
    loop_names = known.loop_names | {event.name for event in new if isinstance(event, ActiveLoop) and event.name}
    applied, restarted = list(known.applied), known.restarted
    if loop_names != known.loop_names and known.count:  # a loop seen for the first time: earlier events fold
        applied, restarted, new = [], False, list(events)  # differently, so from the start
    for event in new:  # Rasa's DialogueStateTracker.applied_events, one event at a time
        if isinstance(event, (Restarted, SessionStarted)):
            applied = []
            restarted = restarted or isinstance(event, Restarted)
        elif isinstance(event, ActionReverted):
            tracker._undo_till_previous(ActionExecuted, applied)
        elif isinstance(event, UserUtteranceReverted):
            tracker._undo_till_previous(UserUttered, applied)
            tracker._undo_till_previous(ActionExecuted, applied)
        elif (isinstance(event, ActionExecuted) and event.action_name in loop_names
              and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)):
            tracker._undo_till_previous_loop_execution(event.action_name, applied)
        else:
            applied.append(event)
    known = _AppliedSoFar(events, len(events), events[-1], loop_names, tuple(applied), restarted)
    tracker.__dict__[_APPLIED] = known
    return known


_rasa_temporary_tracker = FormAction._temporary_tracker


def _form_temporary_tracker(self: FormAction, current_tracker: DialogueStateTracker, additional_events: list,
                            domain: Domain) -> DialogueStateTracker:
    """Rasa's tracker for a form's slot validation (a new tracker from the events since the latest restart,
    then the requested slot, the form's execution and the new events), copied from the current tracker when
    no restart is among its events and its slots are the domain's (the copy is then that replay's state)."""
    if (current_tracker.events.maxlen is not None or _applied_so_far(current_tracker).restarted
            or not _same_slots(current_tracker.slots, domain.slots)):
        return _rasa_temporary_tracker(self, current_tracker, additional_events, domain)
    tracker = current_tracker.copy()
    tracker.sender_id, tracker.is_rule_tracker = current_tracker.sender_id, False
    for event in [SlotSet(REQUESTED_SLOT, self.get_slot_to_fill(current_tracker)), ActionExecuted(self.name()),
                  *additional_events]:
        tracker.update(event)
    return tracker


def _same_slots(slots: Dict[str, Any], defined: list) -> bool:
    """Whether these are the defined slots, in order, with the same definitions (values aside)."""
    def definition(slot: Any) -> tuple:
        return type(slot), {key: value for key, value in vars(slot).items() if key not in ("_value", "_has_been_set")}
    return (type(slots) is dict and list(slots) == [slot.name for slot in defined]
            and all(definition(slots[slot.name]) == definition(slot) for slot in defined))


_rasa_predict_next_with_tracker = MessageProcessor._predict_next_with_tracker


def _predict_next_with_tracker(self: MessageProcessor, tracker: DialogueStateTracker) -> PolicyPrediction:
    """Rasa's prediction of the next action, from the recent conversation."""
    if tracker.followup_action:  # Rasa runs it without predicting, and clears it on the real tracker
        return _rasa_predict_next_with_tracker(self, tracker)
    return _rasa_predict_next_with_tracker(self, recent_tracker(tracker, self.domain.slots))


_rasa_validate_action_result = RemoteAction._validate_action_result


@functools.lru_cache(maxsize=1)
def _reply_validator():
    from jsonschema import validators
    schema = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(schema)
    validator_class.check_schema(schema)  # once, not on every reply
    return validator_class(schema)


def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
    """Rasa's check of an action server reply, unchanged but for building the validator once."""
    from jsonschema.exceptions import best_match
    error = best_match(_reply_validator().iter_errors(result))  # what jsonschema.validate raises
    if error is None:
        return True
    error.message += (". Failed to validate Action server response from API, make sure your response from the "
                      "Action endpoint is valid.")
    raise error


_rasa_action_call_format = RemoteAction._action_call_format


def _action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> Dict[str, Any]:
    """Rasa's request to the action server, with the recent conversation instead of the whole session, and
    the domain, where an action is sent it, without its responses."""
    return _rasa_action_call_format(self, recent_tracker(tracker, domain.slots), _DomainForActionServer(domain))


class _DomainForActionServer:
    """The domain as an action is sent it (`send_domain: true` in domain.yml): without `responses`, 150 KB of the
    160 KB, which Rasa renders itself and rasa-sdk never reads (its forms read `slots` and `forms`). The rest
    is Rasa's own `as_dict()`, made once for the loaded domain."""

    _made: "tuple[Domain, Dict[str, Any]] | None" = None

    def __init__(self, domain: Domain) -> None:
        self._domain = domain

    def __getattr__(self, name: str) -> Any:
        return getattr(self._domain, name)

    def as_dict(self) -> Dict[str, Any]:
        made = _DomainForActionServer._made
        if made is None or made[0] is not self._domain:
            sent = {key: value for key, value in self._domain.as_dict().items() if key != "responses"}
            made = _DomainForActionServer._made = (self._domain, sent)
        return made[1]


_rasa_states_for_tracker_history = Domain.states_for_tracker_history
# The last few computations: ids of (domain, tracker, its last event), its length, the arguments -> (those
# objects, the states). The objects are held so no id is reused while kept; a prediction is synchronous, so
# its policies ask one after another.
_kept_states: "OrderedDict[tuple, tuple]" = OrderedDict()
STATES_KEPT = 4


def _states_for_tracker_history(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False,
                                ignore_rule_only_turns: bool = False,
                                rule_only_data: Optional[Dict[str, Any]] = None) -> list:
    """Rasa's states for the tracker, computed once for equal arguments while the tracker is unchanged: with
    and without rule-only turns from one replay (RulePolicy asks for the first, the other policies for the
    second, with the same rule-only data). A copy each time: a featuriser edits the last state's user part."""
    events = tracker.events
    last_event = events[-1] if events else None
    held = (id(self), id(tracker), id(last_event), len(events), omit_unset_slots)
    # Without rule-only turns Rasa reads the rule-only data; with them, it does not.
    key = held + (ignore_rule_only_turns, _state_key(rule_only_data) if ignore_rule_only_turns else None)
    kept = _kept_states.get(key)
    if kept is None:
        with_rule_turns, without = _states_with_and_without_rule_turns(self, tracker, omit_unset_slots,
                                                                       rule_only_data)
        objects = (self, tracker, last_event)
        _kept_states[held + (False, None)] = (objects, with_rule_turns)
        _kept_states[held + (True, _state_key(rule_only_data))] = (objects, without)
        while len(_kept_states) > STATES_KEPT:
            _kept_states.popitem(last=False)
        kept = _kept_states[key]
    return [_state_copy(state) for state in kept[1]]


def _states_with_and_without_rule_turns(domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool,
                                        rule_only_data: Optional[Dict[str, Any]]) -> tuple:
    """`Domain.states_for_tracker_history` with `ignore_rule_only_turns` False and True, from one replay of the
    tracker: Rasa's loop, step by step, for both at once (tests/test_rasa_speed.py compares them with Rasa's)."""
    from rasa.shared.core.constants import PREVIOUS_ACTION
    with_rule_turns: list = []
    without: list = []
    last_ml_action_sub_state = None
    turn_was_hidden = False
    for prior, hide_rule_turn in tracker.generate_all_prior_trackers():
        state = domain.get_active_state(prior, omit_unset_slots=omit_unset_slots)
        with_rule_turns.append(domain._clean_state(state))
        if not turn_was_hidden:
            last_ml_action_sub_state = domain._get_prev_action_sub_state(prior)
        if not prior.followup_action and not prior.latest_action_name == prior.active_loop_name:
            turn_was_hidden = hide_rule_turn
        if turn_was_hidden:
            continue
        ml_state = _state_copy(state)  # edited below; the state with rule turns is not
        domain._remove_rule_only_features(ml_state, rule_only_data)
        if without:
            domain._substitute_rule_only_user_input(ml_state, without[-1])
        if last_ml_action_sub_state:
            ml_state[PREVIOUS_ACTION] = last_ml_action_sub_state
        without.append(domain._clean_state(ml_state))
    return with_rule_turns, without


def _state_copy(state: Dict[str, Any]) -> Dict[str, Any]:
    return {name: dict(part) if isinstance(part, dict) else part for name, part in state.items()}


_rasa_get_possible_keys = RulePolicy._get_possible_keys


RULE_MATCHES_KEPT = 10_000  # per lookup: the keys matched, by the latest states (a few hundred bytes each)


def _get_possible_keys(self: RulePolicy, lookup: Dict[str, str], states: list) -> set:
    """Rasa's rule keys that match the states, from the latest states only (Rasa's `_is_rule_applicable` holds
    for every rule at a turn further back than the rule is long, so older states change nothing), kept by
    those states: the rules are fixed once the policy is loaded."""
    kept_by_lookup = self.__dict__.setdefault("_rule_matches", {})
    kept = kept_by_lookup.get(id(lookup))
    if kept is None or kept[0] is not lookup:
        longest = max((len(self._rule_key_to_state(key)) for key in lookup), default=0)
        kept = kept_by_lookup[id(lookup)] = (lookup, longest, OrderedDict())
    _, longest, matches = kept
    if 0 < longest < len(states):
        states = states[-longest:]
    key = _state_key(states)
    found = matches.get(key)
    if found is None:
        found = matches[key] = frozenset(_rasa_get_possible_keys(self, lookup, states))
        while len(matches) > RULE_MATCHES_KEPT:
            matches.popitem(last=False)
    else:
        matches.move_to_end(key)
    return set(found)


_rasa_ted_predict = TEDPolicy.predict_action_probabilities
TED_PREDICTIONS_KEPT = 10_000  # about 2 KB each (one double per action, and the states)


def _state_key(value: Any) -> Any:
    """States (lists of dicts of tuples, strings and numbers) as a hashable value: equal values give equal keys.
    JSON with sorted keys (in C); anything JSON can't write is frozen in Python instead."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        return _frozen(value)


def _frozen(value: Any) -> Any:
    """A state (dicts of tuples and numbers) as a hashable value, equal exactly when the state is."""
    if isinstance(value, dict):
        return tuple(sorted((key, _frozen(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(item) for item in value)
    return value


def _ted_predict(self: TEDPolicy, tracker: DialogueStateTracker, domain: Domain,
                 rule_only_data: Optional[Dict[str, Any]] = None, precomputations: Any = None,
                 **kwargs: Any) -> PolicyPrediction:
    """TED's prediction, kept per loaded policy by the states it reads and reused for equal states. Not when
    TED reads message text (end-to-end training), nor a prediction that carries events (entities from
    text); a reused prediction has no diagnostic data (attention weights, for `rasa test` only)."""
    if self.model is None or self.only_e2e or TEXT in self.fake_features:
        return _rasa_ted_predict(self, tracker, domain, rule_only_data=rule_only_data,
                                 precomputations=precomputations, **kwargs)
    key = _state_key(self._prediction_states(tracker, domain, rule_only_data=rule_only_data))
    kept = self.__dict__.setdefault("_kept_predictions", OrderedDict())
    probabilities = kept.get(key)
    if probabilities is not None:
        kept.move_to_end(key)
        return self._prediction(list(probabilities))
    prediction = _rasa_ted_predict(self, tracker, domain, rule_only_data=rule_only_data,
                                   precomputations=precomputations, **kwargs)
    if not (prediction.events or prediction.optional_events or prediction.is_end_to_end_prediction):
        kept[key] = array.array("d", prediction.probabilities)
        while len(kept) > TED_PREDICTIONS_KEPT:
            kept.popitem(last=False)
    return prediction


KEEPALIVE_SECONDS = 2.0
_shared_sessions: Dict[asyncio.AbstractEventLoop, Any] = {}  # event loop -> aiohttp.ClientSession


class _BorrowedSession:
    """What `EndpointConfig.session()` returns here: the loop's pooled session, with this endpoint's auth and
    headers on each request, and an `async with` that leaves it open for the next request."""

    def __init__(self, endpoint: EndpointConfig) -> None:
        import aiohttp
        loop = asyncio.get_running_loop()
        shared = _shared_sessions.get(loop)
        if shared is None or shared.closed:
            from rasa.core.constants import DEFAULT_REQUEST_TIMEOUT
            shared = aiohttp.ClientSession(connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS),
                                           timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT))
            for old_loop in [old for old in _shared_sessions if old.is_closed()]:
                del _shared_sessions[old_loop]
            _shared_sessions[loop] = shared
        self._shared = shared
        self._headers = dict(endpoint.headers or {})
        self._auth = (aiohttp.BasicAuth(endpoint.basic_auth["username"], endpoint.basic_auth["password"])
                      if endpoint.basic_auth else None)

    async def __aenter__(self) -> "_BorrowedSession":
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        return None

    def request(self, method: str, url: Any, **kwargs: Any) -> Any:
        kwargs["headers"] = {**self._headers, **(kwargs.get("headers") or {})}
        kwargs.setdefault("auth", self._auth)
        return self._shared.request(method, url, **kwargs)


def _borrowed_session(self: EndpointConfig) -> _BorrowedSession:
    return _BorrowedSession(self)


async def close_shared_sessions(*_args: Any) -> None:
    """Close the running loop's pooled session (a Sanic `after_server_stop` listener: the channels register it)."""
    shared = _shared_sessions.pop(asyncio.get_running_loop(), None)
    if shared is not None:
        await shared.close()


class _CopyOnlyForDebugLogs:
    """`copy` as the Rasa modules in DEBUG_COPYING_MODULES see it: every `copy.deepcopy` there copies a value
    only to pass it to a structlog debug line (tests/test_rasa_speed.py checks that against Rasa's source).
    Rasa's structlog writes a line only if the standard logger of the module it is called from is enabled
    for the level (`structlog.stdlib.filter_by_level`): without that, nothing is copied."""

    def __init__(self, module_name: str) -> None:
        self._logger = logging.getLogger(module_name)

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        return copy.deepcopy(value, memo) if self._logger.isEnabledFor(logging.DEBUG) else value


DEBUG_COPYING_MODULES = ("rasa.core.processor", "rasa.core.policies.rule_policy", "rasa.core.policies.memoization")


def install() -> None:
    DialogueStateTracker.copy = _copy
    DialogueStateTracker.applied_events = _applied_events
    FormAction._temporary_tracker = _form_temporary_tracker
    MessageProcessor._predict_next_with_tracker = _predict_next_with_tracker
    TEDPolicy.predict_action_probabilities = _ted_predict
    RemoteAction._validate_action_result = _validate_action_result
    RemoteAction._action_call_format = _action_call_format
    EndpointConfig.session = _borrowed_session
    Domain.states_for_tracker_history = _states_for_tracker_history
    RulePolicy._get_possible_keys = _get_possible_keys
    import importlib
    for name in DEBUG_COPYING_MODULES:
        module = importlib.import_module(name)
        module.copy = _CopyOnlyForDebugLogs(name)


install()
