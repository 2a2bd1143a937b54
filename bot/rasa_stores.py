"""Rasa tracker and lock stores configured from the environment (see endpoints.yml).

Rasa's endpoints.yml cannot give an environment variable a default, so these classes do:
embedded SQLite and in-memory locks when nothing is set, PostgreSQL and Redis in production.

The tracker store reads a conversation incrementally. Rasa's SQLTrackerStore rebuilds the whole session from
every stored event on each retrieve, and each save retrieves it again (to find the events to publish) and
counts its rows again (to find the events to insert), so a turn cost more the longer the conversation
(bench/profile.md). Here each Rasa process remembers, per conversation, the tracker exactly as Rasa would
rebuild it and the newest row it has seen: a retrieve reads only rows written since (by this process or
another one), and a save inserts and publishes exactly the events the turn added. Rows that vanish (erasure,
the retention purge) or a new session make it rebuild the conversation from the database, as Rasa does.
"""
from __future__ import annotations

import itertools
import json
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Optional, TypeVar

import sqlalchemy as sa
from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SessionStarted, deserialise_events
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
from sqlalchemy.engine import make_url

from bot import config
from bot import db  # PRAGMA secure_delete on every SQLite connection, and the pooled SQLite engine
from bot import rasa_speed  # every `rasa run` loads this module: the recent-turn speed-ups, too
from bot.rasa_speed import independent_copy

# Events each Rasa process keeps in memory (about 2.6 KB each, measured), least recently used conversations
# forgotten first; a forgotten conversation is read from the database again. A ten-turn conversation holds
# about 130 events, a 200-turn one about 2,800.
CACHED_EVENTS = 100_000


@dataclass
class _Conversation:
    """One conversation as this process last read or wrote it."""
    tracker: DialogueStateTracker  # exactly what SQLTrackerStore would rebuild; never handed out
    last_id: int  # the newest row of this conversation, in any session
    rows: int  # this conversation's rows up to last_id
    newest: Optional[float]  # the newest timestamp among them: with `rows`, shows those rows are unchanged
    session_start: Optional[float]  # the latest SessionStarted's timestamp: Rasa keeps rows from it on

    def add(self, row_id: int, timestamp: Optional[float], data: dict[str, Any]) -> None:
        """A row written after `last_id`, applied as Rasa's session filter would."""
        self.last_id, self.rows = row_id, self.rows + 1
        if timestamp is not None and (self.newest is None or timestamp > self.newest):
            self.newest = timestamp
        if self.session_start is None or (timestamp is not None and timestamp >= self.session_start):
            for event in deserialise_events([data]):
                self.tracker.update(event)


class TrackerStoreFromEnv(SQLTrackerStore):
    """SQLTrackerStore on TRACKER_STORE_URL, or SQLite at var/tracker.db, reading each conversation
    incrementally (module docstring). Called from Rasa's event loop only; several processes may share the
    database (Rasa's lock store serialises one conversation's turns between them)."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None,
                 cached_events: int = CACHED_EVENTS, **kwargs: Any) -> None:
        self._conversations: OrderedDict[str, _Conversation] = OrderedDict()  # least recently used first
        self._events_held, self._capacity = 0, cached_events
        url = make_url(config.settings().tracker_store_url)
        if url.get_backend_name() == "sqlite":
            config.VAR_DIR.mkdir(parents=True, exist_ok=True)
        super().__init__(domain=domain, dialect=url.drivername, host=url.host, port=url.port,
                         db=url.database, username=url.username, password=url.password,
                         event_broker=event_broker, query=dict(url.query) or None)
        if url.get_backend_name() == "sqlite":  # the project's engine: pooled connections, as bot/db.py says why
            self.engine.dispose()
            self.engine = db.engine_for(str(self.engine.url))
            self.sessionmaker = sa.orm.sessionmaker(bind=self.engine)
        # Rasa builds its engine without it: a failed insert would log the message's words.
        self.engine.hide_parameters = True

    @property
    def domain(self) -> Domain:
        return self._domain

    @domain.setter
    def domain(self, domain: Optional[Domain]) -> None:
        # A new model may bring other slots: trackers are rebuilt with the new domain's.
        self._domain = domain or Domain.empty()
        self._conversations.clear()
        self._events_held = 0

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        """The latest session's tracker, as SQLTrackerStore returns it; the caller's own copy."""
        conversation = self._take(sender_id)
        with self.session_scope() as session:
            if conversation is None or not self._read_newer_rows(session, conversation):
                conversation = self._load(session, sender_id)
        if conversation is None:
            return None
        self._remember(sender_id, conversation)
        return independent_copy(conversation.tracker)

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Insert the events added since the tracker was retrieved, publishing each to the event broker once
        (first, as Rasa does: a crisis message reaches the escalation record even if the insert fails)."""
        conversation = self._take(tracker.sender_id)
        if conversation is not None and _extends(tracker, conversation.tracker):
            new_events = list(itertools.islice(tracker.events, len(conversation.tracker.events), None))
        else:  # not retrieved here (a new conversation), or not from our copy: count the rows, as Rasa does
            conversation = None
            with self.session_scope() as session:
                new_events = list(self._additional_events(session, tracker))
        if not new_events:
            if conversation is not None:
                self._remember(tracker.sender_id, conversation)
            return
        if self.event_broker:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)
        rows = []
        with self.session_scope() as session:
            for event in new_events:  # as SQLTrackerStore.save writes them
                data = event.as_dict()
                rows.append(self.SQLEvent(
                    sender_id=tracker.sender_id, type_name=event.type_name, timestamp=data.get("timestamp"),
                    intent_name=data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
                    action_name=data.get("name"), data=json.dumps(data)))
            session.add_all(rows)
            session.flush()  # assigns the ids
            written = [(row.id, row.timestamp, json.loads(row.data)) for row in rows]
            session.commit()
        if conversation is None or any(isinstance(event, SessionStarted) for event in new_events):
            return  # read from the database on the next retrieve (a new session moves Rasa's session filter)
        for row_id, timestamp, data in written:  # the stored JSON, so the tracker is what a rebuild would give
            conversation.add(row_id, timestamp, data)
        self._remember(tracker.sender_id, conversation)

    def _read_newer_rows(self, session, conversation: _Conversation) -> bool:
        """Apply rows written since `conversation.last_id`. False if it must be rebuilt instead: rows it was
        built from have changed (erased, purged) or a new session has started."""
        events = self.SQLEvent
        sender = conversation.tracker.sender_id
        seen = session.execute(sa.select(sa.func.count(), sa.func.max(events.timestamp)).where(
            events.sender_id == sender, events.id <= conversation.last_id)).one()
        if tuple(seen) != (conversation.rows, conversation.newest):
            return False
        newer = session.execute(sa.select(events.id, events.type_name, events.timestamp, events.data).where(
            events.sender_id == sender, events.id > conversation.last_id).order_by(events.id)).all()
        if any(row.type_name == SessionStarted.type_name for row in newer):
            return False
        for row in newer:
            conversation.add(row.id, row.timestamp, json.loads(row.data))
        return True

    def _load(self, session, sender_id: str) -> Optional[_Conversation]:
        """The latest session from the database, with Rasa's session filter (SQLTrackerStore._event_query):
        rows timed at or after the latest SessionStarted, or every row if there is none."""
        rasa_speed.forget(sender_id)  # its cut state came from rows that may be gone
        events = self.SQLEvent
        rows, last_id, newest = session.execute(sa.select(
            sa.func.count(), sa.func.max(events.id), sa.func.max(events.timestamp)).where(
            events.sender_id == sender_id)).one()
        if not rows:
            return None
        mine = sa.and_(events.sender_id == sender_id, events.id <= last_id)  # rows written later: next retrieve
        session_start = session.execute(sa.select(sa.func.max(events.timestamp)).where(
            mine, events.type_name == SessionStarted.type_name)).scalar()
        query = sa.select(events.data).where(mine).order_by(events.id)
        if session_start is not None:
            query = query.where(events.timestamp >= session_start)
        stored = [json.loads(data) for data in session.execute(query).scalars()]
        if not stored:
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, stored, self.domain.slots)
        return _Conversation(tracker, last_id, rows, newest, session_start)

    def _take(self, sender_id: str) -> Optional[_Conversation]:
        """Out of the cache while it is read or written (a failure half way leaves nothing stale behind)."""
        conversation = self._conversations.pop(sender_id, None)
        if conversation is not None:
            self._events_held -= len(conversation.tracker.events)
        return conversation

    def _remember(self, sender_id: str, conversation: _Conversation) -> None:
        self._conversations[sender_id] = conversation
        self._events_held += len(conversation.tracker.events)
        while self._events_held > self._capacity:
            self._take(next(iter(self._conversations)))


def _extends(tracker: DialogueStateTracker, known: DialogueStateTracker) -> bool:
    """Whether `tracker` is `known` with events added: a copy we handed out (it shares our event objects)."""
    count = len(known.events)
    return len(tracker.events) >= count and (count == 0 or tracker.events[count - 1] is known.events[-1])


Changed = TypeVar("Changed")


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore with each change to a lock made atomically.

    Rasa's reads a conversation's ticket queue, changes it and writes it back as separate commands. Two Rasa
    processes taking tickets at the same moment could both take the same number, or one's write drop the
    other's ticket (or delete the lock it was queued on), and then both ran a turn of one conversation at
    once: one turn was answered but its events were lost (seen on CI, six messages sent at once). Here every
    change is one Redis transaction (WATCH, then MULTI/EXEC), repeated if the lock changed in between."""

    def _change(self, conversation_id: str, change: Callable[[TicketLock], Changed]) -> Changed:
        from redis import WatchError
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    stored = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(stored)) if stored else self.create_lock(conversation_id)
                    result = change(lock)
                    pipe.multi()
                    if lock.tickets:
                        pipe.set(key, lock.dumps())
                    else:  # nobody waiting: as Rasa's cleanup, no lock left behind
                        pipe.delete(key)
                    pipe.execute()
                    return result
                except WatchError:
                    continue

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        try:
            return self._change(conversation_id, lambda lock: lock.issue_ticket(lock_lifetime))
        except Exception as error:  # as Rasa's: the caller answers a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: str) -> None:
        self._change(conversation_id, TicketLock.remove_expired_tickets)

    def finish_serving(self, conversation_id: str, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: lock.remove_ticket_for(ticket_number))

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self.finish_serving(conversation_id, ticket_number)  # deletes the lock if no ticket is left


class LockStoreFromEnv:
    """Builds an AtomicRedisLockStore from LOCK_STORE_URL, else an InMemoryLockStore."""

    def __new__(cls, endpoint_config=None) -> LockStore:  # Rasa calls the class with endpoint_config
        url = config.settings().lock_store_url
        if not url:
            return InMemoryLockStore()
        parsed = make_url(url)
        return AtomicRedisLockStore(host=parsed.host or "localhost", port=parsed.port or 6379,
                              db=int(parsed.database or 1), password=parsed.password,
                              key_prefix=config.settings().lock_store_prefix or None)
