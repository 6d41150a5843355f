"""`monitor classify` (and every command's start) must not pay for the floors it does not use: the CLI and the
classifier loader come up without storage (SQLAlchemy, Alembic, psycopg) or kafka-python, whose imports cost
about a second of every short `monitor classify` run. Known failures of those floors still exit 2 once loaded."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "psycopg", "kafka", "storage.db", "storage.embedded", "consumers.source")


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_cli_parser_and_classifier_loader_import_no_storage_or_kafka() -> None:
    loaded = _loaded_after("from monitor import app, cli\ncli.build_parser()\nassert callable(app.load_classifier)")
    assert loaded == []


def test_a_known_failure_of_a_loaded_floor_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    from monitor import cli
    from storage.db import SchemaMissing

    def fails(_args: object) -> int:
        raise SchemaMissing("database has no schema\nrun monitor db upgrade")

    args = cli.build_parser().parse_args(["classify"])
    args.fn = fails
    assert cli._run(args) == 2
    err = capsys.readouterr().err
    assert err == "monitor classify: error: database has no schema\n"


def test_an_unknown_failure_is_not_turned_into_exit_2() -> None:
    from monitor import cli

    def fails(_args: object) -> int:
        raise RuntimeError("boom")

    args = cli.build_parser().parse_args(["classify"])
    args.fn = fails
    with pytest.raises(RuntimeError, match="boom"):
        cli._run(args)
