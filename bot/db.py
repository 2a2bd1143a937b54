"""Database engines and sessions (SQLAlchemy 1.4 in the 2.0 style)."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from bot.config import settings


@event.listens_for(Engine, "connect")
def _sqlite_secure_delete(dbapi_connection, _record) -> None:
    """Every SQLite connection in the process, Rasa's tracker store's included (this module is imported
    before Rasa builds its engine: bot/rasa_stores.py): deleted rows are overwritten with zeros, so an
    erased conversation can't be read back from free pages of the file."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.close()


def checkpoint(url: str) -> None:
    """Copy SQLite's write-ahead log into the database and empty it: the log still holds pages as they
    were before a delete until then. No-op for other databases (see docs/data-protection.md)."""
    if not url.startswith("sqlite:///") or not Path(url.removeprefix("sqlite:///")).exists():
        return
    with engine_for(url).connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def tracker_events(url: str):
    """The engine of Rasa's tracker store if its `events` table exists yet (Rasa creates it), else None."""
    from sqlalchemy import inspect
    engine = engine_for(url)
    return engine if inspect(engine).has_table("events") else None


@lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """One engine (and pool) per database URL for the life of the process. `hide_parameters`: an error
    must never carry a query's values (a person's words, a phone number) into a log line. SQLite connections
    are pooled, as SQLAlchemy 2.0 does by default: 1.4 opened (and set up) a new one for every session, a
    sixth of a turn's CPU in a loaded `make run` (bench/profile.md)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, hide_parameters=True, poolclass=QueuePool,
                               connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")  # readers (actions) don't block the importer
            cursor.close()

        return engine
    return create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)


def get_engine(url: str | None = None) -> Engine:
    return engine_for(url or settings().database_url)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A session with one transaction: committed on success, rolled back on error."""
    factory = sessionmaker(bind=get_engine(url), future=True, expire_on_commit=False)
    with factory() as session, session.begin():
        yield session
