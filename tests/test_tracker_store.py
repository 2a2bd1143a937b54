"""The tracker store that reads conversations incrementally (bot/rasa_stores.py), against what Rasa's own
SQLTrackerStore rebuilds from the same database: on SQLite files, and on PostgreSQL when it is installed.

Two store objects on one database stand for two Rasa processes; a turn is what Rasa's processor does to a
tracker (retrieve, add the turn's events, save).
"""
from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActiveLoop, BotUttered, SessionStarted, SlotSet,
                                     UserUttered)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from bot.rasa_stores import TrackerStoreFromEnv
from tests.test_production_stores import postgres_url  # noqa: F401  (a fixture: PostgreSQL on loopback)

DOMAIN = Domain.from_yaml("""
slots:
  stage:
    type: text
    mappings: [{type: custom}]
forms:
  support_form:
    required_slots: [stage]
""")


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_url(request, tmp_path, monkeypatch) -> str:
    url = (f"sqlite:///{tmp_path / 'tracker.db'}" if request.param == "sqlite"
           else request.getfixturevalue("postgres_url"))
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    return url


@pytest.fixture(autouse=True)
def own_journal(tmp_path, monkeypatch):
    """Erasure and the escalation broker read and write the escalation journal: this test's own."""
    monkeypatch.setenv("ESCALATION_JOURNAL", str(tmp_path / "journal.jsonl"))


@pytest.fixture(autouse=True)
def close_stores():
    yield
    while STORES:
        STORES.pop().engine.dispose()


STORES: list[TrackerStoreFromEnv] = []


class RecordingBroker(EventBroker):
    def __init__(self) -> None:
        self.published: list[dict] = []

    def publish(self, event: dict) -> None:
        self.published.append(event)


def new_store(broker: EventBroker | None = None, **kwargs) -> TrackerStoreFromEnv:
    """A store object as one Rasa process has it."""
    STORES.append(TrackerStoreFromEnv(domain=DOMAIN, event_broker=broker, **kwargs))
    return STORES[-1]


def rasa_rebuild(url: str, sender: str, full: bool = False) -> DialogueStateTracker | None:
    """What Rasa's own SQLTrackerStore reads from the database."""
    store = SQLTrackerStore(domain=DOMAIN, host=url)
    try:
        return asyncio.run(store.retrieve_full_tracker(sender) if full else store.retrieve(sender))
    finally:
        store.engine.dispose()


def state(tracker: DialogueStateTracker | None) -> dict | None:
    """Everything Rasa reads from a tracker: every event, the slots, the active loop, the latest message…"""
    return None if tracker is None else tracker.current_state(EventVerbosity.ALL)


def new_sender() -> str:
    return f"conv-{uuid.uuid4().hex[:8]}"


def start_session(tracker: DialogueStateTracker) -> None:
    """As Rasa's processor starts a session: the action's event first, then its events re-timed after it."""
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update_with_events([SessionStarted(), ActionExecuted("action_listen")], DOMAIN)


def turn(store: TrackerStoreFromEnv, sender: str, text: str, *, slot: tuple[str, str] | None = None,
         new_session: bool = False, intent: str = "find_support", entities=()) -> DialogueStateTracker:
    async def run():
        tracker = await store.get_or_create_tracker(sender, append_action_listen=False)
        if not tracker.events or new_session:
            start_session(tracker)
        tracker.update(UserUttered(text, {"name": intent, "confidence": 0.97}, list(entities),
                                   {"intent": {"name": intent, "confidence": 0.97}, "entities": list(entities),
                                    "text": text}, input_channel="rest"))
        tracker.update_with_events([ActionExecuted("support_form"), ActiveLoop("support_form"),
                                    *([SlotSet(*slot)] if slot else []),
                                    BotUttered(f"answer to {text}", metadata={"utter_action": "utter_ask_stage"}),
                                    ActionExecuted("action_listen")], DOMAIN)
        await store.save(tracker)
        return tracker
    return asyncio.run(run())


def retrieve(store: TrackerStoreFromEnv, sender: str) -> DialogueStateTracker | None:
    return asyncio.run(store.retrieve(sender))


def stored_events(url: str, sender: str) -> list[dict]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            return [json.loads(data) for data in connection.execute(
                sa.text("SELECT data FROM events WHERE sender_id = :sender ORDER BY id"), {"sender": sender}).scalars()]
    finally:
        engine.dispose()


def count_loads(store: TrackerStoreFromEnv, monkeypatch) -> list[str]:
    """Records each time the store rebuilds a conversation from the database instead of reading newer rows."""
    loads: list[str] = []
    load = store._load

    def counted(session, sender_id):
        loads.append(sender_id)
        return load(session, sender_id)
    monkeypatch.setattr(store, "_load", counted)
    return loads


def test_each_retrieve_equals_what_rasa_rebuilds_and_reads_only_newer_rows(tracker_url, monkeypatch):
    store, sender = new_store(), new_sender()
    loads = count_loads(store, monkeypatch)
    for number in range(12):
        turn(store, sender, f"message {number}", slot=("stage", f"stage {number}") if number % 3 == 0 else None)
        assert state(retrieve(store, sender)) == state(rasa_rebuild(tracker_url, sender))
        if number == 0:  # read from the database once, after the turn that created it…
            assert loads == [sender, sender]
            loads.clear()
    assert retrieve(store, sender).get_slot("stage") == "stage 9"
    assert loads == []  # …and from then on only the newer rows


def test_two_processes_interleaving_turns_stay_coherent(tracker_url):
    broker = RecordingBroker()
    first, second, sender = new_store(broker), new_store(broker), new_sender()
    for number in range(10):
        store = first if number % 3 else second  # some turns twice in a row on one process
        turn(store, sender, f"message {number}", slot=("stage", f"from turn {number}"))
        expected = state(rasa_rebuild(tracker_url, sender))
        assert state(retrieve(first, sender)) == expected
        assert state(retrieve(second, sender)) == expected
    assert retrieve(first, sender).get_slot("stage") == "from turn 9"
    # Every event stored once, in order, and published once by whichever process added it.
    stored = stored_events(tracker_url, sender)
    assert [message["text"] for message in stored if message["event"] == "user"] == [
        f"message {number}" for number in range(10)]
    assert [{k: v for k, v in event.items() if k != "sender_id"} for event in broker.published] == stored


def test_the_broker_receives_each_new_event_exactly_once(tracker_url):
    broker = RecordingBroker()
    store, sender = new_store(broker), new_sender()
    turn(store, sender, "first")  # a new conversation: its events are found by counting rows, as Rasa does
    assert len(broker.published) == len(stored_events(tracker_url, sender)) == 8
    before = len(broker.published)
    tracker = turn(store, sender, "second", slot=("stage", "pregnancy"))
    published = broker.published[before:]
    assert [event["event"] for event in published] == ["user", "action", "active_loop", "slot", "bot", "action"]
    assert published[0]["text"] == "second" and all(event["sender_id"] == sender for event in published)
    asyncio.run(store.save(tracker))  # saved again with nothing new: nothing stored or published twice
    assert len(broker.published) == before + 6 == len(stored_events(tracker_url, sender))


def test_a_crisis_message_reaches_the_escalation_record_through_the_broker(tracker_url, database_url):
    from bot.db import session_scope
    from bot.escalation.broker import EscalationEventBroker
    from bot.models import Escalation
    broker = EscalationEventBroker()
    store, sender = new_store(broker), new_sender()
    turn(store, sender, "hello", intent="greet")
    turn(store, sender, "I want to end it all", intent="crisis_suicide_self_harm",
         entities=[{"entity": "crisis_category", "value": "suicide_self_harm"}])
    turn(store, sender, "thank you", intent="thanks")
    broker.flush()
    with session_scope(database_url) as session:
        assert session.scalars(sa.select(Escalation.category).where(
            Escalation.conversation_id == sender)).all() == ["suicide_self_harm"]


def test_after_erasure_nothing_stale_is_returned(tracker_url, database_url):
    from bot.privacy import erasure
    first, second, sender = new_store(), new_store(), new_sender()
    for number in range(3):
        turn(first, sender, f"private words {number}")
    retrieve(second, sender)  # both processes hold the conversation
    erasure.erase(sender, "rest")
    assert retrieve(first, sender) is None and retrieve(second, sender) is None
    turn(second, sender, "a fresh start")
    for store in (first, second):
        again = retrieve(store, sender)
        assert state(again) == state(rasa_rebuild(tracker_url, sender))
        assert "private words" not in json.dumps(state(again))


def test_erased_rows_are_noticed_even_when_new_rows_reuse_their_ids(tmp_path, monkeypatch, database_url):
    """SQLite gives a new row the highest id + 1: once a conversation's rows are deleted, another process may
    write exactly as many rows for it again, under the same ids."""
    from bot.privacy import erasure
    url = f"sqlite:///{tmp_path / 'tracker.db'}"
    monkeypatch.setenv("TRACKER_STORE_URL", url)
    first, second, sender = new_store(), new_store(), new_sender()
    for number in range(2):
        turn(first, sender, f"private words {number}")
    held = retrieve(first, sender)
    erasure.erase(sender, "rest")
    for number in range(2):
        turn(second, sender, f"later words {number}")
    assert len(stored_events(url, sender)) == len(held.events) + 1  # +1: the session start Rasa leaves out
    again = retrieve(first, sender)
    assert state(again) == state(rasa_rebuild(url, sender))
    assert "private words" not in json.dumps(state(again))


def test_rows_purged_for_retention_are_noticed(tracker_url):
    store, sender = new_store(), new_sender()
    for number in range(4):
        turn(store, sender, f"message {number}")
    retrieve(store, sender)
    stored = stored_events(tracker_url, sender)
    cutoff = next(event["timestamp"] for event in stored if event["event"] == "user" and event["text"] == "message 2")
    engine = sa.create_engine(tracker_url)
    with engine.begin() as connection:  # as bot/privacy/retention.py purges
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = :sender AND timestamp < :cutoff"),
                           {"sender": sender, "cutoff": cutoff})
    engine.dispose()
    purged = retrieve(store, sender)
    assert state(purged) == state(rasa_rebuild(tracker_url, sender))
    assert [event.text for event in purged.events if isinstance(event, UserUttered)] == ["message 2", "message 3"]


def test_a_new_session_is_read_as_rasa_reads_it(tracker_url, monkeypatch):
    first, second, sender = new_store(), new_store(), new_sender()
    turn(first, sender, "before", slot=("stage", "pregnancy"))
    turn(first, sender, "still before")
    retrieve(second, sender)
    turn(first, sender, "after a quiet afternoon", new_session=True)
    for store in (first, second):
        tracker = retrieve(store, sender)
        assert state(tracker) == state(rasa_rebuild(tracker_url, sender))
        assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["after a quiet afternoon"]
        assert tracker.get_slot("stage") is None  # slots are not carried over
    turn(second, sender, "and then")
    assert state(retrieve(first, sender)) == state(rasa_rebuild(tracker_url, sender))
    full = asyncio.run(first.retrieve_full_tracker(sender))
    assert state(full) == state(rasa_rebuild(tracker_url, sender, full=True))
    assert [e.text for e in full.events if isinstance(e, UserUttered)] == [
        "before", "still before", "after a quiet afternoon", "and then"]


def test_callers_get_their_own_copy(tracker_url):
    store, sender = new_store(), new_sender()
    turn(store, sender, "hello", slot=("stage", "pregnancy"))
    mine = retrieve(store, sender)
    assert state(mine) == state(mine.copy())  # the same as Rasa's own copy, without the replay
    mine.update(SlotSet("stage", "postnatal"))
    mine.update(UserUttered("never saved"))
    mine.active_loop.is_interrupted = True
    mine.clear_followup_action()
    assert state(retrieve(store, sender)) == state(rasa_rebuild(tracker_url, sender))
    assert retrieve(store, sender).get_slot("stage") == "pregnancy"


def test_a_tracker_built_elsewhere_is_saved_as_rasa_saves_it(tracker_url):
    """Not the store's own copy: the events beyond the stored session are found by counting rows, as Rasa does."""
    broker = RecordingBroker()
    store, sender = new_store(broker), new_sender()
    turn(store, sender, "one")
    elsewhere = rasa_rebuild(tracker_url, sender)
    elsewhere.update(UserUttered("two"))
    before = len(broker.published)
    asyncio.run(store.save(elsewhere))
    assert [event["text"] for event in broker.published[before:]] == ["two"]
    tracker = retrieve(store, sender)
    assert state(tracker) == state(rasa_rebuild(tracker_url, sender))
    assert [e.text for e in tracker.events if isinstance(e, UserUttered)] == ["one", "two"]


def test_memory_is_bounded_least_recently_used_first(tracker_url, monkeypatch):
    store = new_store(cached_events=14)  # room for two conversations of one turn (seven events each)
    loads = count_loads(store, monkeypatch)
    senders = [new_sender() for _ in range(3)]
    for sender in senders:
        turn(store, sender, "hello")
        retrieve(store, sender)
    loads.clear()
    retrieve(store, senders[1])
    retrieve(store, senders[2])
    assert loads == []  # the two most recent are held
    retrieve(store, senders[0])
    assert loads == [senders[0]]  # the first was forgotten, and is read from the database again
    assert state(retrieve(store, senders[0])) == state(rasa_rebuild(tracker_url, senders[0]))


def test_a_new_model_s_domain_rebuilds_the_trackers(tracker_url):
    store, sender = new_store(), new_sender()
    turn(store, sender, "hello", slot=("stage", "pregnancy"))
    retrieve(store, sender)
    store.domain = Domain.from_yaml("slots:\n  language:\n    type: text\n    mappings: [{type: custom}]\n")
    slots = retrieve(store, sender).slots
    assert "language" in slots and "stage" not in slots
