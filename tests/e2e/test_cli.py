"""`monitor classify | ingest | produce | db` as a user runs them: real subprocesses, real PostgreSQL (configured and
embedded), the real Kafka-protocol broker. Known failures must be one line on stderr and exit 2, never a traceback."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.pool import NullPool

from consumers.source import KafkaSource, ensure_topic
from newsgen.headlines import INVALID_SAMPLES, generate
from storage import embedded
from storage.db import make_engine, upgrade
from tests.e2e.support import (
    FAST_GROUP_JSON,
    SHIPPED_CHECKPOINT,
    assert_one_line_error,
    monitor_env,
    run_monitor,
)

pytestmark = pytest.mark.e2e


# ---------------------------------------------------------------- classify


@pytest.fixture(scope="module")
def classify_model(tiny_checkpoint: Path) -> Path | None:
    """None (MONITOR_MODEL_PATH unset: the shipped checkpoint, the contract users see) when it is there,
    else the tiny one."""
    return None if SHIPPED_CHECKPOINT.is_file() else tiny_checkpoint


def _check_prediction(out: dict, text_in: str) -> None:
    assert set(out) >= {"topic", "topic_score", "sentiment", "sentiment_score", "probabilities", "highlights",
                        "model_version"}, out
    topics, sentiments = out["probabilities"]["topic"], out["probabilities"]["sentiment"]
    assert len(topics) == 20 and math.isclose(sum(topics.values()), 1.0, abs_tol=1e-3), topics
    assert set(sentiments) == {"negative", "neutral", "positive"}
    assert math.isclose(sum(sentiments.values()), 1.0, abs_tol=1e-3), sentiments
    assert out["topic"] == max(topics, key=topics.__getitem__)
    assert out["sentiment"] == max(sentiments, key=sentiments.__getitem__)
    assert math.isclose(out["topic_score"], topics[out["topic"]], abs_tol=1e-4)
    assert math.isclose(out["sentiment_score"], sentiments[out["sentiment"]], abs_tol=1e-4)
    assert isinstance(out["highlights"], list) and out["highlights"], out
    for word in out["highlights"]:
        assert isinstance(word, str) and word and word in text_in, (word, text_in)
    assert isinstance(out["model_version"], str) and out["model_version"]


def test_classify_one_line_out_per_line_in(classify_model: Path | None) -> None:
    title, body = "Contoso Bank shares plunge after profit warning", "The lender also cut its dividend."
    lines = [
        (json.dumps({"title": title, "body": body}), f"{title}\n{body}"),
        (json.dumps({"text": "Northwind Energy beats earnings estimates and raises guidance"}),
         "Northwind Energy beats earnings estimates and raises guidance"),
        (json.dumps({"text": ""}), None),
        (json.dumps({"text": " \t  "}), None),
        (json.dumps({"title": 42, "body": "numbers are not headlines"}), None),
        (json.dumps({"text": 5}), None),
        ("this is not JSON", None),
        (json.dumps([1, 2, 3]), None),
        (json.dumps({"title": "Fabrikam Motors recalls vehicles over safety defect"}),
         "Fabrikam Motors recalls vehicles over safety defect"),
    ]
    proc = run_monitor("classify", "--batch-size", "2", env=monitor_env(model_path=classify_model),
                       stdin="".join(line + "\n" for line, _ in lines))
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(outputs) == len(lines), proc.stdout
    versions = set()
    for (_, text_in), out in zip(lines, outputs, strict=True):
        if text_in is None:
            assert set(out) == {"error"} and isinstance(out["error"], str) and out["error"], out
        else:
            _check_prediction(out, text_in)
            versions.add(out["model_version"])
    assert len(versions) == 1
    if classify_model is None:
        assert versions != {"tiny-random"}  # the shipped checkpoint answered


def test_classify_keeps_order_across_chunks(tiny_checkpoint: Path) -> None:
    # more lines than one internal chunk (256), errors sprinkled in: output i still answers input i
    n = 300
    lines = [json.dumps({"text": ""}) if i % 7 == 3 else json.dumps({"text": f"Headline number w{i}x about stocks"})
             for i in range(n)]
    proc = run_monitor("classify", "--batch-size", "16", env=monitor_env(model_path=tiny_checkpoint),
                       stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    outputs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(outputs) == n
    for i, out in enumerate(outputs):
        if i % 7 == 3:
            assert "error" in out, (i, out)
        else:
            words = f"Headline number w{i}x about stocks"
            assert "topic" in out and all(w in words for w in out["highlights"]), (i, out)


@pytest.mark.parametrize(("args", "needle"), [
    (["--batch-size", "0"], "--batch-size"),
    (["--device", "gpu"], "--device"),
])
def test_classify_bad_arguments(args: list[str], needle: str) -> None:
    proc = run_monitor("classify", *args, env=monitor_env(), stdin='{"text": "x"}\n', timeout=30)
    assert_one_line_error(proc, "classify", needle)
    assert proc.stdout == ""


# ---------------------------------------------------------------- ingest


def _news(tag: str, n: int) -> list[dict]:
    return [{**m, "id": f"{tag}-{i}"} for i, m in enumerate(generate(n, seed=3))]


VALID_EXTRA = [
    {"url": "https://wire-a.example/only-url", "title": "Adatum Pharma wins approval", "published_at":
     "2026-01-02T09:30:00Z", "body": "Shares rose in early trading.", "tickers": ["ADTM"]},
    {"title": "Keyed by hash: no id, no url", "published_at": "2026-01-03T09:30:00+01:00", "source": "fin-blog"},
]
INVALID_LINES: list[bytes] = [INVALID_SAMPLES[i] for i in (1, 2, 0, 3, 4, 5, 6)]  # not-JSON first


def _ingest_file(path: Path, tag: str) -> tuple[Path, int, int, int]:
    """A file of valid, duplicate, invalid and blank lines; returns (path, read, valid distinct, invalid)."""
    valid = [json.dumps(m).encode() for m in _news(tag, 6) + VALID_EXTRA]
    lines = list(valid)
    lines.insert(2, valid[0])  # a duplicate inside the file
    for i, bad in enumerate(INVALID_LINES):
        lines.insert(1 + 2 * i, bad)
    lines.insert(4, b"")  # blank lines are skipped, not dead letters
    lines.insert(9, b"   ")
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, len(valid) + 1 + len(INVALID_LINES), len(valid), len(INVALID_LINES)


@pytest.fixture
def fresh_pg(pg_database_factory: Callable[[], str]) -> Iterator[tuple[str, Engine]]:
    """(postgresql:// URL, engine) of a new database at the head revision, so counts are exact."""
    url = pg_database_factory()
    engine = make_engine(url, poolclass=NullPool)
    upgrade(engine)
    yield url, engine
    engine.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as c:
        return {t: int(c.execute(text(f"select count(*) from {t}")).scalar_one())
                for t in ("articles", "classifications", "article_tickers", "dead_letters")}


def _summary(proc) -> dict:
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_ingest_into_postgresql_is_idempotent(fresh_pg, tiny_checkpoint: Path, tmp_path: Path) -> None:
    url, engine = fresh_pg
    path, read, valid, invalid = _ingest_file(tmp_path / "news.jsonl", "ingest")
    env = monitor_env(database_url=url, model_path=tiny_checkpoint)

    first = _summary(run_monitor("ingest", "--file", str(path), "--quiet", env=env))
    assert first == {"read": read, "stored": valid, "duplicates": 1, "dead_letters": invalid}
    counts = _counts(engine)
    assert counts["articles"] == counts["classifications"] == valid
    assert counts["dead_letters"] == invalid
    with engine.connect() as c:
        ids = {r[0] for r in c.execute(text("select external_id from articles where external_id is not null"))}
        assert ids == {f"ingest-{i}" for i in range(6)}
        views = c.execute(text("select count(*), count(distinct model_version) from article_sentiment")).one()
        assert tuple(views) == (valid, 1)
        letters = c.execute(text("select raw, error, kafka_topic, kafka_offset from dead_letters")).all()
    assert sorted(bytes(r.raw) for r in letters) == sorted(INVALID_LINES)
    assert all(r.error and r.kafka_topic == f"file:{path.name}" and r.kafka_offset is not None for r in letters)
    # the offset of a file's dead letter is its line number: the raw bytes are that line
    file_lines = path.read_bytes().split(b"\n")
    assert all(file_lines[r.kafka_offset - 1] == bytes(r.raw) for r in letters)

    second = _summary(run_monitor("ingest", "--file", str(path), "--quiet", env=env))
    assert second["read"] == read and second["stored"] == 0 and second["duplicates"] == valid + 1
    again = _counts(engine)
    assert {k: again[k] for k in ("articles", "classifications", "article_tickers")} == {
        k: counts[k] for k in ("articles", "classifications", "article_tickers")}
    # ingest records "file:NAME" + line number as the position, so re-running a file dedups its dead letters
    assert again["dead_letters"] == counts["dead_letters"]


def test_ingest_and_classify_read_an_over_long_line_with_a_bound(
    fresh_pg, tiny_checkpoint: Path, tmp_path: Path
) -> None:
    """A 20 MB line (MONITOR_MAX_MESSAGE_BYTES 1 MB) is read only up to the limit: a dead letter for ingest
    ("too large"), an error answer for classify; the lines after it keep their line numbers and answers."""
    url, engine = fresh_pg
    good = [json.dumps(m).encode() for m in _news("long", 3)]
    huge = json.dumps({"title": "x", "published_at": "2026-01-01T00:00:00Z", "body": "y" * 20_000_000}).encode()
    path = tmp_path / "long.jsonl"
    path.write_bytes(b"\n".join([good[0], huge, good[1], good[2]]) + b"\n")
    env = monitor_env(database_url=url, model_path=tiny_checkpoint)
    assert _summary(run_monitor("ingest", "--file", str(path), "--quiet", env=env)) == {
        "read": 4, "stored": 3, "duplicates": 0, "dead_letters": 1}
    with engine.connect() as c:
        offset, error, kept, size = c.execute(
            text("select kafka_offset, error, length(raw), raw_size from dead_letters")).one()
    # ingest read the line only up to the limit (+1 byte), not its 20 MB, yet records its real size
    assert (offset, error, size) == (2, f"too large: {len(huge)} bytes > 1000000", len(huge)), error
    assert kept <= 65536

    texts = [json.dumps({"text": "Shares fall"}), json.dumps({"text": "z" * 2_000_000}), json.dumps({"text": "Up"})]
    proc = run_monitor("classify", env=env, stdin="\n".join(texts) + "\n")
    assert proc.returncode == 0, proc.stderr[-3000:]
    answers = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(answers) == 3 and "topic" in answers[0] and "topic" in answers[2]
    assert "line too long" in answers[1]["error"]


def test_ingest_missing_file(tmp_path: Path) -> None:
    proc = run_monitor("ingest", "--file", str(tmp_path / "nope.jsonl"), env=monitor_env(), timeout=30)
    assert_one_line_error(proc, "ingest", "nope.jsonl")


def test_ingest_without_schema_says_run_db_upgrade(pg_empty_url: str, tiny_checkpoint: Path, tmp_path: Path) -> None:
    path, read, valid, invalid = _ingest_file(tmp_path / "news.jsonl", "schema")
    env = monitor_env(database_url=pg_empty_url, model_path=tiny_checkpoint)

    refused = run_monitor("ingest", "--file", str(path), "--quiet", env=env)
    assert_one_line_error(refused, "ingest", "monitor db upgrade")
    assert refused.stdout == ""
    engine = make_engine(pg_empty_url, poolclass=NullPool)
    try:
        with engine.connect() as c:  # refused before any DDL: nothing of ours was created
            tables = c.execute(text("select count(*) from information_schema.tables where table_schema = 'public'"))
            assert tables.scalar_one() == 0

        upgraded = run_monitor("db", "upgrade", env=env)
        assert upgraded.returncode == 0 and "Traceback" not in upgraded.stderr, upgraded.stderr[-3000:]
        assert "database schema at revision" in upgraded.stdout
        current = run_monitor("db", "current", env=env)
        assert current.returncode == 0, current.stderr[-3000:]
        revision = upgraded.stdout.split()[-1]
        assert current.stdout.strip() == f"database schema at revision {revision} (head {revision})"

        assert _summary(run_monitor("ingest", "--file", str(path), "--quiet", env=env)) == {
            "read": read, "stored": valid, "duplicates": 1, "dead_letters": invalid}
        assert _counts(engine)["articles"] == valid
    finally:
        engine.dispose()


def test_ingest_with_no_settings_uses_the_embedded_server(tiny_checkpoint: Path, tmp_path: Path) -> None:
    """No MONITOR_DATABASE_URL: the embedded server on ./monitor-data/postgres, started and migrated by the first
    command, outlives it, and the next commands (another process) find the same data."""
    path, read, valid, invalid = _ingest_file(tmp_path / "news.jsonl", "embedded")
    env = monitor_env(model_path=tiny_checkpoint, database_url=None)
    try:
        ingested = run_monitor("ingest", "--file", str(path), "--quiet", env=env, cwd=tmp_path)
        assert _summary(ingested) == {"read": read, "stored": valid, "duplicates": 1, "dead_letters": invalid}
        counted = run_monitor("sql", "--format", "csv", "select count(*) from article_sentiment", env=env, cwd=tmp_path)
        assert counted.returncode == 0, counted.stderr
        assert counted.stdout.split() == ["count", str(valid)]
        version = run_monitor("sql", "--format", "csv", "select version()", env=env, cwd=tmp_path)
        assert version.stdout.splitlines()[1].startswith('"PostgreSQL 18'), version.stdout
        url = run_monitor("db", "url", env=env, cwd=tmp_path).stdout.strip()
        engine = make_engine(url, poolclass=NullPool)
        try:
            counts = _counts(engine)
            assert counts["articles"] == counts["classifications"] == valid and counts["dead_letters"] == invalid
            with engine.connect() as c:
                assert c.execute(text("select count(*) from sentiment_hourly")).scalar_one() > 0
        finally:
            engine.dispose()
    finally:
        embedded.stop(tmp_path / "monitor-data" / "postgres")


# ---------------------------------------------------------------- produce


def test_produce_file_reaches_the_topic(kafka_broker, tmp_path: Path) -> None:
    topic = f"cli-produce-{uuid.uuid4().hex[:10]}"
    ensure_topic(kafka_broker.bootstrap_servers, topic, partitions=2)
    values = [json.dumps(m).encode() for m in _news(topic, 40)] + [b"{not json", "Überraschung €".encode()]
    path = tmp_path / "out.jsonl"
    path.write_bytes(b"\r\n".join(values[:10]) + b"\r\n\n" + b"\n".join(values[10:]))  # CRLF and a blank line

    env = monitor_env(kafka_bootstrap_servers=kafka_broker.bootstrap_servers, kafka_topic=topic)
    proc = run_monitor("produce", "--file", str(path), "--quiet", env=env)
    assert _summary(proc) == {"sent": len(values), "topic": topic}

    received: list[bytes] = []
    with KafkaSource(kafka_broker.bootstrap_servers, topic, f"probe-{topic}", json.loads(FAST_GROUP_JSON)) as src:
        deadline = time.monotonic() + 40
        while len(received) < len(values) and time.monotonic() < deadline:
            received += [m.value for m in src.poll(max_records=500, timeout_ms=500)]
        received += [m.value for m in src.poll(max_records=500, timeout_ms=300)]  # nothing more may come
    assert sorted(received) == sorted(values)


def test_produce_missing_file(tmp_path: Path) -> None:
    proc = run_monitor("produce", "--file", str(tmp_path / "none.jsonl"), env=monitor_env(), timeout=30)
    assert_one_line_error(proc, "produce", "none.jsonl")


# ---------------------------------------------------------------- bad settings, unreachable database


@pytest.mark.parametrize(("setting", "value", "needle"), [
    ("kafka_consumer_options", "not json", "kafka_consumer_options"),
    ("kafka_consumer_options", "[1, 2]", "kafka_consumer_options"),
    ("batch_max_size", "0", "MONITOR_BATCH_MAX_SIZE"),
    ("device", "gpu", "MONITOR_DEVICE"),
])
def test_bad_setting_is_one_line(setting: str, value: str, needle: str, tmp_path: Path) -> None:
    env = monitor_env(**{setting: value, "database_url": "postgresql://nobody@127.0.0.1:1/x"})
    for command in (["run"], ["db", "current"]):
        proc = run_monitor(*command, env=env, timeout=30)
        assert_one_line_error(proc, command[0], needle)


def test_unknown_kafka_option_is_one_line(tiny_checkpoint: Path, pg_url: str, pg_engine: Engine) -> None:
    env = monitor_env(kafka_consumer_options='{"max_poll_interval_ms": 5000, "bogus_option": 1}',
                      database_url=pg_url, model_path=tiny_checkpoint,
                      kafka_bootstrap_servers="127.0.0.1:1")
    assert_one_line_error(run_monitor("run", env=env, timeout=40), "run", "bogus_option")


def test_unreachable_database_is_one_line(tiny_checkpoint: Path, tmp_path: Path) -> None:
    path, *_ = _ingest_file(tmp_path / "news.jsonl", "unreachable")
    env = monitor_env(database_url="postgresql://nobody:s3cret-pw@127.0.0.1:1/x", model_path=tiny_checkpoint)
    for command in (["ingest", "--file", str(path), "--quiet"], ["db", "upgrade"]):
        proc = run_monitor(*command, env=env, timeout=40)
        line = assert_one_line_error(proc, command[0], "database unavailable")
        assert line.count("unavailable") == 1, line
        assert "s3cret-pw" not in proc.stderr + proc.stdout  # secrets are never printed
