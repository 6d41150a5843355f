"""Engines, sessions and schema management: the rest of the project never imports SQLAlchemy or Alembic."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import URL, Connection, Engine, create_engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

class SchemaMissing(Exception):
    """The database is reachable but its schema is not at this code's head revision."""


class DatabaseUnavailable(Exception):
    """The database could not be reached or refused for a reason worth retrying (see ``is_transient``)."""


def normalize_url(url: str) -> str:
    """Point bare PostgreSQL URLs (``postgresql://``: psycopg2 to SQLAlchemy, ``postgres://``: unknown) at psycopg 3;
    anything with an explicit driver is left alone."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class DatabaseUrlError(ValueError):
    """MONITOR_DATABASE_URL (or --database-url) cannot work; the message never contains the URL's password."""


_DRIVER = "postgresql+psycopg"  # the one driver this project installs and speaks: psycopg 3, synchronous
# Bounded time against a server that accepts TCP and never answers: connect_timeout bounds the start-up, keepalives
# notice a dead peer on an idle pooled connection in idle + interval * count seconds, not the kernel's two hours.
# A URL may override any of them (?connect_timeout=10).
PG_CONNECT_ARGS: dict[str, int] = {
    "connect_timeout": 5, "keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3,
}
_INTEGER_PARAMETERS = {*PG_CONNECT_ARGS, "tcp_user_timeout"}


def validate_url(url: str) -> URL:
    """Parse and check a database URL before any connection: one clear, secret-safe line for each way it can be
    wrong (unparseable, another database, an async or missing driver, an option libpq does not know)."""
    try:
        parsed = make_url(normalize_url(url.strip()))
    except (sa_exc.ArgumentError, ValueError, TypeError):
        # SQLAlchemy's own messages quote the whole string, password included: say what is wrong instead.
        raise DatabaseUrlError(
            "database URL cannot be parsed: expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
            "(a port must be a number; special characters in the password must be %-encoded)"
        ) from None
    driver = parsed.drivername
    if driver != _DRIVER:
        if parsed.get_backend_name() in ("postgresql", "postgres"):
            raise DatabaseUrlError(
                f"database URL driver {driver!r} is not supported: use postgresql:// (psycopg 3, synchronous)")
        raise DatabaseUrlError(
            f"database URL scheme {driver!r} is not supported: use postgresql://USER@HOST:PORT/DATABASE "
            "(or leave MONITOR_DATABASE_URL unset for the embedded PostgreSQL server)")
    unknown = sorted(set(parsed.query) - _libpq_keywords())
    if unknown:
        raise DatabaseUrlError(f"database URL has unknown connection parameter(s): {', '.join(unknown)}")
    for key, value in parsed.query.items():
        if not isinstance(value, str) and key not in ("host", "port"):  # several hosts: failover lists
            raise DatabaseUrlError(f"database URL parameter {key!r} is given more than once")
        if key in _INTEGER_PARAMETERS and not (isinstance(value, str) and value.strip().isdigit()):
            raise DatabaseUrlError(f"database URL parameter {key!r} must be a whole number")
    return parsed


def display_url(url: str) -> str:
    """The URL as psql and BI tools take it (``postgresql://``), its password hidden."""
    return validate_url(url).set(drivername="postgresql").render_as_string(hide_password=True)


def _libpq_keywords() -> set[str]:
    # Asked of the installed libpq itself, so a newer libpq's options are accepted without a code change.
    from psycopg import pq

    return {option.keyword.decode() for option in pq.Conninfo.get_defaults()}


def make_engine(url: str, **kwargs: Any) -> Engine:
    parsed = validate_url(url)
    # pre_ping: a long-lived daemon outlives server restarts and idle-connection reapers; one cheap
    # round trip at checkout beats failing a whole batch on a dead socket.
    kwargs.setdefault("pool_pre_ping", True)
    defaults = {key: value for key, value in PG_CONNECT_ARGS.items() if key not in parsed.query}
    return create_engine(parsed, connect_args={**defaults, **kwargs.pop("connect_args", {})}, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # expire_on_commit=False: callers may still read what they stored without a reload round trip per object.
    return sessionmaker(bind=engine, expire_on_commit=False)


def _alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config built in code: no alembic.ini to ship or find at run time."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")  # Alembic warns about the legacy default otherwise
    config.attributes["connection"] = connection  # storage/migrations/env.py: None there means sqlalchemy.url
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate up to ``revision`` in one transaction (transactional DDL: a failed migration changes nothing)."""
    _run_migration(engine, lambda config: command.upgrade(config, revision))


def downgrade(engine: Engine, revision: str = "base") -> None:
    _run_migration(engine, lambda config: command.downgrade(config, revision))


def _run_migration(engine: Engine, run: Callable[[Config], None]) -> None:
    with engine.connect() as conn, conn.begin():
        # Two processes migrating one database at once (two `monitor run` on a fresh embedded server): the
        # second waits here, then finds the schema at head and does nothing.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7402130)")
        run(_alembic_config(conn))


def ensure_schema(engine: Engine, *, migrate: bool = False) -> None:
    """Make sure the schema is at head; with ``migrate`` (the embedded server, which nobody else manages) bring it
    there. An operator migrates a shared database on purpose: an old schema is an error, not a silent DDL."""
    try:
        if current_revision(engine) == head_revision():
            return
        if migrate:
            upgrade(engine)
            return
    except sa_exc.SQLAlchemyError as exc:
        if is_transient(exc):
            raise DatabaseUnavailable(f"database unavailable: {exc}") from exc
        raise
    raise SchemaMissing("database schema is missing or old: run `monitor db upgrade`")


def is_transient(exc: BaseException) -> bool:
    """True if retrying may succeed (lost connection, restart, lock timeout, serialization failure); follows causes."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        # OperationalError: psycopg's connection failures, admin shutdown, serialization failures, deadlocks,
        # cancellations; InterfaceError: an unusable connection; Disconnection/TimeoutError: the pool's checkout.
        if isinstance(current, DatabaseUnavailable | sa_exc.OperationalError | sa_exc.InterfaceError
                      | sa_exc.DisconnectionError | sa_exc.TimeoutError):
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True  # SQLAlchemy recognised a disconnect
        current = current.__cause__
    return False


def first_line(error: BaseException | str) -> str:
    """The first line of an error message (driver and server messages run over several), for one-line errors."""
    lines = str(error).strip().splitlines()
    return lines[0] if lines else (error if isinstance(error, str) else type(error).__name__)


def ping(engine: Engine) -> None:
    """Raises if the database does not answer (health checks)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("SELECT 1")
