"""Shared fixtures: a migrated SQLite directory per test, filled from a fixture file."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bot import migrate
from bot.db import session_scope
from bot.directory.files import read_records
from bot.directory.store import save_records
from tests.servers import free_port

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


def missing_server(what: str):
    if os.environ.get("CI"):
        pytest.fail(f"{what} is not installed: .ci/run must install it")
    pytest.skip(f"{what} is not installed here (CI installs it)")


def wait_until(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise TimeoutError("server did not start")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    server = shutil.which("redis-server")
    if not server:
        missing_server("Redis")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", str(tmp_path_factory.mktemp("redis"))],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis
    client = redis.Redis(host="127.0.0.1", port=port)

    def up():
        try:
            return client.ping()
        except redis.ConnectionError:
            return False
    wait_until(up)
    yield f"redis://127.0.0.1:{port}/1"
    process.terminate()
    process.wait(timeout=10)
