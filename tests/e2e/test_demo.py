"""`monitor demo`: bundled broker, a fresh database on the embedded PostgreSQL server, generated news, the real
daemon."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.pool import NullPool

from monitor.demo import DEMO_DATABASE
from newsgen.headlines import INVALID_SAMPLES
from newsgen.surges import demo_surge
from storage import embedded
from storage.db import make_engine
from tests.e2e.support import monitor_cmd, monitor_env, run_monitor

pytestmark = pytest.mark.e2e
HEADER = re.compile(r"^topic\s+total\s+negative\s+neutral\s+positive$")


def _demo(cwd: Path, n: int, model: Path | None, data_dir: Path | None = None):
    env = monitor_env(model_path=model, database_url=None, embedded_data_dir=data_dir)
    proc = run_monitor("demo", "--messages", str(n), cwd=cwd, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def _db_counts(data_dir: Path) -> tuple[int, int, int, list[bytes]]:
    engine = make_engine(embedded.start(data_dir, DEMO_DATABASE), poolclass=NullPool)
    try:
        with engine.connect() as c:
            articles = c.execute(text("select count(*) from articles")).scalar_one()
            distinct = c.execute(text("select count(distinct key) from articles")).scalar_one()
            classified = c.execute(text("select count(*) from article_sentiment")).scalar_one()
            raws = [bytes(r[0]) for r in c.execute(text("select raw from dead_letters"))]
    finally:
        engine.dispose()
    assert articles == distinct
    return articles, distinct, classified, raws


def _topic_table(stdout: str) -> list[tuple[str, int, int, int, int]]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if HEADER.match(line.strip()))
    rows = []
    for line in lines[start + 1:]:
        if not line.strip():
            break
        m = re.match(r"^(.+?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)$", line)
        assert m, line
        rows.append((m[1], *(int(m[k]) for k in range(2, 6))))
    return rows


SURGE = len(demo_surge(datetime.now(UTC)))


def test_demo_runs_everything_on_one_machine(tmp_path: Path, tiny_checkpoint: Path, embedded_data_dir: Path) -> None:
    out = _demo(tmp_path, 300, tiny_checkpoint, embedded_data_dir).stdout
    n_bad = len(INVALID_SAMPLES)
    n = 300 + SURGE  # the generated stream plus the demo's injected surge
    assert f"{n + n_bad} messages" in out and f"{n} articles stored, {n_bad} dead letters" in out, out
    rows = _topic_table(out)
    assert rows and sum(r[1] for r in rows) == n, out
    assert "surge detection over the stored history:" in out, out
    assert all(total == neg + neu + pos for _, total, neg, neu, pos in rows), out
    worst = out.split("most negative headlines:", 1)[1].strip().splitlines()
    assert worst and re.match(r"^\d\.\d\d  .+  \[.+\]$", worst[0].strip()), out

    assert "query it yourself:  MONITOR_DATABASE_URL='postgresql://postgres@/monitor_demo?host=" in out, out
    articles, _, classified, raws = _db_counts(embedded_data_dir)
    assert articles == classified == n
    assert sorted(raws) == sorted(INVALID_SAMPLES)  # the demo's broken messages, verbatim

    # a second run starts from a fresh database: the summary shows that run only
    out = _demo(tmp_path, 40, tiny_checkpoint, embedded_data_dir).stdout
    assert f"{40 + SURGE} articles stored, {n_bad} dead letters" in out, out
    articles, _, classified, raws = _db_counts(embedded_data_dir)
    assert articles == classified == 40 + SURGE and len(raws) == n_bad


def test_demo_with_the_shipped_model_fires_the_injected_surge(tmp_path: Path) -> None:
    """The README's first command, as a user runs it (no settings: the embedded server on ./monitor-data/postgres):
    the real model and the real detector find the surge."""
    try:
        out = _demo(tmp_path, 1000, None).stdout
    finally:
        embedded.stop(tmp_path / "monitor-data" / "postgres")
    assert "model news-" in out, out
    alerts = [line for line in out.splitlines() if line.startswith("Negative news surge:")]
    assert any("ticker CTSB" in line for line in alerts), out


def test_demo_serves_healthz_and_metrics_while_it_runs(
    tmp_path: Path, tiny_checkpoint: Path, embedded_data_dir: Path
) -> None:
    """The demo runs the daemon's /healthz and /metrics too; 20,000 messages keep it busy for seconds
    after it prints their address, which is when this test asks them."""
    env = monitor_env(model_path=tiny_checkpoint, database_url=None, embedded_data_dir=embedded_data_dir)
    proc = subprocess.Popen(monitor_cmd("demo", "--messages", "20000"), cwd=tmp_path, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        address = None
        for line in proc.stdout:  # the address is printed once the daemon is about to start
            if m := re.match(r"^health and metrics: (http://\S+)/healthz", line):
                address = m[1]
                break
        assert address, "the demo never printed its /healthz address"
        with urllib.request.urlopen(address + "/metrics", timeout=5) as r:
            metrics = r.read().decode()
        assert "monitor_articles_consumed_total" in metrics and "monitor_batch_seconds_bucket" in metrics
        try:
            with urllib.request.urlopen(address + "/healthz", timeout=5) as r:
                status, health = r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:  # 503 while the consumer is still joining: still a JSON answer
            status, health = e.code, json.loads(e.read())
        assert status in (200, 503) and "database" in health, health
        assert proc.wait(timeout=240) == 0
    finally:
        proc.kill()
        proc.wait()
