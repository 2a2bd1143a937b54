"""Settings, read from the environment in one place, with safe local defaults.

Local runs need nothing set: SQLite files under `var/`. Production sets DATABASE_URL to PostgreSQL.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from bot import PROJECT_ROOT

VAR_DIR = PROJECT_ROOT / "var"


@dataclass(frozen=True)
class Settings:
    database_url: str

    @classmethod
    def from_env(cls) -> "Settings":
        return cls(
            database_url=os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'directory.db'}",
        )


def settings() -> Settings:
    # Read on every call (cheap) so tests and CLIs can point DATABASE_URL elsewhere.
    return Settings.from_env()
