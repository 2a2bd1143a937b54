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
- The action server is sent the same recent conversation. The facts our actions need from further back are
  in slots (`crisis_met`, `questions_asked`; domain.yml), and the current slots, latest message and active
  loop are exactly those of the whole tracker.
- The reply check is the same check, with the validator built once.
- TEDPolicy's prediction is reused when the states it reads are the ones of an earlier prediction: it reads
  only the last max_history states (intents, entity names, slots as featurised, the previous action, the
  active loop) and its network is fixed once loaded, so equal states give equal confidences. Its network
  call was about 4 ms of every prediction in the server, 2.8 predictions a turn (bench/profile.md).

`install()` runs when this module is imported, which bot/rasa_stores.py does: every `rasa run` loads the
tracker store from endpoints.yml, so every process that serves the assistant has all four. (`rasa test` and
`rasa shell` without our endpoints give the policies the whole session, which predicts the same.)
"""
import array
import dataclasses
import functools
from collections import OrderedDict
from typing import Any, Dict, Optional

from rasa.core.actions.action import RemoteAction
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.processor import MessageProcessor
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, Event, LoopInterrupted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT

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
    """Rasa's request to the action server, with the recent conversation instead of the whole session."""
    return _rasa_action_call_format(self, recent_tracker(tracker, domain.slots), domain)


_rasa_ted_predict = TEDPolicy.predict_action_probabilities
TED_PREDICTIONS_KEPT = 10_000  # about 2 KB each (one double per action, and the states)


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
    key = _frozen(self._prediction_states(tracker, domain, rule_only_data=rule_only_data))
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


def install() -> None:
    MessageProcessor._predict_next_with_tracker = _predict_next_with_tracker
    TEDPolicy.predict_action_probabilities = _ted_predict
    RemoteAction._validate_action_result = _validate_action_result
    RemoteAction._action_call_format = _action_call_format


install()
