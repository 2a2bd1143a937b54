"""The production configuration on real servers: PostgreSQL for the directory and Rasa's tracker store,
Redis for Rasa's lock store. Each server is started here on a free loopback port and stopped after.

.ci/run installs PostgreSQL and Redis from Debian; without them these tests skip locally and fail in CI.
"""
from __future__ import annotations

import asyncio
import glob
import os
import shutil
import subprocess
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import migrate
from bot.db import session_scope
from bot.directory.files import read_records
from bot.directory.store import load_records, save_records
from bot.escalation import Detection, deliver_due, record
from bot.matching import MatchRequest, find_matches
from bot.models import Alert, ClinicalContact
from tests.conftest import SAMPLE_DIRECTORY, missing_server, wait_until
from tests.servers import free_port


@pytest.fixture(scope="module")
def postgres_url(tmp_path_factory):
    initdb = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not initdb:
        missing_server("PostgreSQL")
    bin_dir = os.path.dirname(initdb[-1])
    # Its own folder under /tmp: PostgreSQL refuses to run as root, and the postgres user cannot
    # enter pytest's private temporary folder.
    data = Path(tempfile.mkdtemp(prefix="pg-test-"))
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_postgres:
        shutil.chown(data, "postgres")
    subprocess.run(as_postgres + [f"{bin_dir}/initdb", "-D", str(data), "-U", "postgres", "--auth=trust"],
                   check=True, capture_output=True)
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", str(data), "-l", str(data / "log"), "-w", "start",
                                  "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1"],
                   check=True, capture_output=True)
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    yield url
    subprocess.run(as_postgres + [f"{bin_dir}/pg_ctl", "-D", str(data), "-m", "fast", "stop"], capture_output=True)
    shutil.rmtree(data, ignore_errors=True)


def test_directory_migrates_imports_and_matches_on_postgresql(postgres_url, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    migrate.upgrade(postgres_url)
    with session_scope(postgres_url) as session:
        save_records(session, read_records(SAMPLE_DIRECTORY), {"KY1 1XW": (327000, 692000)}.get)
    with session_scope(postgres_url) as session:
        assert load_records(session) == sorted(read_records(SAMPLE_DIRECTORY), key=lambda r: r.id)
        result = find_matches(session, MatchRequest(council_code="S12000047", board_code="S08000029",
                                                    audience="mothers", stage="postnatal", format="group",
                                                    easting=330000, northing=696000))
    assert [m.service.id for m in result.matches][0] == "fife-mums-group"
    assert result.matches[0].distance_km == 5.0


def test_escalation_outbox_works_on_postgresql(postgres_url):
    migrate.upgrade(postgres_url)
    sent = []
    with session_scope(postgres_url) as session:
        session.add(ClinicalContact(name="On call", role="Clinician", channel="webhook",
                                    address="http://127.0.0.1:9/hook", hours="24/7"))
        session.flush()
        record(session, Detection("pg-conv", "rest", "suicide_self_harm", "I want to die"), datetime.utcnow())
    deliver_due({"webhook": lambda contact, body: sent.append(body)}, url=postgres_url)
    with session_scope(postgres_url) as session:
        assert {a.status for a in session.scalars(select(Alert))} == {"delivered"}
    assert sent


def test_migrations_downgrade_cleanly_on_postgresql(postgres_url):
    migrate.downgrade(postgres_url)
    migrate.upgrade(postgres_url)


def test_rasa_tracker_store_keeps_conversations_in_postgresql(postgres_url, monkeypatch):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.rasa_stores import TrackerStoreFromEnv
    monkeypatch.setenv("TRACKER_STORE_URL", postgres_url)
    domain = Domain.from_yaml("slots:\n  crisis_category:\n    type: text\n    mappings: [{type: custom}]\n")
    store = TrackerStoreFromEnv(domain=domain)
    assert store.engine.url.get_backend_name() == "postgresql"
    tracker = DialogueStateTracker.from_events("pg-sender", [UserUttered("hi"), SlotSet("crisis_category", "psychosis")])
    asyncio.run(store.save(tracker))
    again = asyncio.run(TrackerStoreFromEnv(domain=domain).retrieve("pg-sender"))
    assert again.get_slot("crisis_category") == "psychosis"


def test_redis_lock_store_serialises_one_conversation(redis_url, monkeypatch):
    from rasa.core.lock_store import RedisLockStore

    from bot.rasa_stores import LockStoreFromEnv
    monkeypatch.setenv("LOCK_STORE_URL", redis_url)
    store = LockStoreFromEnv()
    assert isinstance(store, RedisLockStore)
    order = []

    async def turn(name: str, hold: float):
        async with store.lock("same-conversation", wait_time_in_seconds=0.05):
            order.append(f"{name} start")
            await asyncio.sleep(hold)
            order.append(f"{name} end")

    async def both():
        first = asyncio.create_task(turn("first", 0.3))
        await asyncio.sleep(0.05)
        await turn("second", 0)
        await first

    asyncio.run(both())
    assert order == ["first start", "first end", "second start", "second end"]


def _holders_at_once(stores, turns_each: int) -> tuple[int, list[str]]:
    """Each store in its own thread and event loop (as two Rasa processes), all taking turns of one
    conversation at once: the most turns ever inside the lock together, and every turn that ran."""
    guard, inside, most, ran = threading.Lock(), [0], [0], []

    async def turn(store, name: str):
        async with store.lock("one-conversation", wait_time_in_seconds=0.01):
            with guard:
                inside[0] += 1
                most[0] = max(most[0], inside[0])
            await asyncio.sleep(0.005)
            with guard:
                inside[0] -= 1
                ran.append(name)

    async def many(store, index: int):
        await asyncio.gather(*(turn(store, f"{index}-{n}") for n in range(turns_each)))

    with ThreadPoolExecutor(len(stores)) as pool:
        for done in [pool.submit(asyncio.run, many(store, index)) for index, store in enumerate(stores)]:
            done.result()
    return most[0], ran


def test_two_processes_redis_locks_never_let_two_turns_of_one_conversation_run_at_once(redis_url, monkeypatch):
    """Rasa's own RedisLockStore changes a lock in three commands: taking tickets at once, two processes
    both ran turns (and a turn's events were lost on CI). Ours changes it in one transaction."""
    from bot.rasa_stores import AtomicRedisLockStore, LockStoreFromEnv
    monkeypatch.setenv("LOCK_STORE_URL", redis_url)
    stores = [LockStoreFromEnv(), LockStoreFromEnv()]
    assert all(isinstance(store, AtomicRedisLockStore) for store in stores)
    for _ in range(5):
        most, ran = _holders_at_once(stores, turns_each=20)
        assert most == 1, f"{most} turns of one conversation ran at once"
        assert len(ran) == 40, "every turn ran (no ticket dropped, no lock deleted under a waiting turn)"
    assert stores[0].get_lock("one-conversation") is None, "no lock left behind"


def test_without_lock_store_url_locks_stay_in_memory(monkeypatch):
    from rasa.core.lock_store import InMemoryLockStore

    from bot.rasa_stores import LockStoreFromEnv
    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    assert isinstance(LockStoreFromEnv(), InMemoryLockStore)
