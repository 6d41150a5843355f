"""Leader election of surge detection and outbox delivery (storage.alerts_repo.try_lock) on real PostgreSQL:
a reader (monitor_reader, through SET ROLE or its own login) cannot hold either job off; a real runner makes
the others skip, and a streak of skips is logged as a warning."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from alerts.job import SKIPS_BEFORE_WARNING, run_detection
from alerts.slack import ConsoleNotifier, deliver_due
from storage import alerts_repo as repo
from storage.db import make_engine, make_session_factory, upgrade
from tests.integration.test_alerts import FAST, NOW, T, steady, store, surge

pytestmark = pytest.mark.integration

# The advisory lock keys detection and delivery used before migration 0006: a reader could take them.
OLD_ADVISORY_KEYS = (0x5E_A1_E7_01, 0x5E_A1_E7_02)


@pytest.fixture(scope="module")
def engine(pg_database_factory: Callable[[], str]) -> Iterator[Engine]:
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    with engine.begin() as conn:
        conn.exec_driver_sql("TRUNCATE alert_outbox, alerts, article_tickers, classifications, articles CASCADE")
    factory = make_session_factory(engine)
    base = steady()
    store(factory, base + surge(len(base)))
    return factory


def _url(engine: Engine, user: str | None = None) -> str:
    url = engine.url.set(drivername="postgresql")
    if user:
        url = url.set(username=user, password=None)
    return url.render_as_string(hide_password=False)


def test_a_reader_cannot_hold_detection_or_delivery_off(engine: Engine, sessions: sessionmaker[Session]) -> None:
    # Reader 1: the daemon's (superuser) connection switched to monitor_reader, as `monitor sql` does, in a
    # read-write transaction. Reader 2: a login as monitor_reader. Each tries every lock it can think of.
    via_role = psycopg.connect(_url(engine))
    direct = psycopg.connect(_url(engine, "monitor_reader"))
    try:
        via_role.execute("SET ROLE monitor_reader")
        for conn in (via_role, direct):
            for key in OLD_ADVISORY_KEYS:  # advisory locks: anyone can take them, so they must not matter
                if conn is via_role:  # (exclusive: the second reader would wait for the first)
                    conn.execute("SELECT pg_advisory_lock(%s), pg_advisory_xact_lock(%s)", (key, key))
                else:
                    conn.execute("SELECT pg_advisory_lock_shared(%s + 1000)", (key,))
            for attempt in ("SELECT * FROM job_leaders FOR UPDATE", "SELECT * FROM job_leaders FOR NO KEY UPDATE",
                            "SELECT * FROM job_leaders FOR SHARE", "SELECT * FROM job_leaders FOR KEY SHARE",
                            "LOCK TABLE job_leaders IN SHARE MODE", "LOCK TABLE job_leaders IN EXCLUSIVE MODE",
                            "LOCK TABLE job_leaders IN ACCESS EXCLUSIVE MODE",
                            "UPDATE job_leaders SET job = job", "DELETE FROM job_leaders"):
                conn.execute("SAVEPOINT s")
                with pytest.raises((psycopg.errors.InsufficientPrivilege, psycopg.errors.ReadOnlySqlTransaction)):
                    conn.execute(attempt)
                conn.execute("ROLLBACK TO SAVEPOINT s")
            conn.execute("SELECT * FROM job_leaders")  # what a reader may hold: ACCESS SHARE, which blocks nothing
        # Both readers keep their transactions (and their locks) open while the jobs run.
        with sessions.begin() as session:
            result = run_detection(session, NOW, T)
        assert result.ran is True
        assert result.count("fire") >= 1
        printed: list[str] = []
        drained = deliver_due(sessions, ConsoleNotifier(printed.append), NOW, FAST)
        assert drained.sent == result.count("fire") and printed
    finally:
        via_role.close()
        direct.close()


def test_a_runner_makes_the_others_skip_and_a_streak_is_a_warning(
    sessions: sessionmaker[Session], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="alerts.job")
    with sessions.begin() as holder:
        assert repo.try_lock(holder)
        for _ in range(SKIPS_BEFORE_WARNING):
            with sessions.begin() as other:
                assert run_detection(other, NOW, T).ran is False
        with sessions.begin() as other:  # the delivery row is another row: not held
            assert repo.try_lock(other, repo.DELIVERY_LOCK_ID)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"{SKIPS_BEFORE_WARNING} times in a row" in warnings[0].getMessage()
    with sessions.begin() as session:
        assert run_detection(session, NOW, T).ran is True  # the streak ends with a run
    caplog.clear()
    with sessions.begin() as holder:
        assert repo.try_lock(holder)
        with sessions.begin() as other:
            assert run_detection(other, NOW, T).ran is False
    assert not [r for r in caplog.records if r.levelno == logging.WARNING]  # counted afresh


def test_a_deleted_leader_row_is_put_back(engine: Engine, sessions: sessionmaker[Session]) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM job_leaders")
    with sessions.begin() as session:
        assert run_detection(session, NOW, T).ran is True
    with engine.connect() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT job FROM job_leaders")] == [repo.DETECTION_LOCK_ID]
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO job_leaders VALUES ('alert_delivery') ON CONFLICT DO NOTHING")

