"""`monitor reclassify`, `monitor model list|use`, `monitor prune` and `monitor db rebuild-rollups` as processes
against a real PostgreSQL database, with tiny models of the real architecture."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from storage.db import make_engine, upgrade
from storage.schema import alerts
from tests.e2e.support import assert_one_line_error, monitor_env, run_monitor
from tests.model_fixtures import make_tiny_checkpoint

NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def second_model(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    """Another version of the tiny model: what a re-classification would bring."""
    path = tmp_path_factory.mktemp("model2") / "tiny-2.safetensors"
    return make_tiny_checkpoint(path, shared_data, seed=1, model_version="tiny-random-2")


@pytest.fixture
def database(pg_database_factory: Callable[[], str]) -> Iterator[tuple[str, Engine]]:
    url = pg_database_factory()
    engine = make_engine(url, poolclass=NullPool)
    upgrade(engine)
    yield url, engine
    engine.dispose()


def _news(path: Path, ages: list[timedelta]) -> Path:
    lines = [
        json.dumps({"id": f"n{i}", "title": f"Regional bank {i} warns on loan losses", "body": "Shares fell.",
                    "tickers": ["BNK"] if i % 2 else [], "published_at": (NOW - age).isoformat()})
        for i, age in enumerate(ages)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def _scalar(engine: Engine, sql: str) -> object:
    with engine.connect() as c:
        return c.execute(text(sql)).scalar_one()


def _rollups_match_articles(engine: Engine) -> bool:
    with engine.connect() as c:
        hourly = c.execute(text("select coalesce(sum(total), 0), coalesce(sum(negative), 0) from sentiment_hourly"))
        direct = c.execute(text("select count(*), coalesce(sum(case when sentiment = 'negative' then 1 else 0 end), 0) "
                                "from article_sentiment"))
        return tuple(hourly.one()) == tuple(direct.one())


def test_reclassify_adds_a_version_and_model_use_picks_what_views_show(
    database: tuple[str, Engine], tiny_checkpoint: Path, second_model: Path, tmp_path: Path
) -> None:
    url, engine = database
    env = monitor_env(database_url=url, model_path=tiny_checkpoint)
    news = _news(tmp_path / "news.jsonl", [timedelta(hours=h) for h in (1, 2, 3, 30, 50, 70)])
    assert run_monitor("ingest", "--file", str(news), "--quiet", env=env).returncode == 0

    # Only the last 48 hours first, then everything: the second run does just the rest (resumable).
    since_48h = (NOW - timedelta(hours=48)).isoformat()
    first = run_monitor("reclassify", "--since", since_48h, "--model", str(second_model), "--quiet", env=env)
    assert first.returncode == 0, first.stderr
    assert "reclassified 4 article(s)" in first.stdout
    rest = run_monitor("reclassify", "--since", "2000-01-01", "--model", str(second_model), "--quiet", env=env)
    assert "reclassified 2 article(s)" in rest.stdout, rest.stdout + rest.stderr
    again = run_monitor("reclassify", "--since", "2000-01-01", "--model", str(second_model), "--quiet", env=env)
    assert "reclassified 0 article(s)" in again.stdout

    assert _scalar(engine, "select count(*) from classifications") == 12  # old rows kept, nothing overwritten
    assert _scalar(engine, "select count(distinct model_version) from article_sentiment") == 1
    assert _scalar(engine, "select min(model_version) from article_sentiment") == "tiny-random-2"  # newest
    assert _rollups_match_articles(engine)

    use_old = run_monitor("model", "use", "tiny-random", env=env)
    assert use_old.returncode == 0, use_old.stderr
    assert _scalar(engine, "select min(model_version) from article_sentiment") == "tiny-random"
    assert _scalar(engine, "select max(model_version) from article_sentiment") == "tiny-random"
    assert _rollups_match_articles(engine)
    listing = run_monitor("model", "list", env=env).stdout
    assert "* tiny-random " in listing and "  tiny-random-2" in listing

    assert run_monitor("model", "use", "--newest", env=env).returncode == 0
    assert _scalar(engine, "select min(model_version) from article_sentiment") == "tiny-random-2"
    assert_one_line_error(run_monitor("model", "use", "no-such-version", env=env), "model", "no-such-version")


def test_prune_is_a_dry_run_unless_yes_and_keeps_alerts_and_rollups(
    database: tuple[str, Engine], tiny_checkpoint: Path, tmp_path: Path
) -> None:
    url, engine = database
    env = monitor_env(database_url=url, model_path=tiny_checkpoint)
    old = [timedelta(days=400), timedelta(days=500), timedelta(days=401)]
    news = _news(tmp_path / "news.jsonl", old + [timedelta(hours=5), timedelta(days=3)])
    assert run_monitor("ingest", "--file", str(news), "--quiet", env=env).returncode == 0
    long_ago = NOW - timedelta(days=450)
    with Session(engine) as session, session.begin():
        session.execute(insert(alerts).values(
            rule="negative_surge", scope="market", key="market", window_start=long_ago,
            window_end=long_ago + timedelta(hours=1), negative=9, total=10, baseline=0.2, p_value=0.001,
            odds_ratio=8.0, fired_at=long_ago, last_notified_at=long_ago))
    hourly_before = _scalar(engine, "select sum(total) from sentiment_hourly")
    ticker_before = _scalar(engine, "select sum(total) from ticker_sentiment_hourly")

    dry = run_monitor("prune", "--older-than", "365d", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "dry run: would delete 3 article(s), 3 classification(s)" in dry.stdout
    assert _scalar(engine, "select count(*) from articles") == 5

    real = run_monitor("prune", "--older-than", "365d", "--yes", "--chunk", "2", env=env)
    assert real.returncode == 0, real.stderr
    assert "deleted 3 article(s), 3 classification(s)" in real.stdout
    assert _scalar(engine, "select count(*) from articles") == 2
    assert _scalar(engine, "select count(*) from classifications") == 2
    assert _scalar(engine, "select count(*) from alerts") == 1
    assert _scalar(engine, "select sum(total) from sentiment_hourly") == hourly_before == 5
    assert _scalar(engine, "select sum(total) from ticker_sentiment_hourly") == ticker_before

    # Rebuilding recomputes only the hours that still have articles: the pruned hours keep their counts.
    rebuilt = run_monitor("db", "rebuild-rollups", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _scalar(engine, "select sum(total) from sentiment_hourly") == 5


@pytest.mark.parametrize("args, needle", [
    (["prune", "--older-than", "5x"], "duration"),
    (["prune", "--older-than", "0d"], "duration"),
    (["reclassify", "--since", "yesterday", "--model", "m.safetensors"], "iso 8601"),
    (["reclassify", "--since", "2026-11-02", "--until", "2026-11-01", "--model", "m.safetensors"], "--until"),
    (["reclassify", "--since", "2026-11-01", "--model", "missing.safetensors"], "missing.safetensors"),
])
def test_bad_arguments_get_one_line(args: list[str], needle: str, pg_url: str, pg_engine: Engine) -> None:
    env = monitor_env(database_url=pg_url)
    assert_one_line_error(run_monitor(*args, env=env), args[0], needle)
