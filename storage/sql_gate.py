"""The parser gate of ``monitor sql`` (one layer of three, see ``storage.readonly``): PostgreSQL's own grammar
(pglast wraps libpg_query) decides whether a text is exactly one read-only query (docs/sql.md says what passes).

Functions are matched on the last part of the name, in any case or quoting: every ``pg_*`` name is denied but an
allow-list, and a deny-list covers the other names that escape the role or act outside the database. An allow-list
of every function would refuse analysts' ordinary SQL and age badly with PostgreSQL releases. Known gap, covered by
the other layers: attribute notation (``t.f`` for ``f(t)``) calls a function without a FuncCall node.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from pglast import ast, parse_sql
from pglast.parser import ParseError

from storage.db import first_line


class GateError(Exception):
    """The text is not valid SQL (one line)."""


class GateRefusal(Exception):
    """The text is valid SQL but not one read-only query (one line)."""


_READ_ONLY = "monitor sql is read-only and runs one query (SELECT, VALUES, TABLE, WITH, EXPLAIN)"

# pg_* functions that only read catalog or size information, or that the grammar itself emits
# (COLLATION FOR -> pg_collation_for).
_ALLOWED_PG = frozenset({
    "pg_typeof", "pg_size_pretty", "pg_size_bytes", "pg_column_size", "pg_column_compression",
    "pg_relation_size", "pg_total_relation_size", "pg_table_size", "pg_indexes_size", "pg_database_size",
    "pg_collation_for", "pg_client_encoding", "pg_encoding_to_char", "pg_char_to_encoding",
    "pg_backend_pid", "pg_postmaster_start_time", "pg_conf_load_time", "pg_is_in_recovery",
    "pg_table_is_visible", "pg_type_is_visible", "pg_function_is_visible", "pg_has_role",
    "pg_get_expr", "pg_get_keywords", "pg_get_userbyid", "pg_get_serial_sequence",
    "pg_get_function_arguments", "pg_get_function_identity_arguments", "pg_get_function_result",
    "pg_describe_object", "pg_identify_object", "pg_input_is_valid", "pg_input_error_info",
    "pg_index_column_has_property", "pg_index_has_property", "pg_indexam_has_property",
    "pg_partition_tree", "pg_partition_root", "pg_partition_ancestors", "pg_options_to_table",
    "pg_jit_available", "pg_last_xact_replay_timestamp",
})
_ALLOWED_PG_PATTERN = re.compile(r"pg_get_\w*def")  # pg_get_viewdef, pg_get_indexdef, pg_get_constraintdef ...

_DENIED = frozenset({
    "set_config",  # set_config('role' | 'session_authorization', ...) undoes SET ROLE for a superuser session
    "nextval", "setval",  # sequences change outside the transaction
    "loread", "lowrite",  # large objects (lo_* below)
    "ts_stat", "ts_rewrite",  # run the query text they are given
    "gin_clean_pending_list", "brin_summarize_new_values", "brin_summarize_range", "brin_desummarize_range",
    "set_limit",  # pg_trgm: sets a setting
})
_DENIED_PREFIXES = ("lo_", "dblink", "txid_", "binary_upgrade_")
_DENIED_INFIXES = ("_to_xml",)  # query_to_xml*, cursor_to_xml*, table_/schema_/database_to_xml*

# Statement kinds whose words are not their node name's (CopyStmt: COPY, CreateTableAsStmt: CREATE TABLE AS).
_KIND_WORDS = {
    "VariableSetStmt": "SET/RESET", "VariableShowStmt": "SHOW", "TransactionStmt": "transaction control",
    "VacuumStmt": "VACUUM/ANALYZE", "DeclareCursorStmt": "DECLARE", "ClosePortalStmt": "CLOSE",
    "CheckPointStmt": "CHECKPOINT",
}


def check_query(sql: str) -> None:
    """Raise ``GateError`` (not SQL) or ``GateRefusal`` (not one read-only query); return if it may run."""
    if "\x00" in sql:
        # libpg_query (a C string) would stop reading at the NUL; what follows must not reach anything.
        raise GateRefusal("a NUL character in the query refused: the parser would not see what follows it")
    try:
        statements = parse_sql(sql)
    except ParseError as exc:
        raise GateError(f"syntax error: {first_line(str(exc))}") from None
    except RecursionError:
        raise GateError("the query is nested too deeply to check") from None
    if not statements:
        raise GateError("empty query (only comments or semicolons)")
    if len(statements) > 1:
        raise GateRefusal(f"one statement at a time, please: {len(statements)} found; {_READ_ONLY}")
    statement = statements[0].stmt
    if isinstance(statement, ast.ExplainStmt):
        for option in statement.options or ():
            if isinstance(option, ast.DefElem) and (option.defname or "").lower() == "analyze":
                raise GateRefusal("EXPLAIN ANALYZE refused: it runs the statement; use EXPLAIN without it")
        statement = statement.query
    if not isinstance(statement, ast.SelectStmt):
        raise GateRefusal(f"{_kind(statement)} refused: {_READ_ONLY}")
    for node in _walk(statement):  # iterative: parse_sql has already built every node, nothing here recurses
        _check_node(node)


def _check_node(node: ast.Node) -> None:
    name = type(node).__name__
    if name.endswith("Stmt") and not isinstance(node, ast.SelectStmt):
        # A data-modifying CTE (WITH d AS (DELETE ...) SELECT ...), or any statement nested elsewhere.
        raise GateRefusal(f"{_kind(node)} inside the query refused: {_READ_ONLY}")
    if isinstance(node, ast.IntoClause):
        raise GateRefusal(f"SELECT ... INTO refused: it creates a table; {_READ_ONLY}")
    if isinstance(node, ast.LockingClause):
        raise GateRefusal(f"SELECT ... FOR UPDATE/SHARE refused: it locks rows; {_READ_ONLY}")
    if isinstance(node, ast.FuncCall):
        function = _function_name(node)
        if is_denied_function(function):
            raise GateRefusal(f"function {function}() refused: monitor sql is read-only, and this function "
                              "can change the role, settings or sequences, or act outside the database")


def is_denied_function(name: str) -> bool:
    """True for a function name (last part, any case) that monitor sql refuses to call."""
    name = name.lower()
    if name.startswith("pg_"):
        return name not in _ALLOWED_PG and not _ALLOWED_PG_PATTERN.fullmatch(name)
    return (name in _DENIED or name.startswith(_DENIED_PREFIXES)
            or any(infix in name for infix in _DENIED_INFIXES))


def _function_name(node: ast.FuncCall) -> str:
    return str(getattr((node.funcname or (None,))[-1], "sval", "") or "")


def _walk(root: ast.Node) -> Iterator[ast.Node]:
    """Every node under root, root included, in source order (so a refusal names the first offender);
    iterative: a deeply nested query must not hit Python's recursion limit."""
    stack: list[object] = [root]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Node):
            yield item
            stack.extend(reversed([getattr(item, attribute) for attribute in item]))
        elif isinstance(item, list | tuple):
            stack.extend(reversed(item))


def _kind(node: object) -> str:
    name = type(node).__name__
    return _KIND_WORDS.get(name) or " ".join(re.findall(r"[A-Z][a-z]*", name.removesuffix("Stmt"))).upper() or name
