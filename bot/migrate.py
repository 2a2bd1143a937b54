"""Schema migrations (Alembic), run from code so `make run`, the CLI and tests share one path.

    python -m bot.migrate      upgrade DATABASE_URL to the newest schema
"""
from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from bot.config import settings

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url or settings().database_url)
    return config


def upgrade(url: str | None = None, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str | None = None, revision: str = "base") -> None:
    command.downgrade(alembic_config(url), revision)


if __name__ == "__main__":
    # python -m bot.migrate: the schema only (`python -m bot.directory init` also seeds an empty directory).
    upgrade()
