"""Where the NLU pipeline's time goes, component by component, for one or more trained models in one run.

    python -m bench.nlu_components models/A.tar.gz [models/B.tar.gz ...] [--rounds 3]

Loads each model as `rasa run` does (Agent.load), parses the held-out NLU set (tests/data/nlu_heldout.yml:
ordinary messages nobody trained on) once to warm up, then --rounds more times with a timer around each graph
node (rasa.engine.graph.GraphNode.__call__), the models taking turns round by round so a busy machine slows
them alike. Prints, per model, the mean milliseconds per message of each node and of the whole parse.
"""
from __future__ import annotations

import argparse
import asyncio
import collections
import os
import platform
import statistics
import time
from pathlib import Path

import yaml

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HELD_OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "nlu_heldout.yml"


def held_out_messages() -> list[str]:
    data = yaml.safe_load(HELD_OUT.read_text(encoding="utf-8"))
    return [line[2:].strip() for block in data["nlu"] for line in block["examples"].splitlines()
            if line.startswith("- ")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import logging

    from rasa.core.agent import Agent
    from rasa.engine.graph import GraphNode
    from rasa.utils.log_utils import configure_structlog
    configure_structlog(logging.WARNING)  # not a debug line for every parse

    spent: dict[str, collections.Counter] = {}
    current: list[str] = [""]
    original_call = GraphNode.__call__

    def timed_call(self, *inputs):
        started = time.perf_counter()
        try:
            return original_call(self, *inputs)
        finally:
            if current[0]:
                spent[current[0]][self._node_name] += time.perf_counter() - started
    GraphNode.__call__ = timed_call  # type: ignore[method-assign]

    messages = held_out_messages()
    agents = {model: Agent.load(model) for model in args.models}
    whole: dict[str, list[float]] = {model: [] for model in args.models}

    async def parse_all(agent: Agent) -> float:
        started = time.perf_counter()
        for text in messages:
            await agent.parse_message(text)
        return time.perf_counter() - started

    for agent in agents.values():
        asyncio.run(parse_all(agent))  # warm-up, untimed
    for model in args.models:
        spent[model] = collections.Counter()
    for _ in range(args.rounds):
        for model, agent in agents.items():
            current[0] = model
            whole[model].append(asyncio.run(parse_all(agent)))
            current[0] = ""

    parses = len(messages) * args.rounds
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{len(messages)} held-out messages x {args.rounds} rounds")
    for model in args.models:
        print(f"\n{model}: whole parse {1000 * statistics.fmean(whole[model]) / len(messages):.1f} ms a message "
              f"(rounds: {', '.join(f'{1000 * t / len(messages):.1f}' for t in whole[model])})")
        for node, seconds in spent[model].most_common():
            if 1000 * seconds / parses >= 0.05:
                print(f"  {node:<60} {1000 * seconds / parses:6.2f} ms")


if __name__ == "__main__":
    main()
