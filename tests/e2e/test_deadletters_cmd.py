"""`monitor deadletters list|replay` as real processes, on PostgreSQL.

The fix being replayed: messages refused as too large under a small MONITOR_MAX_MESSAGE_BYTES pass once the
limit is raised. Letters that still fail stay pending; one whose raw bytes were capped cannot be rebuilt.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import text

from storage.db import make_engine, upgrade
from tests.e2e.support import assert_one_line_error, monitor_env, run_monitor

pytestmark = pytest.mark.e2e

GOOD = 5
FIXABLE = 4  # 3,000 bytes: too large under MONITOR_MAX_MESSAGE_BYTES=2048, fine under the default
TITLE = "Robert'); DROP TABLE articles;-- <script>alert(1)</script>"


def _lines(tmp_path: Path) -> Path:
    rows = [{"id": f"good-{i}", "title": f"Fine headline {i}", "published_at": "2024-05-01T12:00:00Z"}
            for i in range(GOOD)]
    rows += [{"id": f"big-{i}", "title": f"{TITLE} {i}", "published_at": "2024-05-01T13:00:00Z",
              "body": "word " * 600} for i in range(FIXABLE)]
    lines = [json.dumps(r) for r in rows]
    lines += ["{not json", '{"title": "no date"}']  # still invalid after the fix
    lines.append(json.dumps({"id": "huge", "title": "capped", "published_at": "2024-05-01T13:00:00Z",
                             "body": "x" * 5000}))  # its raw bytes are cut at 4096: cannot be replayed
    path = tmp_path / "feed.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def database_url(pg_database_factory: Callable[[], str]) -> str:
    url = pg_database_factory()  # its own database: exact counts
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def _query(url: str, sql: str) -> list[tuple[object, ...]]:
    engine = make_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(text(sql))]
    finally:
        engine.dispose()


def test_list_and_replay_after_a_fix(database_url: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    env = monitor_env(database_url=database_url, model_path=tiny_checkpoint)
    strict = {**env, "MONITOR_MAX_MESSAGE_BYTES": "2048", "MONITOR_DEAD_LETTER_MAX_BYTES": "4096"}
    ingested = run_monitor("ingest", "--file", str(_lines(tmp_path)), "--quiet", env=strict)
    assert ingested.returncode == 0, ingested.stderr[-3000:]
    assert json.loads(ingested.stdout) == {"read": GOOD + FIXABLE + 3, "stored": GOOD, "duplicates": 0,
                                           "dead_letters": FIXABLE + 3}

    listed = run_monitor("deadletters", "list", "--format", "json", env=env)
    assert listed.returncode == 0, listed.stderr[-3000:]
    letters = [json.loads(line) for line in listed.stdout.splitlines()]
    assert len(letters) == FIXABLE + 3 and sum(1 for x in letters if x["truncated"]) == 1
    assert all(x["replayed_at"] is None for x in letters)
    table = run_monitor("deadletters", "list", env=env)
    assert table.returncode == 0 and "too large" in table.stdout
    assert f"({FIXABLE + 3} pending, 0 replayed)" in table.stdout

    def replay(*more: str) -> dict[str, object]:
        proc = run_monitor("deadletters", "replay", *more, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return json.loads(proc.stdout)

    dry = replay("--dry-run")
    assert dry == {"read": FIXABLE + 3, "replayed": FIXABLE, "new_articles": 0, "still_invalid": 2, "truncated": 1,
                   "dry_run": True}
    assert _query(database_url, "select count(*) from articles") == [(GOOD,)]

    done = replay("--batch-size", "2")  # several pages, one transaction each
    assert done == {"read": FIXABLE + 3, "replayed": FIXABLE, "new_articles": FIXABLE, "still_invalid": 2,
                    "truncated": 1, "dry_run": False}
    rows = _query(database_url, "select a.title, count(c.id) from articles a join classifications c "
                                "on c.article_id = a.id where a.external_id like 'big-%' group by a.title order by 1")
    assert rows == [(f"{TITLE} {i}", 1) for i in range(FIXABLE)]  # through the classifier, stored verbatim
    assert _query(database_url, "select count(*) from dead_letters where replayed_at is not null") == [(FIXABLE,)]

    again = replay()  # idempotent: only the three that cannot pass are read, nothing is stored twice
    assert again == {"read": 3, "replayed": 0, "new_articles": 0, "still_invalid": 2, "truncated": 1,
                     "dry_run": False}
    assert _query(database_url, "select count(*) from articles") == [(GOOD + FIXABLE,)]
    everything = run_monitor("deadletters", "list", "--all", "--format", "json", env=env)
    assert sum(1 for line in everything.stdout.splitlines() if json.loads(line)["replayed_at"]) == FIXABLE


@pytest.mark.parametrize(("args", "command", "needle"), [
    (["deadletters", "replay", "--limit", "0"], "deadletters replay", "--limit"),
    (["deadletters", "replay", "--batch-size", "x"], "deadletters replay", "--batch-size"),
    (["deadletters", "list", "--format", "xml"], "deadletters list", "--format"),
    (["deadletters", "purge"], "deadletters", "purge"),
])
def test_bad_arguments_are_one_line_errors(args: list[str], command: str, needle: str,
                                           run_env: Callable[[], dict[str, str]]) -> None:
    assert_one_line_error(run_monitor(*args, env=run_env()), command, needle)


@pytest.fixture
def run_env(pg_url: str, pg_engine: object) -> Callable[[], dict[str, str]]:
    return lambda: monitor_env(database_url=pg_url)
