"""Soak: thousands of turns over many conversations against one running assistant, watching for errors and
for memory that keeps growing. Bounded in turns and in time; loopback only in `make soak`.

    python -m bench.soak --url http://127.0.0.1:5101 --pids assistant=PID,PID,… [--conversations 200]
        [--turns 10] [--concurrency 10] [--sample-every 5] [--max-growth 10] [--max-seconds 600]

Each conversation is the assistant's conversation from bench/load.py (a fresh sender id; the place varies),
carried on with the long conversation's ordinary messages up to --turns. The RSS of every given process is
sampled every few seconds; the median of the last quarter of samples may exceed the median of the first
quarter by at most --max-growth percent. Exit status 1 on any error (anything but HTTP 200 with a reply), a
process that grew beyond that or went away, or the time limit reached before every turn was sent.
`python -m bench.run_load soak` starts the assistant and calls this.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import time

from bench.load import (ASSISTANT, Turns, client_session, new_sender, parse_pids, process_name, rss_mib, say,
                        warm_up)


def conversation_turns(number: int, turn_count: int) -> list[str]:
    texts = itertools.chain(ASSISTANT.conversation(number), itertools.cycle(ASSISTANT.long_cycle))
    return list(itertools.islice(texts, turn_count))


async def soak(url: str, pids: list[int], conversation_count: int, turn_count: int, concurrency: int,
               sample_every: float, max_seconds: float,
               timeout: float) -> tuple[Turns, Turns, list[dict[int, float | None]]]:
    """The warm-up's turns, the soak's, and the RSS samples (pid → MiB, None once gone) taken at the start,
    every `sample_every` seconds, and at the end."""
    # Without it the first quarter's memory would include what the first messages load, not only growth.
    warm = await warm_up(url, ASSISTANT, timeout)
    turns, samples = Turns(), []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max_seconds
    waiting = iter(range(conversation_count))  # conversation numbers, shared by the virtual people

    def sample() -> None:
        samples.append({pid: rss_mib(pid) for pid in pids})

    async def sampler() -> None:
        while True:
            await asyncio.sleep(sample_every)
            sample()

    async def person(session) -> None:
        for number in waiting:
            sender = new_sender("soak")
            for text in conversation_turns(number, turn_count):
                if loop.time() >= deadline:
                    return
                turns.record(*await say(session, url, sender, text))

    sample()
    sampling = asyncio.create_task(sampler())
    async with client_session(concurrency, timeout) as session:
        started = time.perf_counter()
        await asyncio.gather(*(person(session) for _ in range(concurrency)))
        turns.elapsed = time.perf_counter() - started
    sampling.cancel()
    sample()
    return warm, turns, samples


def memory_verdicts(samples: list[dict[int, float | None]], names: dict[int, str],
                    max_growth: float) -> tuple[list[str], list[str]]:
    """(a line per process, the problems): first- and last-quarter medians of each process's RSS."""
    lines, problems = [], []
    quarter = len(samples) // 4
    if quarter == 0:
        return lines, [f"only {len(samples)} memory samples: run longer or sample more often to judge memory"]
    for pid, name in names.items():
        values = [sample[pid] for sample in samples]
        if any(value is None for value in values):
            lines.append(f"  {name} ({pid}): went away during the soak")
            problems.append(f"{name} ({pid}) went away")
            continue
        first, last = statistics.median(values[:quarter]), statistics.median(values[-quarter:])
        growth = (last - first) / first * 100
        verdict = "ok" if growth <= max_growth else f"over the {max_growth:g}% bound"
        lines.append(f"  {name} ({pid}): {first:.0f} → {last:.0f} MiB ({growth:+.1f}%) {verdict}")
        if growth > max_growth:
            problems.append(f"{name} ({pid}) grew {growth:.1f}%")
    return lines, problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the assistant's base URL, e.g. http://127.0.0.1:5101")
    parser.add_argument("--pids", action="append", default=[], metavar="NAME=PID[,PID…]",
                        help="processes whose memory is watched (NAME labels them in the summary)")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--turns", type=int, default=10, help="turns per conversation")
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--sample-every", type=float, default=5, help="seconds between memory samples")
    parser.add_argument("--max-growth", type=float, default=10,
                        help="percent a process's RSS may grow from the first to the last quarter (default 10)")
    parser.add_argument("--max-seconds", type=float, default=600, help="stop sending after this long (a failure)")
    parser.add_argument("--timeout", type=float, default=60, help="seconds before a turn counts as an error")
    args = parser.parse_args(argv)
    groups = parse_pids(args.pids)
    names = {pid: f"{group} {process_name(pid)}" for group, pids in groups.items() for pid in pids}
    planned = args.conversations * args.turns
    warm, turns, samples = asyncio.run(soak(args.url.rstrip("/"), list(names), args.conversations, args.turns,
                                            args.concurrency, args.sample_every, args.max_seconds, args.timeout))
    sent = len(turns.latencies) + turns.error_count
    print(f"Soak: {sent} of {planned} turns ({args.conversations} conversations × {args.turns}) in "
          f"{turns.elapsed:.0f} s at {args.concurrency} concurrent: {turns.throughput:.1f} msg/s; latency p50 "
          f"{turns.percentile_ms(0.5):.0f} ms, p95 {turns.percentile_ms(0.95):.0f} ms, "
          f"p99 {turns.percentile_ms(0.99):.0f} ms")
    print(f"Errors: {turns.error_count}"
          + "".join(f"; {kind}: {count}" for kind, count in turns.errors.most_common()))
    lines, problems = memory_verdicts(samples, names, args.max_growth) if names else ([], [])
    if names:
        print(f"Memory (RSS: median of the first → last quarter of {len(samples)} samples, "
              f"{args.sample_every:g} s apart):", *lines, sep="\n")
    if turns.error_count:
        problems.insert(0, f"{turns.error_count} turns failed")
    if warm.error_count:
        problems.insert(0, f"{warm.error_count} warm-up turns failed ({', '.join(warm.errors)})")
    if sent < planned:
        problems.insert(0, f"the {args.max_seconds:g} s limit stopped it after {sent} of {planned} turns")
    print("FAIL: " + "; ".join(problems) if problems else "PASS")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
