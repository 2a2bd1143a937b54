"""Whole-turn latency over REST: real Rasa + action server + seed directory, on loopback.

    MODEL=models/<fingerprint>.tar.gz python -m bench.conversation_latency [--conversations 20]

Each conversation: a greeting, a first message that says who/where/what, the answer to the one
question left (suggestions come back), and a crisis message. Writes bench/conversation.md.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import date
from pathlib import Path

from bench.directory_search import machine
from tests.servers import Servers

TURNS = (("greeting", "hi"),
         ("first message", "any groups for dads in Fife?"),
         ("answer → suggestions", "my partner is pregnant"),
         ("crisis message", "I want to kill myself"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--conversations", type=int, default=20)
    args = parser.parse_args()
    timings: dict[str, list[float]] = defaultdict(list)
    servers = Servers(Path(tempfile.mkdtemp(prefix="bench-"))).start()
    try:
        servers.say("warm-up", "hello")
        for _ in range(args.conversations):
            sender = f"bench-{uuid.uuid4().hex[:8]}"
            for name, text in TURNS:
                started = time.perf_counter()
                replies = servers.say(sender, text)
                timings[name].append((time.perf_counter() - started) * 1000)
                assert replies, f"no reply to {text!r}"
    finally:
        servers.stop()
    rows = []
    for name, _ in TURNS:
        values = sorted(timings[name])
        p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
        rows.append(f"| {name} | {statistics.median(values):.0f} | {p95:.0f} | {max(values):.0f} |")
        print(f"{name:22s} p50 {statistics.median(values):.0f} ms, p95 {p95:.0f} ms")
    lines = ["# Conversation turn latency", "",
             f"Measured {date.today()} on {machine()}; one client, sequential turns, over REST on loopback.",
             f"{args.conversations} conversations of {len(TURNS)} turns; each time is the whole HTTP round trip",
             "(NLU, policies, custom actions and the directory search, the SQLite tracker store and the",
             "crisis component's three nets, with the token-checked action server; the escalation broker now "
             "writes on its own thread, off the turn).", "",
             "| turn | p50 (ms) | p95 (ms) | max (ms) |", "|---|---:|---:|---:|", *rows, "",
             "Reproduce: `MODEL=models/<fingerprint>.tar.gz .venv/bin/python -m bench.conversation_latency`."]
    (Path(__file__).parent / "conversation.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
