"""The embedded PostgreSQL server as users meet it: no MONITOR_DATABASE_URL, processes that share it, processes
and a server that die. Each test has its own data directory (a fresh server) and stops it at the end."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from storage import embedded
from tests.e2e.support import monitor_cmd, monitor_env, run_monitor

pytestmark = pytest.mark.e2e


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    where = tmp_path / "pg"
    yield where
    embedded.stop(where)


def _sql(env: dict[str, str], query: str) -> list[dict[str, object]]:
    proc = run_monitor("sql", "--format", "jsonl", query, env=env)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return [json.loads(line) for line in proc.stdout.splitlines()]


def _postmaster(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split()[0])


def _ready(data_dir: Path) -> bool:
    """The postmaster is up and accepting connections. Not merely "postmaster.pid exists": initdb's bootstrap
    backends write one too (with a negative pid) and remove it, so on a fresh directory the file comes, goes
    for a second or two, and comes back; a fixed sleep after its first sight raced with that gap."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return False
    return len(lines) >= 8 and lines[0].strip().isdigit() and lines[7].strip() == "ready"


def test_two_processes_starting_at_once_share_one_server(data_dir: Path) -> None:
    env = monitor_env(database_url=None, embedded_data_dir=data_dir)
    procs = [subprocess.Popen(monitor_cmd("sql", "--format", "jsonl", f"select {i} as n"), env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for i in range(2)]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    assert sorted(json.loads(out)["n"] for out, _ in outs) == [0, 1]
    postmasters = [p for p in psutil.process_iter(["cmdline"])
                   if p.info["cmdline"] and "-D" in p.info["cmdline"] and str(data_dir.resolve()) in p.info["cmdline"]]
    assert [p.pid for p in postmasters] == [_postmaster(data_dir)]  # one server, the one postmaster.pid names


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "kill -9"])
def test_a_killed_monitor_leaves_the_server_usable_and_nothing_stale(
    data_dir: Path, tiny_checkpoint: Path, sig: signal.Signals
) -> None:
    env = monitor_env(database_url=None, embedded_data_dir=data_dir, model_path=tiny_checkpoint,
                      kafka_bootstrap_servers="127.0.0.1:1")  # no broker: `monitor run` retries, holding the database
    run = subprocess.Popen(monitor_cmd("run"), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _ready(data_dir) and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _ready(data_dir), f"the server did not come up:\n{run.stderr.read() if run.poll() is not None else ''}"
        time.sleep(2)  # past start-up: connected and migrated
        server = _postmaster(data_dir)
        run.send_signal(sig)
        run.wait(timeout=20)
    finally:
        run.kill()
        run.wait()
    assert _postmaster(data_dir) == server  # the same server, still up
    assert json.loads((data_dir / ".handle_pids.json").read_text()) == []  # no process left listed
    assert _sql(env, "select count(*) as n from job_leaders") == [{"n": 2}]  # migrated, answering


def test_a_killed_server_is_started_again_and_recovers(data_dir: Path) -> None:
    env = monitor_env(database_url=None, embedded_data_dir=data_dir)
    url = run_monitor("db", "url", env=env).stdout.strip()
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create table kept (n int)")
        conn.execute("insert into kept values (42)")
    old = _postmaster(data_dir)
    signal_process(old, signal.SIGKILL)
    assert _sql(env, "select 1 as ok") == [{"ok": 1}]  # a stale postmaster.pid: started again, crash recovery
    assert _postmaster(data_dir) != old
    with psycopg.connect(url) as conn:
        assert conn.execute("select n from kept").fetchall() == [(42,)]  # committed data survived


def signal_process(pid: int, sig: signal.Signals) -> None:
    import os

    os.kill(pid, sig)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
