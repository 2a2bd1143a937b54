"""Crisis detection latency per message: every language's lexicon and the English one, as `bot.crisis.detect`
runs on every message (the crisis component, the silence guard and the escalation broker each call it).

    make bench-crisis      # or: python -m bench.crisis_detection [--repeat 3]

Times `detect` on each message of the English lexicon's labelled set and of the multilingual development
sets, after a warm-up; prints the median, p95 and mean in ms with the machine. Then the two crisis nets: how long
each takes to train (a process that starts after their training files changed), how long to read back from the
disk cache (every other start), and each one's reading of a message on the same sets. Reported, never asserted:
these machines are shared (bench/results.md).
"""
from __future__ import annotations

import argparse
import statistics
import time

import yaml

from bench.directory_search import machine
from bot import PROJECT_ROOT
from bot.crisis import detect

SETS = {"English lexicon set": PROJECT_ROOT / "data" / "crisis" / "corpus" / "lexicon_set.yml"}


def texts(path) -> list[str]:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    items = raw.get("messages") if isinstance(raw, dict) else raw
    return [item["text"] for item in items or [] if isinstance(item, dict) and isinstance(item.get("text"), str)]


def _row(name: str, messages: list[str], measure, repeat: int) -> str:
    for text in messages[:50]:
        measure(text)  # warm-up: lingua's models, caches
    times = []
    for _ in range(repeat):
        for text in messages:
            started = time.perf_counter()
            measure(text)
            times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return (f"| {name} | {len(messages)} | {statistics.median(times):.2f} | {times[int(0.95 * len(times))]:.2f} | "
            f"{statistics.mean(times):.2f} |")


def nets(sets: dict[str, list[str]], repeat: int) -> None:
    from bot.nlu import crisis_net
    print("\n| crisis net | messages learned | trained in (s) | read back from its cache in (s) |\n|---|---:|---:|---:|")
    trained = {}
    for name, build, learned in (("English", crisis_net.net, crisis_net.training_set),
                                 ("other languages", crisis_net.languages_net,
                                  lambda: crisis_net.training_set() + crisis_net.read_other_languages())):
        build()  # trained and kept on disk if it was not already (.cache/crisis-nets/)
        build.cache_clear()
        started = time.perf_counter()
        trained[name] = build()
        read_back = time.perf_counter() - started
        training = learned()
        started = time.perf_counter()
        crisis_net.CrisisNet(training)
        print(f"| {name} | {len(training)} | {time.perf_counter() - started:.1f} | {read_back:.1f} |")
    print("\n| a message read by the net | n | median (ms) | p95 (ms) | mean (ms) |\n|---|---:|---:|---:|---:|")
    for (net_name, messages_name) in (("English", "English lexicon set"),
                                      ("other languages", "seven other languages (development sets)")):
        print(_row(f"{net_name} net, {messages_name}", sets[messages_name], trained[net_name].view, repeat))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sets = {name: texts(path) for name, path in SETS.items()}
    sets["seven other languages (development sets)"] = [
        text for path in sorted((PROJECT_ROOT / "tests" / "data" / "multilingual").glob("*.yml"))
        if path.stem != "language_id" for text in texts(path)]
    print(f"# Crisis detection latency: {time.strftime('%Y-%m-%d')}, {machine()}\n")
    print("| messages | n | median (ms) | p95 (ms) | mean (ms) |\n|---|---:|---:|---:|---:|")
    for name, messages in sets.items():
        print(_row(name, messages, detect, args.repeat))
    nets(sets, args.repeat)


if __name__ == "__main__":
    main()
