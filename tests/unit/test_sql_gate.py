"""The parser gate of `monitor sql` alone (storage.sql_gate): no database, only PostgreSQL's grammar.

Each attack must be refused by the gate by itself; the database layers are tested without the gate in
tests/integration/test_sql_layers.py, so no single layer is load-bearing."""

from __future__ import annotations

import pytest

from storage.sql_gate import GateError, GateRefusal, check_query, is_denied_function

# (query, a word of the refusal)
ATTACKS = [
    # the first-keyword check's bypasses: an empty statement, comments, whitespace
    (";copy (select 1) to program 'id > pwned.txt'", "COPY"),
    (";;  ;copy (select 1) to program 'id'", "COPY"),
    ("/**/copy (select 1) to program 'id'", "COPY"),
    ("/* a /* nested */ comment */copy (select 1) to program 'id'", "COPY"),
    ("--x\ncopy (select 1) to program 'id'", "COPY"),
    ("\u00a0copy (select 1) to stdout", ""),  # a no-break space is not whitespace to PostgreSQL: syntax error
    ("(copy (select 1) to stdout)", ""),
    ("CoPy articles TO STDOUT", "COPY"),
    ("copy articles from program 'cat /etc/passwd'", "COPY"),
    # more than one statement
    ("select 1\x00; copy (select 1) to program 'id'", "NUL"),
    ("select 1; select 2", "one statement"),
    ("select 1; commit; delete from articles", "one statement"),
    ("select 1;\n;copy (select 1) to program 'id'", "one statement"),
    # not a query
    ("do $$begin reset transaction_read_only; perform setval('articles_id_seq', 1); end$$", "DO"),
    (";do $$begin perform 1; end$$", "DO"),
    ("insert into articles (key, title, published_at) values ('x', 'x', now())", "INSERT"),
    ("update articles set title = 'x'", "UPDATE"),
    ("delete from articles", "DELETE"),
    ("merge into articles a using articles b on a.id = b.id when matched then delete", "MERGE"),
    ("truncate articles", "TRUNCATE"),
    ("drop table articles", "DROP"),
    ("create table t (x int)", "CREATE"),
    ("create table t as select 1", "CREATE TABLE AS"),
    ("alter table articles add column x int", "ALTER"),
    ("grant all on articles to public", "GRANT"),
    ("prepare p as select 1", "PREPARE"),
    ("execute p", "EXECUTE"),
    ("deallocate all", "DEALLOCATE"),
    ("set role postgres", "SET"),
    ("set session authorization postgres", "SET"),
    ("set transaction read write", "SET"),
    ("reset role", "SET/RESET"),
    ("reset all", "SET/RESET"),
    ("show all", "SHOW"),
    ("listen news", "LISTEN"),
    ("notify news, 'x'", "NOTIFY"),
    ("call some_procedure()", "CALL"),
    ("vacuum full articles", "VACUUM"),
    ("analyze articles", "VACUUM/ANALYZE"),
    ("lock table articles in access exclusive mode", "LOCK"),
    ("begin", "transaction"),
    ("commit", "transaction"),
    ("rollback", "transaction"),
    ("start transaction read write", "transaction"),
    ("declare c cursor for select 1", "DECLARE"),
    ("load 'plpgsql'", "LOAD"),
    ("checkpoint", "CHECKPOINT"),
    ("discard all", "DISCARD"),
    ("refresh materialized view v", "REFRESH"),
    ("create extension dblink", "CREATE"),
    # data-modifying CTEs, at any depth
    ("with d as (delete from articles returning *) select * from d", "DELETE"),
    ("with u as (update articles set title = 'x' returning id) select count(*) from u", "UPDATE"),
    ("with i as (insert into article_tickers values (1, 'X') returning *) select * from i", "INSERT"),
    ("with a as (select 1), d as (delete from articles returning id) select * from a", "DELETE"),
    ("with recursive r(n) as (select 1 union all select n + 1 from r where n < 3), "
     "d as (delete from articles returning id) select * from r", "DELETE"),
    ("select * from (with d as (delete from articles returning id) select * from d) s", "DELETE"),
    ("with d as (delete from articles returning *) delete from classifications", "DELETE"),
    # EXPLAIN ANALYZE runs the statement
    ("explain analyze delete from articles", "ANALYZE"),
    ("explain analyse select 1", "ANALYZE"),
    ("explain (analyze) select 1", "ANALYZE"),
    ("explain (analyze true) select 1", "ANALYZE"),
    ("explain (costs off, ANALYZE on) select 1", "ANALYZE"),
    ("explain delete from articles", "DELETE"),
    ("explain create table t as select 1", "CREATE TABLE AS"),
    ("explain execute p", "EXECUTE"),
    # SELECT INTO and locking clauses
    ("select * into t from articles", "INTO"),
    ("select 1 as x into temporary scratch", "INTO"),
    ("select * into unlogged t from articles", "INTO"),
    ("select * from articles for update", "FOR UPDATE"),
    ("select * from articles for no key update", "FOR UPDATE"),
    ("select * from articles for share", "FOR UPDATE"),
    ("select * from articles for key share skip locked", "FOR UPDATE"),
    ("select * from articles for update nowait", "FOR UPDATE"),
    ("select (select id from articles limit 1 for update)", "FOR UPDATE"),
    ("select 1 union select 2 for share", "FOR UPDATE"),
    ("with x as (select * from articles for update) select * from x", "FOR UPDATE"),
    # functions that escape the role, run dynamic SQL or act outside the database
    ("select set_config('role', 'postgres', true)", "set_config"),
    ("select set_config('session_authorization', 'postgres', false)", "set_config"),
    ("select pg_catalog.set_config('role','postgres',true)", "set_config"),
    ('select pg_catalog."set_config"(\'role\', \'postgres\', true)', "set_config"),
    ("select PG_CATALOG.SET_CONFIG('role', 'postgres', true)", "set_config"),
    ('select "SET_CONFIG"(\'role\', \'postgres\', true)', "set_config"),
    ("select * from articles where set_config('role', 'postgres', true) is not null", "set_config"),
    ("select (select set_config('role','postgres',true))", "set_config"),
    ("select 1 order by set_config('role','postgres',true)", "set_config"),
    ("values (set_config('role','postgres',true))", "set_config"),
    ("select * from set_config('role','postgres',true)", "set_config"),
    ("select * from rows from (set_config('role','postgres',true))", "set_config"),
    ("select count(*) filter (where set_config('role','postgres',true) > '') from articles", "set_config"),
    ("select pg_read_file('/etc/passwd')", "pg_read_file"),
    ("select pg_read_binary_file('/etc/passwd')", "pg_read_binary_file"),
    ("select * from pg_ls_dir('/')", "pg_ls_dir"),
    ("select pg_ls_waldir()", "pg_ls_waldir"),
    ("select pg_stat_file('/etc/passwd')", "pg_stat_file"),
    ("select lo_import('/etc/passwd')", "lo_import"),
    ("select lo_export(1, '/tmp/x')", "lo_export"),
    ("select lo_create(0)", "lo_create"),
    ("select lo_from_bytea(0, 'x')", "lo_from_bytea"),
    ("select lowrite(0, 'x')", "lowrite"),
    ("select lo_unlink(1)", "lo_unlink"),
    ("select pg_terminate_backend(pid) from pg_stat_activity", "pg_terminate_backend"),
    ("select pg_cancel_backend(1)", "pg_cancel_backend"),
    ("select pg_signal_backend(1, 15)", "pg_signal_backend"),
    ("select pg_advisory_lock(1)", "pg_advisory_lock"),
    ("select pg_advisory_xact_lock(1594550017), pg_sleep(60)", "pg_advisory_xact_lock"),
    ("select pg_try_advisory_lock_shared(1)", "pg_try_advisory_lock_shared"),
    ("select pg_create_logical_replication_slot('s', 'test_decoding')", "pg_create_logical_replication_slot"),
    ("select pg_create_physical_replication_slot('s', true)", "pg_create_physical_replication_slot"),
    ("select pg_drop_replication_slot('s')", "pg_drop_replication_slot"),
    ("select * from pg_logical_slot_get_changes('s', null, null)", "pg_logical_slot_get_changes"),
    ("select pg_reload_conf()", "pg_reload_conf"),
    ("select pg_rotate_logfile()", "pg_rotate_logfile"),
    ("select pg_switch_wal()", "pg_switch_wal"),
    ("select pg_promote()", "pg_promote"),
    ("select pg_log_backend_memory_contexts(1)", "pg_log_backend_memory_contexts"),
    ("select pg_notify('news', 'x')", "pg_notify"),
    ("select nextval('articles_id_seq')", "nextval"),
    ("select setval('articles_id_seq', 1)", "setval"),
    ("select txid_current()", "txid_current"),
    ("select pg_current_xact_id()", "pg_current_xact_id"),
    ("select pg_sleep(60)", "pg_sleep"),
    ("select pg_sleep_for('1 hour')", "pg_sleep_for"),
    ("select pg_file_write('x', 'y', false)", "pg_file_write"),
    ("select query_to_xml('delete from articles returning 1', true, false, '')", "query_to_xml"),
    ("select query_to_xml_and_xmlschema('select 1', true, false, '')", "query_to_xml_and_xmlschema"),
    ("select query_to_xmlschema('select 1', true, false, '')", "query_to_xmlschema"),
    ("select cursor_to_xml('c', 1, true, false, '')", "cursor_to_xml"),
    ("select table_to_xml('articles', true, false, '')", "table_to_xml"),
    ("select database_to_xml(true, false, '')", "database_to_xml"),
    ("select * from ts_stat('select to_tsvector(title) from articles')", "ts_stat"),
    ("select dblink_exec('dbname=x', 'delete from articles')", "dblink_exec"),
    ("select * from dblink('dbname=x', 'select 1') as t(x int)", "dblink"),
    ("select gin_clean_pending_list('ix'::regclass)", "gin_clean_pending_list"),
    ("select brin_summarize_new_values('ix'::regclass)", "brin_summarize_new_values"),
    ("select pg_stat_reset()", "pg_stat_reset"),
    ("select pg_backup_start('x')", "pg_backup_start"),
    ("select public.pg_read_file('/etc/passwd')", "pg_read_file"),
    ("select a.b.c.pg_read_file('/etc/passwd')", "pg_read_file"),
    ("select 1 from articles group by pg_sleep(1)", "pg_sleep"),
    ("select lag(pg_sleep(1)) over () from articles", "pg_sleep"),
    ("select xmlelement(name x, pg_read_file('/etc/passwd'))", "pg_read_file"),
    ("select array[pg_read_file('/etc/passwd')]", "pg_read_file"),
    ("select case when true then pg_read_file('/etc/passwd') end", "pg_read_file"),
    ("select coalesce(null, pg_read_file('/etc/passwd'))", "pg_read_file"),
    ("select * from json_to_record(pg_read_file('/x')::json) as t(a int)", "pg_read_file"),
    ("select * from articles tablesample system (pg_sleep(1)::int)", "pg_sleep"),
    ("explain select pg_sleep(1)", "pg_sleep"),
]

LEGIT = [
    "select 1",
    "select 1;",
    "  select 1 ; ; ",
    "-- a comment\nselect 1 -- and another\n",
    "/* block */ (select 1)",
    "table articles",
    "values (1, 'a'), (2, 'b')",
    "select 1 union all select 2 except select 3",
    "with recursive n(i) as (select 1 union all select i + 1 from n where i < 3) select * from n",
    "with a as materialized (select 1 as x) select * from a",
    "explain select * from articles",
    "explain (costs off, format json) select 1",
    "explain verbose select 1",
    "select 'it''s 50% off; copy (select 1) to program ''id''' as s",
    "select $$set_config('role','postgres',true)$$",
    "select count(*) from articles where title ~* 'copy|delete'",
    "select collation for ('a'), extract(year from now()), 'x' at time zone 'UTC'",
    "select pg_typeof(1), pg_size_pretty(pg_total_relation_size('articles')), pg_column_size('x')",
    "select pg_get_viewdef('article_sentiment'::regclass), pg_get_constraintdef(oid) from pg_constraint",
    "select current_setting('statement_timeout'), current_user, version(), now(), currval('x') is null",
    "select date_trunc('hour', published_at), count(*) from articles group by 1 order by 1",
    "select jsonb_build_object('a', 1) -> 'a', string_agg(title, ', ') from articles",
    "select * from generate_series(1, 3) as g(i) join lateral (select i * 2) d(x) on true",
    "select row_number() over (partition by source order by published_at) from articles",
    "select * from articles where id in (select article_id from classifications limit 5) limit 10",
    "select 'a' similar to 'b', trim(' a '), substring('abc' from 1 for 2), position('b' in 'abc')",
    "select title from articles order by published_at desc nulls last limit 5 offset 1",
    "select * from unnest(array[1,2]) with ordinality",
]


@pytest.mark.parametrize("query, word", ATTACKS)
def test_attacks_are_refused_by_the_gate_alone(query: str, word: str) -> None:
    with pytest.raises((GateRefusal, GateError)) as caught:
        check_query(query)
    message = str(caught.value)
    assert "\n" not in message
    assert word.lower() in message.lower(), message
    if word:  # named attacks are refusals, not syntax errors
        assert isinstance(caught.value, GateRefusal), message


@pytest.mark.parametrize("query", LEGIT)
def test_analysts_queries_pass(query: str) -> None:
    check_query(query)


@pytest.mark.parametrize("query, word", [("selec 1", "syntax error"), ("", "empty"), (" ;; -- x", "empty"),
                                         ("select 'unterminated", "syntax error"),
                                         ("select (" * 3000 + "1" + ")" * 3000, "")])
def test_not_sql_is_a_one_line_error(query: str, word: str) -> None:
    try:
        check_query(query)
    except GateRefusal:
        pytest.fail("a syntax problem is an error, not a refusal")
    except GateError as exc:
        assert "\n" not in str(exc) and word in str(exc)
    else:
        assert not word  # very deep nesting may parse; then it is an ordinary query


# With standard_conforming_strings on (the gate's reading), 'a\'' goes on past the doubled quote and this
# is one string literal; with it off, the server would end the literal at \' and call pg_read_file.
# storage.readonly sets it on for the transaction, so the server reads what the gate read
# (tests/integration/test_sql_layers.py checks that on a database whose default is off).
SCS_DISGUISED_CALL = "select 'a\\'', pg_read_file($p$/etc/passwd$p$) --'"


def test_the_gate_reads_strings_with_standard_conforming_strings_on() -> None:
    check_query(SCS_DISGUISED_CALL)  # one string literal, no call: passes


@pytest.mark.parametrize("name, denied", [
    ("pg_read_file", True), ("PG_READ_FILE", True), ("pg_get_viewdef", False), ("pg_get_indexdef", False),
    ("pg_get_functiondef", False), ("pg_typeof", False), ("pg_sleep", True), ("pg_anything_new", True),
    ("set_config", True), ("current_setting", False), ("lo_get", True), ("loread", True),
    ("query_to_xml", True), ("schema_to_xmlschema", True), ("xmlelement", False), ("lower", False),
    ("dblink_connect", True), ("txid_current", True), ("nextval", True), ("currval", False),
    ("count", False), ("to_char", False),
])
def test_function_policy(name: str, denied: bool) -> None:
    assert is_denied_function(name) is denied
