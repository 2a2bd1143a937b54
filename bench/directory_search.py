"""Directory search latency at 100, 10k and 100k synthetic services.

    make bench            # or: python -m bench.directory_search [--sizes 100 10000] [--queries 400]

Builds each synthetic directory once (SQLite under bench/.data/, by the real migrations), then
times `find_matches` — the full query plus loading the top three records — for random requests
across every council, audience, stage, format and need. Writes bench/results.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import time
import tracemalloc
from datetime import date
from pathlib import Path

from sqlalchemy import insert

from bot import migrate
from bot.db import get_engine, session_scope
from bot.directory.records import ServiceRecord
from bot.directory.store import ensure_taxonomy
from bot.directory.store import current_revision
from bot.matching import MatchRequest, SearchIndex, find_matches
from bot.models import Attribute, Location, Organization, Service, ServiceArea, ServiceAtLocation
from bot.vocabulary import AUDIENCES, FORMATS, NEEDS, STAGES, TAXONOMIES, areas, councils, mask

HERE = Path(__file__).resolve().parent
DATA = HERE / ".data"


def build(size: int, seed: int = 7) -> str:
    url = f"sqlite:///{DATA / f'directory-{size}.db'}"
    path = DATA / f"directory-{size}.db"
    if path.exists():
        return url
    DATA.mkdir(exist_ok=True)
    migrate.upgrade(url)
    rng = random.Random(seed)
    area_codes = [a.code for a in areas().values() if a.kind != "national"]
    services, service_areas, attributes, locations, links = [], [], [], [], []
    for i in range(size):
        sid = f"svc-{i}"
        picks = {t: rng.sample(list(v), rng.randint(1, 2 if t != "need" else 3)) for t, v in TAXONOMIES.items()}
        if rng.random() < 0.5:
            picks["need"] = []
        codes = ["scotland"] if rng.random() < 0.05 else rng.sample(area_codes, rng.randint(1, 2))
        record = ServiceRecord(
            id=sid, name=f"Service {i}", organization_id="bench-org", organization_name="Synthetic",
            organization_url="https://example.org", kind="peer_support", description=None, url=None, email=None,
            phones=(), formats=tuple(picks["format"]), audiences=tuple(picks["audience"]),
            stages=tuple(picks["stage"]), needs=tuple(picks["need"]), areas=tuple(codes), languages=("en",),
            cost=None, schedule=None, referral_route="self", referral_how=None, volunteer_training=None,
            supervision=None, safeguarding_policy=None, locations=(), source="synthetic",
            last_verified=date(2026, 1, 1))
        services.append(dict(record_json=json.dumps(record.to_dict()),
            id=sid, organization_id="bench-org", name=f"Service {i}", status="active", kind="peer_support",
            referral_route="self", source="synthetic", last_verified=date(2026, 1, 1),
            formats_mask=mask(picks["format"], FORMATS), audiences_mask=mask(picks["audience"], AUDIENCES),
            stages_mask=mask(picks["stage"], STAGES), needs_mask=mask(picks["need"], NEEDS)))
        service_areas += [dict(service_id=sid, code=c, name=c) for c in codes]
        attributes += [dict(link_id=sid, link_type="service", taxonomy_term_id=f"{t}:{c}")
                       for t, cs in picks.items() for c in cs]
        if {"group", "one_to_one"} & set(picks["format"]):
            locations.append(dict(id=f"loc-{i}", location_type="physical",
                                  easting=rng.randint(100000, 470000), northing=rng.randint(530000, 1200000)))
            links.append(dict(service_id=sid, location_id=f"loc-{i}"))
    with session_scope(url) as session:
        ensure_taxonomy(session)
        session.add(Organization(id="bench-org", name="Synthetic", source="synthetic",
                                 last_verified=date(2026, 1, 1)))
        session.flush()
        for model, rows in ((Service, services), (ServiceArea, service_areas), (Attribute, attributes),
                            (Location, locations), (ServiceAtLocation, links)):
            for start in range(0, len(rows), 20000):
                session.execute(insert(model), rows[start:start + 20000])
    with get_engine(url).connect() as connection:
        connection.exec_driver_sql("ANALYZE")
    return url


def requests(count: int, seed: int = 11) -> list[MatchRequest]:
    rng = random.Random(seed)
    places = councils()
    result = []
    for _ in range(count):
        council = rng.choice(places)
        located = rng.random() < 0.5
        result.append(MatchRequest(
            council_code=council.code, board_code=council.board_code, audience=rng.choice(list(AUDIENCES)),
            stage=rng.choice(list(STAGES)), format=rng.choice(list(FORMATS) + [None]),
            needs=tuple(rng.sample(list(NEEDS), rng.randint(0, 2))),
            easting=rng.randint(100000, 470000) if located else None,
            northing=rng.randint(530000, 1200000) if located else None))
    return result


def measure(url: str, queries: int) -> dict[str, float]:
    sample = requests(queries)
    with session_scope(url) as session:
        started = time.perf_counter()
        tracemalloc.start()
        SearchIndex(session, current_revision(session))
        index_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        index_ms = (time.perf_counter() - started) * 1000
        for request in sample[:20]:  # warm the connection, statement cache and page cache
            find_matches(session, request)
        timings = []
        for request in sample:
            start = time.perf_counter()
            find_matches(session, request)
            timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    pick = lambda q: timings[min(len(timings) - 1, int(q * len(timings)))]  # noqa: E731
    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "mean": statistics.fmean(timings),
            "index_ms": index_ms, "index_mb": index_mb}


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "unknown CPU")
    memory = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.splitlines()[1].split()[1]
    return f"{cpu}, {os.cpu_count()} cores, {memory} RAM, Python {platform.python_version()}, SQLite (file)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=400)
    args = parser.parse_args()
    rows = []
    for size in args.sizes:
        started = time.perf_counter()
        url = build(size)
        built = time.perf_counter() - started
        figures = measure(url, args.queries)
        rows.append((size, figures, built))
        print(f"{size:>7} services: p50 {figures['p50']:.2f} ms, p95 {figures['p95']:.2f} ms, "
              f"p99 {figures['p99']:.2f} ms; index {figures['index_ms']:.0f} ms, {figures['index_mb']:.1f} MiB")
    lines = ["# Directory search latency", "",
             f"Measured {date.today()} on {machine()}; a shared, noisy machine, so read these as indications.",
             f"Each row: {args.queries} random requests (every council, audience, stage, format; 0–2 needs;",
             "half with a location for distance ranking) against a synthetic directory (5% national services,",
             "the rest in 1–2 random councils or boards). Time covers the ranking query and loading the top 3.",
             "Target: p95 ≤ 10 ms at 100k services. The in-memory index is rebuilt only when the directory",
             "changes; its build time and peak allocation (tracemalloc) are shown too.", "",
             "| services | p50 (ms) | p95 (ms) | p99 (ms) | mean (ms) | index build (ms) | index peak (MiB) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {size:,} | {f['p50']:.2f} | {f['p95']:.2f} | {f['p99']:.2f} | {f['mean']:.2f} | "
              f"{f['index_ms']:.0f} | {f['index_mb']:.1f} |" for size, f, _ in rows]
    lines += ["", "Reproduce: `make bench`."]
    (HERE / "results.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
