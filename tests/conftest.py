"""Shared fixtures: a migrated SQLite directory per test, filled from a fixture file."""
from __future__ import annotations

from pathlib import Path

import pytest

from bot import migrate
from bot.db import session_scope
from bot.directory.files import read_records
from bot.directory.store import save_records

TEST_DATA = Path(__file__).parent / "data"
SAMPLE_DIRECTORY = TEST_DATA / "directory_sample.yml"


@pytest.fixture
def database_url(tmp_path, monkeypatch) -> str:
    url = f"sqlite:///{tmp_path / 'directory.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    migrate.upgrade(url)
    return url


@pytest.fixture
def sample_directory(database_url) -> str:
    """A database holding the fictional sample services, located without the postcode data."""
    points = {"KY1 1XW": (327000, 692000)}
    with session_scope(database_url) as session:
        save_records(session, read_records(SAMPLE_DIRECTORY), points.get)
    return database_url


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """In-memory rate-limit counters are process-wide; each test starts with none spent."""
    from bot.channels import limits
    limits.counters.cache_clear()
    yield
    limits.counters.cache_clear()
