"""Alembic environment: migrates the database named by the config's sqlalchemy.url."""
from alembic import context

from bot.db import get_engine
from bot.models import Base


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


with get_engine(context.config.get_main_option("sqlalchemy.url")).connect() as connection:
    _run(connection)
    connection.commit()
