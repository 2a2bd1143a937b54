"""Load on the REST channel: latency and throughput at several concurrencies, one long conversation, and the
memory of every process, for one or more running bots compared with a baseline. Writes markdown.

    python -m bench.load --target ours=http://127.0.0.1:5101 --target bare=http://127.0.0.1:5103 \\
        --baseline bare --pids ours=PID,PID,… --pids bare=PID [--levels 1 10 50] [--duration 60] \\
        [--long-turns 200] [--note TEXT]… [--out bench/load.md]

A target is a base URL: one Rasa, or a proxy in front of several. The baseline target (a bare `rasa init` bot,
bench/bare/) gets that bot's greet/mood/goodbye turns and is the denominator of every ratio; every other
target gets the assistant's turns. Targets are measured one after another, never at once. `--pids NAME=…`
lists the processes whose RSS (/proc/PID/status VmRSS) is sampled for target NAME, after each step.
Every response must be HTTP 200 with at least one reply; anything else is counted as an error, and any
error makes the exit status 1 (after the report is written). No message text is logged.
`python -m bench.run_load` starts the servers and calls this.
"""
from __future__ import annotations

import argparse
import asyncio
import math
import os
import platform
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
LONG_WINDOW = 10  # turns at each end of the long conversation whose medians are compared
LONG_TARGET_RATIO = 1.2  # issue 15: a late turn may cost at most 1.2× an early one


@dataclass(frozen=True)
class Bot:
    """What a simulated person types to one kind of bot."""
    description: str
    conversation_turns: tuple[str, ...]
    places: tuple[str, ...]  # put into "{place}" in turn, one per conversation, so searches vary
    long_cycle: tuple[str, ...]  # ordinary messages, no crisis wording, cycled through one long conversation

    def conversation(self, number: int) -> list[str]:
        place = self.places[number % len(self.places)] if self.places else ""
        return [turn.format(place=place) for turn in self.conversation_turns]


# The form as people answer it (tests/data/conversations_e2e.yml): a greeting, how they feel (the assistant
# asks what they meant), then who the support is for, the stage, a place and a format, suggestions, a question.
ASSISTANT = Bot(
    description="the assistant",
    conversation_turns=("hi", "I'm struggling since my baby was born", "I'd like to find some support",
                        "I'm a mum", "baby's 3 months", "{place}", "a group", "is it free?", "thanks"),
    places=("Dundee", "Glasgow", "Fife", "Inverness", "Paisley", "Stirling", "Ayr", "Perth"),
    long_cycle=("hello", "what is peer support?", "is it free?", "mum in Dundee with a 3 month old, a group please",
                "are you a real person?", "thanks"))
# `rasa init`'s bot knows greet, moods, affirm/deny, bot_challenge and goodbye.
BARE = Bot(
    description="the bare `rasa init` bot",
    conversation_turns=("hello", "I am feeling sad", "yes", "are you a bot?", "bye"),
    places=(),
    long_cycle=("hi", "I am great", "are you a bot?", "I am sad", "yes", "goodbye"))


# --- talking to a bot ----------------------------------------------------------------------------------
async def say(session: aiohttp.ClientSession, base_url: str, sender: str, text: str) -> tuple[float, str | None]:
    """One REST turn: (seconds until the whole reply was read, None or what went wrong)."""
    started = time.perf_counter()
    try:
        async with session.post(f"{base_url}/webhooks/rest/webhook",
                                json={"sender": sender, "message": text}) as response:
            replies = await response.json(content_type=None) if response.status == 200 else None
            status = response.status
    except asyncio.TimeoutError:
        return time.perf_counter() - started, "timeout"
    except aiohttp.ClientError as error:
        return time.perf_counter() - started, type(error).__name__
    except ValueError:
        return time.perf_counter() - started, "reply not JSON"
    elapsed = time.perf_counter() - started
    if status != 200:
        return elapsed, f"HTTP {status}"
    if not isinstance(replies, list) or not replies:
        return elapsed, "no reply"
    return elapsed, None


def new_sender(kind: str) -> str:
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def client_session(connections: int, timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections),
                                 timeout=aiohttp.ClientTimeout(total=timeout))


@dataclass
class Turns:
    """Latencies (seconds) of answered turns, in order, and the errors by kind."""
    latencies: list[float] = field(default_factory=list)
    errors: Counter = field(default_factory=Counter)
    elapsed: float = 0.0

    def record(self, seconds: float, error: str | None) -> None:
        if error:
            self.errors[error] += 1
        else:
            self.latencies.append(seconds)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def percentile_ms(self, fraction: float) -> float:
        return percentile(self.latencies, fraction) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least `fraction` of the values at or below it."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


async def conversations(base_url: str, bot: Bot, users: int, seconds: float, timeout: float,
                        kind: str = "load") -> Turns:
    """`users` virtual people, each running whole conversations one after another (a fresh sender id each),
    until `seconds` have passed; a turn under way at the deadline is finished, no new one is started."""
    turns = Turns()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds

    async def person(session: aiohttp.ClientSession, number: int) -> None:
        conversation = number
        while loop.time() < deadline:
            sender = new_sender(kind)
            for text in bot.conversation(conversation):
                if loop.time() >= deadline:
                    return
                turns.record(*await say(session, base_url, sender, text))
            conversation += users

    async with client_session(users, timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(person(session, number) for number in range(users)))
        turns.elapsed = time.perf_counter() - started
    return turns


async def long_conversation(base_url: str, bot: Bot, turn_count: int, timeout: float) -> Turns:
    """One sender, `turn_count` turns in sequence; latencies stay in turn order (an error leaves a gap)."""
    turns = Turns()
    sender = new_sender("long")
    async with client_session(1, timeout) as session:
        started = time.perf_counter()
        for number in range(turn_count):
            seconds, error = await say(session, base_url, sender, bot.long_cycle[number % len(bot.long_cycle)])
            turns.record(seconds, error)
        turns.elapsed = time.perf_counter() - started
    return turns


async def warm_up(base_url: str, bot: Bot, timeout: float) -> Turns:
    """One conversation and one pass of the long cycle, so lazily loaded parts don't count against turn 1."""
    turns = Turns()
    async with client_session(1, timeout) as session:
        for sender, texts in ((new_sender("warm"), bot.conversation(0)), (new_sender("warm"), bot.long_cycle)):
            for text in texts:
                turns.record(*await say(session, base_url, sender, text))
    return turns


# --- processes and the machine ---------------------------------------------------------------------------
def rss_mib(pid: int) -> float | None:
    """Resident memory of a process, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None  # gone, or a zombie (no VmRSS line)


def cpu_seconds(pids: list[int]) -> float | None:
    """User and system CPU time the processes have used so far (/proc/PID/stat), or None if one is gone."""
    total = 0
    try:
        for pid in pids:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return None
    return total / os.sysconf("SC_CLK_TCK")


def process_name(pid: int) -> str:
    """A short name from the command line: `rasa run`, the module of `python -m …`, else the program."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return "?"
    words = [word.decode(errors="replace") for word in argv if word]
    if "-m" in words[:-1]:
        return words[words.index("-m") + 1]
    programs = [Path(word).name for word in words]
    if "rasa" in programs:
        return " ".join(programs[programs.index("rasa"):programs.index("rasa") + 2])
    return programs[0] if programs else "?"


def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor() or "unknown CPU")
    meminfo = Path("/proc/meminfo").read_text().splitlines()
    memory_kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal:"))
    return (f"{cpu}, nproc {os.cpu_count()}, {memory_kib / 1024 ** 2:.1f} GiB RAM, "
            f"Python {platform.python_version()}")


def code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=HERE, capture_output=True, text=True).stdout.strip()
    commit = git("rev-parse", "--short", "HEAD")
    if not commit:
        return "an unknown version (no git)"
    return f"commit {commit}" + (" with uncommitted changes" if git("status", "--porcelain") else "")


def named(values: list[str], what: str) -> dict[str, str]:
    """NAME=VALUE arguments as a dict (in order)."""
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name or not rest:
            raise SystemExit(f"{what} must be NAME=VALUE, not {value!r}")
        pairs[name] = rest
    return pairs


def parse_pids(values: list[str]) -> dict[str, list[int]]:
    try:
        return {name: [int(pid) for pid in pids.split(",")] for name, pids in named(values, "--pids").items()}
    except ValueError:
        raise SystemExit("--pids must be NAME=PID[,PID…] with whole-number PIDs") from None


# --- the run and its report --------------------------------------------------------------------------------
@dataclass
class Results:
    levels: dict[int, dict[str, Turns]] = field(default_factory=dict)  # concurrency → target → turns
    long: dict[str, Turns] = field(default_factory=dict)
    warm_up: dict[str, Turns] = field(default_factory=dict)
    memory: dict[str, dict[int, float | None]] = field(default_factory=dict)  # step → pid → MiB
    process_names: dict[int, str] = field(default_factory=dict)  # read while the process is alive
    load_averages: list[float] = field(default_factory=list)  # the machine's 1-minute load, at start and end
    cpu_ms: dict[int, dict[str, float | None]] = field(default_factory=dict)  # concurrency → target → per message

    def all_turns(self) -> list[Turns]:
        return [*self.warm_up.values(), *self.long.values(),
                *(turns for level in self.levels.values() for turns in level.values())]


async def run(targets: dict[str, str], baseline: str | None, pids: dict[str, list[int]], levels: list[int],
              seconds: float, long_turns: int, timeout: float) -> Results:
    results = Results(load_averages=[os.getloadavg()[0]])
    bots = {name: BARE if name == baseline else ASSISTANT for name in targets}

    def sample(step: str, names) -> None:
        step_memory = results.memory.setdefault(step, {})
        for name in names:
            for pid in pids.get(name, []):
                step_memory[pid] = rss_mib(pid)
                results.process_names.setdefault(pid, process_name(pid))

    for name, url in targets.items():
        results.warm_up[name] = turns = await warm_up(url, bots[name], timeout)
        print(f"{name}: warmed up ({turns.error_count} errors)", flush=True)
        sample("after warm-up", [name])
    for name, url in targets.items():
        results.long[name] = turns = await long_conversation(url, bots[name], long_turns, timeout)
        print(f"{name}: {long_turns}-turn conversation, {turns.error_count} errors", flush=True)
        sample(f"after the {long_turns}-turn conversation", [name])
    for users in levels:
        for name, url in targets.items():
            cpu_before = cpu_seconds(pids.get(name, []))
            turns = await conversations(url, bots[name], users, seconds, timeout)
            cpu_after = cpu_seconds(pids.get(name, []))
            results.levels.setdefault(users, {})[name] = turns
            results.cpu_ms.setdefault(users, {})[name] = (
                (cpu_after - cpu_before) * 1000 / len(turns.latencies)
                if pids.get(name) and cpu_before is not None and cpu_after is not None and turns.latencies else None)
            print(f"{name} at {users:>3} concurrent: {len(turns.latencies)} messages, {turns.error_count} errors, "
                  f"p50 {turns.percentile_ms(0.5):.0f} ms, p95 {turns.percentile_ms(0.95):.0f} ms, "
                  f"{turns.throughput:.1f} msg/s", flush=True)
            sample(f"after {users} concurrent", [name])
    results.load_averages.append(os.getloadavg()[0])
    return results


def _ms(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:.0f}"


def _ratio(ours: float, theirs: float) -> str:
    return "–" if not theirs or math.isnan(ours) or math.isnan(theirs) else f"{ours / theirs:.1f}×"


def _errors(turns: Turns) -> str:
    if not turns.errors:
        return "0"
    return f"{turns.error_count} ({', '.join(f'{kind}: {count}' for kind, count in turns.errors.most_common())})"


def report(results: Results, targets: dict[str, str], baseline: str | None, pids: dict[str, list[int]],
           seconds: float, long_turns: int, notes: list[str]) -> str:
    bots = {name: BARE if name == baseline else ASSISTANT for name in targets}
    others = [name for name in targets if name != baseline]
    lines = ["# Load: latency, throughput and memory over REST", "",
             f"Measured {date.today()} on {machine()}, {code_version()}; the client runs on the same machine, on "
             "loopback. The machine's load average (1 minute) was "
             + " at the start and ".join(f"{value:.1f}" for value in results.load_averages)
             + " at the end, this run's own processes included.", ""]
    lines += [f"- {note}" for note in notes]
    lines += [f"- Targets: {', '.join(f'`{name}` ({bots[name].description}, {url})' for name, url in targets.items())}"
              + (f"; `{baseline}` is the baseline of every ratio." if baseline else "."),
              f"- Each level: that many virtual people at once, each running whole conversations in sequence with "
              f"a fresh sender id, for {seconds:g} s (a turn under way at the end is finished). Throughput counts "
              "answered messages over the level's wall time. An error is anything but HTTP 200 with at least "
              "one reply. Before measuring, each target is warmed up with one conversation and one pass of "
              "the long conversation's messages (errors: "
              + ", ".join(f"`{name}` {_errors(turns)}" for name, turns in results.warm_up.items()) + ").", ""]
    lines += ["## Latency and throughput", "",
              "CPU ms a message: the CPU time (user + system) the target's listed processes used during the level, "
              "over the messages answered; the cost of a turn, whatever else the shared machine was doing.", "",
              "| concurrent | target | messages | errors | p50 (ms) | p95 (ms) | p99 (ms) | msg/s | CPU ms a message |",
              "|---:|---|---:|---|---:|---:|---:|---:|---:|"]
    for users, by_target in results.levels.items():
        for name, turns in by_target.items():
            cpu = results.cpu_ms.get(users, {}).get(name)
            lines.append(f"| {users} | {name} | {len(turns.latencies)} | {_errors(turns)} | "
                         f"{_ms(turns.percentile_ms(0.5))} | {_ms(turns.percentile_ms(0.95))} | "
                         f"{_ms(turns.percentile_ms(0.99))} | {turns.throughput:.1f} | "
                         f"{'–' if cpu is None else f'{cpu:.1f}'} |")
    if baseline and others:
        lines += ["", f"Ratios to `{baseline}` (latency: higher is slower; throughput: lower is fewer messages a "
                      "second).", "",
                  "| concurrent | target | p50 | p95 | p99 | throughput |", "|---:|---|---:|---:|---:|---:|"]
        for users, by_target in results.levels.items():
            base = by_target[baseline]
            for name in others:
                turns = by_target[name]
                lines.append(f"| {users} | {name} | "
                             + " | ".join(_ratio(turns.percentile_ms(q), base.percentile_ms(q))
                                          for q in (0.5, 0.95, 0.99))
                             + f" | {_ratio(turns.throughput, base.throughput)} |")
    first, last = f"1–{LONG_WINDOW}", f"{long_turns - LONG_WINDOW + 1}–{long_turns}"
    lines += ["", "## One long conversation", "",
              f"One sender, {long_turns} turns in sequence, cycling ordinary messages (no crisis wording), measured "
              f"after the warm-up and before the levels. Median latency of turns {first} and {last}; target: "
              f"≤ {LONG_TARGET_RATIO}×.", "",
              f"| target | errors | turns {first} (ms) | turns {last} (ms) | ratio | ≤ {LONG_TARGET_RATIO}× |",
              "|---|---|---:|---:|---:|---|"]
    for name, turns in results.long.items():
        if turns.error_count or len(turns.latencies) < 2 * LONG_WINDOW:  # gaps would shift the turn numbers
            lines.append(f"| {name} | {_errors(turns)} | – | – | – | not measured |")
            continue
        early = statistics.median(turns.latencies[:LONG_WINDOW]) * 1000
        late = statistics.median(turns.latencies[-LONG_WINDOW:]) * 1000
        lines.append(f"| {name} | 0 | {early:.0f} | {late:.0f} | {late / early:.1f}× | "
                     f"{'yes' if late / early <= LONG_TARGET_RATIO else 'no'} |")
    steps = list(results.memory)
    lines += ["", "## Memory (RSS, MiB)", "",
              "Resident memory of each process (/proc/PID/status VmRSS) after each step; – when the process "
              "was not sampled then or had gone.", "",
              "| target | process | pid | " + " | ".join(steps) + " |",
              "|---|---|---:|" + "---:|" * len(steps)]
    for name in targets:
        for pid in pids.get(name, []):
            values = [results.memory[step].get(pid) for step in steps]
            lines.append(f"| {name} | {results.process_names.get(pid, '?')} | {pid} | "
                         + " | ".join("–" if value is None else f"{value:.0f}" for value in values) + " |")
        if len(pids.get(name, [])) > 1:
            totals = []
            for step in steps:
                values = [results.memory[step].get(pid) for pid in pids[name]]
                totals.append("–" if any(value is None for value in values) else f"{sum(values):.0f}")
            lines.append(f"| {name} | **all** | | " + " | ".join(totals) + " |")
    lines += ["", "## Turns", ""]
    for name in targets:
        bot = bots[name]
        example = ", ".join(f"“{text}”" for text in bot.conversation(0))
        places = f" (the place varies: {', '.join(bot.places)})" if bot.places else ""
        lines += [f"- `{name}`, each conversation{places}: {example}.",
                  f"- `{name}`, the long conversation cycles: {', '.join(f'“{text}”' for text in bot.long_cycle)}."]
    lines += ["", "Reproduce: `make bench-load` (one instance, as `make run` starts it) or `make bench-load-prod` (the "
              "production profile); each starts both bots (`python -m bench.run_load --help`)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", action="append", required=True, metavar="NAME=BASE_URL")
    parser.add_argument("--baseline", metavar="NAME", help="the bare `rasa init` bot's target")
    parser.add_argument("--pids", action="append", default=[], metavar="NAME=PID[,PID…]")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 10, 50], metavar="CONCURRENT")
    parser.add_argument("--duration", type=float, default=60, help="seconds per level and target (default 60)")
    parser.add_argument("--long-turns", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a turn counts as an error")
    parser.add_argument("--note", action="append", default=[], help="a line for the report's setup list")
    parser.add_argument("--out", type=Path, default=HERE / "load.md")
    args = parser.parse_args(argv)
    targets = {name: url.rstrip("/") for name, url in named(args.target, "--target").items()}
    pids = parse_pids(args.pids)
    if args.baseline and args.baseline not in targets:
        parser.error(f"--baseline {args.baseline} is not a --target")
    if unknown := set(pids) - set(targets):
        parser.error(f"--pids names no --target: {', '.join(sorted(unknown))}")
    if args.long_turns < 2 * LONG_WINDOW:
        parser.error(f"--long-turns must be at least {2 * LONG_WINDOW}")
    results = asyncio.run(run(targets, args.baseline, pids, args.levels, args.duration, args.long_turns,
                              args.timeout))
    args.out.write_text(report(results, targets, args.baseline, pids, args.duration, args.long_turns, args.note),
                        encoding="utf-8")
    print(f"Wrote {args.out}")
    errors = sum(turns.error_count for turns in results.all_turns())
    if errors:
        print(f"{errors} turns failed (see the report)", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
