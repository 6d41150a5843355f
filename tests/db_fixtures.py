"""Database fixtures: throwaway PostgreSQL databases, on the server ``MONITOR_TEST_PG_ADMIN_URL`` names (CI: the
system server), else on an embedded server (storage/embedded.py) started for the session in a temporary directory
and stopped and deleted at its end, so the tests need no PostgreSQL installed.

Import them from ``tests/conftest.py`` with ``from tests.db_fixtures import *  # noqa``.

A named server that does not answer fails the tests loudly instead of skipping them: a green run must mean the
SQL was exercised.

Each PostgreSQL test runs inside a transaction that is rolled back afterwards (SQLAlchemy 2.0's
"join an external transaction" recipe): code under test may commit, which only releases a SAVEPOINT.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from storage import embedded
from storage.db import make_engine, normalize_url, upgrade

__all__ = [
    "pg_admin_url",
    "pg_database_factory",
    "pg_url",
    "pg_engine",
    "pg_rollback_engine",
    "pg_session",
    "pg_empty_url",
    "embedded_data_dir",
]

ADMIN_URL_ENV = "MONITOR_TEST_PG_ADMIN_URL"


def _admin_engine(url: str) -> Engine:
    # AUTOCOMMIT: CREATE/DROP DATABASE cannot run inside a transaction. NullPool: no idle admin connection
    # may linger, or it would hold the server's connection slots for the whole session.
    return create_engine(normalize_url(url), isolation_level="AUTOCOMMIT", poolclass=NullPool)


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """A URL of the maintenance database of a server where the tests may create and drop databases (and roles)."""
    explicit = os.environ.get(ADMIN_URL_ENV, "").strip()
    if explicit:
        engine = _admin_engine(explicit)
        try:
            with engine.connect():
                pass
        except OperationalError as exc:
            shown = make_url(normalize_url(explicit)).render_as_string(hide_password=True)
            pytest.fail(f"{ADMIN_URL_ENV}={shown} does not answer (the tests never skip): {exc.orig}", pytrace=False)
        finally:
            engine.dispose()
        yield explicit
        return
    workdir = Path(tempfile.mkdtemp(prefix="monitor-test-pg-"))
    try:
        yield embedded.start(workdir / "pgdata", "postgres")
    finally:
        embedded.stop(workdir / "pgdata")
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_database_factory(pg_admin_url: str) -> Iterator[Callable[[], str]]:
    """Call it to get the URL of a new, empty database; every one is dropped at the end of the session."""
    admin = _admin_engine(pg_admin_url)
    created: list[str] = []

    def create() -> str:
        name = f"monitor_test_{secrets.token_hex(6)}"
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        created.append(name)
        return make_url(pg_admin_url).set(database=name).render_as_string(hide_password=False)

    yield create

    with admin.connect() as conn:
        for name in created:
            # FORCE: a test that leaked a connection must not leave its database behind.
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture(scope="session")
def pg_url(pg_database_factory: Callable[[], str]) -> str:
    """URL (plain ``postgresql://``, as users write it) of this session's test database."""
    return pg_database_factory()


@pytest.fixture(scope="session")
def pg_engine(pg_url: str) -> Iterator[Engine]:
    """An engine on the session's database, migrated to head once."""
    engine = make_engine(pg_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_rollback_engine(pg_database_factory: Callable[[], str]) -> Iterator[Engine]:
    """A database only `pg_session` uses: every test on it rolls back, so it stays empty. (pg_engine's
    database receives committed rows from the daemon and CLI tests.)"""
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_session(pg_rollback_engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test, commits included."""
    with pg_rollback_engine.connect() as conn:
        outer = conn.begin()
        # create_savepoint: the session's own begin/commit/rollback become SAVEPOINT operations inside
        # `outer`, so nothing the test does reaches the database for the next test.
        session = Session(bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False)
        try:
            yield session
        finally:
            session.close()
            outer.rollback()


@pytest.fixture
def pg_empty_url(pg_database_factory: Callable[[], str]) -> str:
    """A new database with no schema at all (for "schema missing" and migration round trips)."""
    return pg_database_factory()


@pytest.fixture(scope="session")
def embedded_data_dir() -> Iterator[Path]:
    """The data directory of a running embedded server, for tests of the embedded mode (MONITOR_DATABASE_URL
    unset: MONITOR_EMBEDDED_DATA_DIR=this). Its database ``monitor`` is shared by those tests."""
    workdir = Path(tempfile.mkdtemp(prefix="monitor-test-embedded-"))
    try:
        embedded.start(workdir / "pgdata")
        yield workdir / "pgdata"
    finally:
        embedded.stop(workdir / "pgdata")
        shutil.rmtree(workdir, ignore_errors=True)
