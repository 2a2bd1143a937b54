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

`install()` runs when this module is imported, which bot/rasa_stores.py does: every `rasa run` loads the
tracker store from endpoints.yml, so every process that serves the assistant has all of them. (`rasa test` and
`rasa shell` without our endpoints give the policies the whole session, which predicts the same.)
"""
import array
import asyncio
import copy
import dataclasses
import functools
import json
import logging
from collections import OrderedDict
from typing import Any, Dict, Optional

from rasa.core.actions.action import RemoteAction
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, Event, LoopInterrupted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT
from rasa.utils.endpoints import EndpointConfig

RECENT_USER_TURNS = 10

# The last narrowing, reused by the next caller with the same tracker unchanged: a prediction and the action
# call that follows it (a tuple, replaced whole, so a reader never sees half of it).
_last: Optional[tuple] = None


def recent_tracker(tracker: DialogueStateTracker, slots: Any) -> DialogueStateTracker:
    """The tracker narrowed to its last RECENT_USER_TURNS user turns, or the tracker itself when it is no
    longer than that. The state at the cut (slots that differ from their initial value, the active loop)
    comes first as events, so the narrowed tracker's current state equals the whole tracker's."""
    global _last
    last = _last
    if last is not None and last[0] is tracker and last[1] == len(tracker.events):
        return last[2]
    events = list(tracker.events)
    user_turns = [index for index, event in enumerate(events) if isinstance(event, UserUttered)]
    if len(user_turns) <= RECENT_USER_TURNS:
        return tracker
    cut = user_turns[-RECENT_USER_TURNS] - 1  # from the action_listen before that message
    narrowed = DialogueStateTracker.from_events(tracker.sender_id, _state_at(tracker.sender_id, events, cut, slots)
                                                + events[cut:], slots)
    narrowed.followup_action = tracker.followup_action
    if tracker.active_loop is not None:  # the message that started the loop may be before the cut
        narrowed.active_loop = dataclasses.replace(tracker.active_loop)
    _last = (tracker, len(tracker.events), narrowed)
    return narrowed


# Per conversation, the state at its last cut: (the event at the cut, its index, the state as events). The next
# cut replays only the events between the two, so finding the state does not grow with the conversation.
# Events are the same objects from turn to turn (the tracker store shares them), which identifies the prefix.
_cut_states: "OrderedDict[str, tuple[Event, int, list[Event]]]" = OrderedDict()
CUT_STATES_KEPT = 2_000


def _state_at(sender_id: str, events: list[Event], cut: int, slots: Any) -> list[Event]:
    known = _cut_states.get(sender_id)
    if known is not None and known[1] <= cut and known[1] < len(events) and events[known[1]] is known[0]:
        before = DialogueStateTracker.from_events(sender_id, known[2] + events[known[1]:cut], slots)
    else:
        before = DialogueStateTracker.from_events(sender_id, events[:cut], slots)
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
