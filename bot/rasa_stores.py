"""Rasa tracker and lock stores configured from the environment (see endpoints.yml).

Rasa's endpoints.yml cannot give an environment variable a default, so these classes do:
embedded SQLite and in-memory locks when nothing is set, PostgreSQL and Redis in production.
"""
from __future__ import annotations

from typing import Any, Optional

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy.engine import make_url

from bot import config
from bot import db  # noqa: F401  (PRAGMA secure_delete on every SQLite connection, this store's included)


class TrackerStoreFromEnv(SQLTrackerStore):
    """SQLTrackerStore on TRACKER_STORE_URL, or SQLite at var/tracker.db."""

    def __init__(self, domain=None, host: Optional[str] = None, event_broker=None, **kwargs: Any) -> None:
        url = make_url(config.settings().tracker_store_url)
        if url.get_backend_name() == "sqlite":
            config.VAR_DIR.mkdir(parents=True, exist_ok=True)
        super().__init__(domain=domain, dialect=url.drivername, host=url.host, port=url.port,
                         db=url.database, username=url.username, password=url.password,
                         event_broker=event_broker, query=dict(url.query) or None)
        # Rasa builds its engine without it: a failed insert would log the message's words.
        self.engine.hide_parameters = True


class LockStoreFromEnv:
    """Builds a RedisLockStore from LOCK_STORE_URL, else an InMemoryLockStore."""

    def __new__(cls, endpoint_config=None) -> LockStore:  # Rasa calls the class with endpoint_config
        url = config.settings().lock_store_url
        if not url:
            return InMemoryLockStore()
        parsed = make_url(url)
        return RedisLockStore(host=parsed.host or "localhost", port=parsed.port or 6379,
                              db=int(parsed.database or 1), password=parsed.password,
                              key_prefix=config.settings().lock_store_prefix or None)
