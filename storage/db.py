"""Engines, sessions and schema management.

The rest of the project never imports SQLAlchemy or Alembic: it gets an ``Engine`` and a session factory
from here, asks ``ensure_schema`` whether it may start, and uses ``is_transient`` to decide between
"back off and retry" and "stop loudly" (DESIGN §5.1).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

SCHEMA_MISSING_MESSAGE = "database schema is missing or old: run `monitor db upgrade`"


class SchemaMissing(Exception):
    """The database is reachable but its schema is not at this code's head revision."""


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused for a reason worth retrying (see ``is_transient``)."""


def normalize_url(url: str) -> str:
    """Point bare PostgreSQL URLs at psycopg 3.

    SQLAlchemy maps ``postgresql://`` to psycopg2, which we do not install; ``postgres://`` (Heroku and
    friends) is not recognised at all. Anything with an explicit driver is left alone.
    """
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url``; extra keyword arguments go to ``create_engine``."""
    url = normalize_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    # pre_ping: a long-lived daemon outlives server restarts and idle-connection reapers; one cheap
    # round trip at checkout beats failing a whole batch on a dead socket.
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Take transaction control away from pysqlite: by default it does not BEGIN before DDL and
        # mishandles SAVEPOINT, which breaks atomic migrations and nested transactions. SQLAlchemy's
        # documented recipe: autocommit at the driver, explicit BEGIN from the "begin" event below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # WAL: the embedded demo reads (sql, http) while the daemon writes, without "database is locked".
            cursor.execute("PRAGMA journal_mode=WAL")
            # SQLite ignores foreign keys (and so ON DELETE CASCADE) unless asked, per connection.
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # "IMMEDIATE" (via execution_options(sqlite_begin="IMMEDIATE")) takes the write lock up front,
        # so two processes migrating at once queue instead of one failing on a stale snapshot.
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: callers commit once per batch and may still read what they stored
    # (ids, counts) without a reload round trip per object.
    return sessionmaker(bind=engine, expire_on_commit=False)


def _alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini to ship or find at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Say how to split path lists explicitly; Alembic warns about the legacy default otherwise.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration this code knows."""
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` in one transaction (PostgreSQL and SQLite both have
    transactional DDL, so a failed migration leaves the old schema intact)."""
    _run_migration(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (``base``: nothing of ours left). For tests and rollbacks."""
    _run_migration(engine, lambda config: command.downgrade(config, revision))


def _run_migration(engine: Engine, run: Callable[[Config], None]) -> None:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn = conn.execution_options(sqlite_begin="IMMEDIATE")
        with conn.begin():
            run(_alembic_config(conn))


def ensure_schema(engine: Engine) -> None:
    """Make sure the schema is at head before the daemon starts.

    SQLite (the embedded mode, no setup) migrates itself. PostgreSQL is shared and migrated on purpose by
    an operator, so a missing or old schema is an error that says what to run, not a silent DDL.
    """
    try:
        current = current_revision(engine)
        head = head_revision()
        if current == head:
            return
        if engine.dialect.name == "sqlite":
            upgrade(engine)
            return
    except sa_exc.SQLAlchemyError as exc:
        if is_transient(exc):
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
        raise
    raise SchemaMissing(SCHEMA_MISSING_MESSAGE)


def is_transient(exc: BaseException) -> bool:
    """True if retrying later (with backoff) may succeed: lost connections, server restarts, lock timeouts,
    serialization failures. False for bugs and bad data, which retrying would only repeat.

    Follows explicit ``raise ... from`` causes, so a wrapped database error is still recognised.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, DatabaseUnavailable):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True  # SQLAlchemy recognised a disconnect
        if isinstance(current, sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True  # pool checkout failed or timed out
        if isinstance(current, sa_exc.OperationalError | sa_exc.InterfaceError):
            return _driver_error_is_transient(current.orig)
        current = current.__cause__
    return False


def _driver_error_is_transient(orig: BaseException | None) -> bool:
    if isinstance(orig, sqlite3.Error):
        # sqlite3 raises OperationalError for "no such table" and syntax errors too; only contention is
        # worth waiting out.
        message = str(orig).lower()
        return "locked" in message or "busy" in message
    # psycopg's OperationalError family: connection failures, admin shutdown, serialization failures,
    # deadlocks, query cancellations. InterfaceError: the connection object is unusable.
    return True


def ping(engine: Engine) -> None:
    """Raises if the database does not answer a trivial query (health checks)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
