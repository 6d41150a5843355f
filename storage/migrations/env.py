"""Alembic environment for the monitor's database.

``storage.db.upgrade`` hands Alembic an open connection through ``config.attributes["connection"]`` so
the migration runs inside the caller's transaction (and, for tests, inside their database). The plain
``alembic`` CLI path (``sqlalchemy.url`` in the config) is kept for operators who prefer it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from storage.db import make_engine, normalize_url
from storage.schema import metadata

config = context.config
target_metadata = metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade --sql``) instead of running it."""
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("offline migrations need sqlalchemy.url in the Alembic config")
    context.configure(url=normalize_url(url), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection: Connection | None = config.attributes.get("connection")
    if connection is not None:
        # The caller owns this connection and its transaction: if one is open Alembic joins it and the
        # caller commits; we must not close the connection here.
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set config.attributes['connection'] or sqlalchemy.url to run migrations")
    # make_engine, not create_engine: the same URL checks and connection options as the product.
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _configure(conn)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
