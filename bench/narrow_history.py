"""Experiment: do the policies need a long conversation's whole history to predict the next action?

    python -m bench.profile_turn --stores ours --keep /tmp/kept     # plays a 200-turn conversation, keeps it
    MODEL=models/<fingerprint>.tar.gz python -m bench.narrow_history /tmp/kept/ours-tracker.db [--keep-turns 5 10 20]
    MODEL=… python -m bench.narrow_history --play tests/data/conversations_e2e.yml /tmp/varied.db
        (first plays every turn of that file, with crisis and possible-risk messages between, as ONE conversation
        against the real servers on ports 5210/5211, keeping its tracker store at /tmp/varied.db)

Every policy in config.yml featurises the whole tracker on each prediction (Domain.states_for_tracker_history
replays every event), though MemoizationPolicy and TEDPolicy then keep the last 5 states and RulePolicy
matches rules (one user turn long at most) from the end. Here the trained model predicts, in process, at
every action of the kept conversation: once with the whole session, as Rasa does, and once with a narrowed
tracker — the state at a cut (slots, active loop) followed by the events of the last N user turns. It counts
predictions that differ (action, policy, confidence) and times both where the conversation is longest.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
import yaml
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, ActiveLoop, Event, LoopInterrupted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bench.directory_search import machine
from bench.profile_turn import ProfiledServers, endpoints_for

LATE_PREDICTIONS = 40  # timed at the end of the conversation, where the history is longest
# Between every fifth conversation played with --play: the safety paths (rules, the possible-risk question).
SAFETY_TURNS = ("I want to kill myself", "thank you", "i just want to disappear", "no", "hi")


def play(conversations: Path, tracker_db: Path) -> None:
    """Every turn of a conversations file (tests/data/conversations_e2e.yml's format) as one conversation."""
    workdir = Path(tempfile.mkdtemp(prefix="narrow-history-"))
    (workdir / "profiles").mkdir()
    servers = ProfiledServers(workdir, rasa_port=5210, actions_port=5211, endpoints=endpoints_for("ours", workdir),
                              profile_dir=workdir / "profiles").start()
    try:
        for number, conversation in enumerate(yaml.safe_load(conversations.read_text(encoding="utf-8"))):
            for text in [turn["say"] for turn in conversation["turns"]] + list(
                    SAFETY_TURNS if number % 5 == 4 else ()):
                servers.say("narrow-history", text)
    finally:
        servers.stop()
    shutil.copyfile(workdir / "tracker.db", tracker_db)
    shutil.rmtree(workdir, ignore_errors=True)


def narrowed(sender: str, events: list[Event], keep_turns: int, slots) -> DialogueStateTracker:
    """The state at the cut as events (slots, active loop), then the events of the last `keep_turns` user turns."""
    user_turns = [i for i, event in enumerate(events) if isinstance(event, UserUttered)]
    if len(user_turns) <= keep_turns:
        return DialogueStateTracker.from_events(sender, events, slots)
    cut = user_turns[-keep_turns] - 1  # from the action_listen before that message
    before = DialogueStateTracker.from_events(sender, events[:cut], slots)
    state: list[Event] = [SlotSet(name, slot.value) for name, slot in before.slots.items()
                          if slot.value != slot.initial_value]
    if before.active_loop and before.active_loop.name:
        state.append(ActiveLoop(before.active_loop.name))
        if before.active_loop.is_interrupted:
            state.append(LoopInterrupted(True))
    return DialogueStateTracker.from_events(sender, state + events[cut:], slots)


def describe(prediction, domain) -> tuple[str, str | None, float]:
    return (domain.action_names_or_texts[prediction.max_confidence_index], prediction.policy_name,
            round(prediction.max_confidence, 4))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tracker_db", type=Path, help="a tracker store (SQLite) holding a long conversation")
    parser.add_argument("--play", type=Path, help="first play this conversations file into tracker_db")
    parser.add_argument("--sender", help="default: the conversation with the most events")
    parser.add_argument("--keep-turns", type=int, nargs="+", default=[5, 10, 20])
    args = parser.parse_args()
    if args.play:
        play(args.play, args.tracker_db)
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog
    configure_structlog(logging.WARNING)  # else every prediction prints its states
    agent = Agent.load(os.environ.get("MODEL") or "models/2a67e43b39251696.tar.gz")
    processor, domain = agent.processor, agent.domain
    store = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(args.tracker_db))
    with store.session_scope() as session:
        sender = args.sender or session.query(store.SQLEvent.sender_id).group_by(store.SQLEvent.sender_id).order_by(
            sa.func.count(store.SQLEvent.id).desc()).first()[0]
    tracker = asyncio.run(store.retrieve(sender))
    events = list(tracker.events)
    points = [i for i, event in enumerate(events) if isinstance(event, ActionExecuted) and i > 2]
    late = set(points[-LATE_PREDICTIONS:])
    print(f"# Narrower history for prediction: {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"Conversation {sender}: {sum(isinstance(e, UserUttered) for e in events)} user turns, {len(events)} "
          f"events in the session, {len(points)} predictions.\n")
    print("| history given to the policies | predictions that differ | ms per prediction, last "
          f"{LATE_PREDICTIONS} (median) | building the narrowed tracker (median ms) |")
    print("|---|---:|---:|---:|")
    full_results, full_times = {}, []
    for i in points:
        prefix = DialogueStateTracker.from_events(sender, events[:i], domain.slots)
        started = time.perf_counter()
        full_results[i] = describe(processor._predict_next_with_tracker(prefix), domain)
        if i in late:
            full_times.append((time.perf_counter() - started) * 1000)
    print(f"| whole session (Rasa 3.6) | – | {statistics.median(full_times):.1f} | – |")
    for keep in args.keep_turns:
        differ, times, building = [], [], []
        for i in points:
            started = time.perf_counter()
            narrow = narrowed(sender, events[:i], keep, domain.slots)
            built = time.perf_counter()
            result = describe(processor._predict_next_with_tracker(narrow), domain)
            if i in late:
                building.append((built - started) * 1000)
                times.append((time.perf_counter() - built) * 1000)
            if result != full_results[i]:
                differ.append((i, full_results[i], result))
        print(f"| last {keep} user turns | {len(differ)} of {len(points)} | {statistics.median(times):.1f} | "
              f"{statistics.median(building):.1f} |")
        for i, full, narrow in differ[:5]:
            print(f"|   at event {i}: whole → {full}, narrowed → {narrow} | | | |")


if __name__ == "__main__":
    main()
