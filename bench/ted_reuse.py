"""How often TEDPolicy's prediction is reused on varied conversations, and that reuse changes no prediction.

    MODEL=… python -m bench.narrow_history --play tests/data/conversations_e2e.yml /tmp/varied.db   # once
    MODEL=models/<fingerprint>.tar.gz python -m bench.ted_reuse /tmp/varied.db

bot/rasa_speed.py keeps TED's prediction by the states TED reads (the last max_history states) and reuses it for
equal states. The load and profile benches replay the same messages, so there almost every prediction is
reused; this measures it on a recorded conversation of varied turns instead (tests/data/conversations_e2e.yml's
51 conversations played one after another, with crisis and possible-risk turns between). The trained model
predicts in process at every action of it, from the last 10 user turns as the server does, starting with
nothing kept (after an untimed pass with TED's network on every prediction, the reference): it counts the
predictions for which TED ran its network and the predictions that differ from the reference (action, policy,
confidence), then times the reference once more.
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from pathlib import Path

import sqlalchemy as sa
from rasa.core.policies.ted_policy import TEDPolicy
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActionExecuted, UserUttered

from bench.directory_search import machine
from bench.narrow_history import describe, narrowed
from bot import rasa_speed

RECENT = rasa_speed.RECENT_USER_TURNS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tracker_db", type=Path, help="a tracker store (SQLite) holding a long varied conversation")
    args = parser.parse_args()
    from rasa.core.agent import Agent
    from rasa.utils.log_utils import configure_structlog
    configure_structlog(logging.WARNING)
    agent = Agent.load(os.environ["MODEL"])
    processor, domain = agent.processor, agent.domain
    node = next(node for node in processor.graph_runner._instantiated_nodes.values()
                if isinstance(getattr(node, "_component", None), TEDPolicy))
    ted = node._component

    def use(predict) -> None:  # a graph node holds the function it was built with, not the class attribute
        node._fn = predict
    store = SQLTrackerStore(domain=domain, dialect="sqlite", db=str(args.tracker_db))
    with store.session_scope() as session:
        sender = session.query(store.SQLEvent.sender_id).group_by(store.SQLEvent.sender_id).order_by(
            sa.func.count(store.SQLEvent.id).desc()).first()[0]
    events = list((asyncio.run(store.retrieve(sender))).events)
    points = [i for i, event in enumerate(events) if isinstance(event, ActionExecuted) and i > 2]
    trackers = [narrowed(sender, events[:i], RECENT, domain.slots) for i in points]

    def predict_all() -> tuple[list, float]:
        started = time.perf_counter()
        results = [describe(processor._predict_next_with_tracker(tracker), domain) for tracker in trackers]
        return results, (time.perf_counter() - started) * 1000 / len(trackers)

    use(rasa_speed._rasa_ted_predict)
    plain, _ = predict_all()  # also warms Rasa's and TensorFlow's caches before anything is timed
    network_runs = []
    create_model_data = ted._create_model_data
    ted._create_model_data = lambda *a, **k: network_runs.append(1) or create_model_data(*a, **k)
    ted.__dict__.pop("_kept_predictions", None)
    use(rasa_speed._ted_predict)
    reused, reuse_ms = predict_all()
    runs_with_reuse, kept = len(network_runs), len(ted._kept_predictions)
    use(rasa_speed._rasa_ted_predict)
    _, plain_ms = predict_all()
    differ = [(i, a, b) for i, a, b in zip(points, plain, reused) if a != b]

    print(f"# TEDPolicy's predictions reused: {time.strftime('%Y-%m-%d')}, {machine()}")
    print(f"Conversation {sender}: {sum(isinstance(e, UserUttered) for e in events)} user turns, "
          f"{len(points)} predictions (each from the last {RECENT} user turns).\n")
    print(f"- TED ran its network for {runs_with_reuse} of {len(points)} predictions "
          f"({runs_with_reuse / len(points):.0%}); {len(points) - runs_with_reuse} reused; {kept} states kept")
    print(f"- predictions that differ from TED running its network every time: {len(differ)} of {len(points)}")
    for i, a, b in differ[:5]:
        print(f"  - at event {i}: network every time → {a}, with reuse → {b}")
    print(f"- ms per prediction, all three policies, in process (mean): {plain_ms:.1f} with the network every time, "
          f"{reuse_ms:.1f} with reuse, starting with nothing kept (after an untimed pass that warms caches)")


if __name__ == "__main__":
    main()
