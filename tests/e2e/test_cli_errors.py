"""Every command fails in one line (issue 13, item 6): each subcommand of `monitor --help` (with `db`, `model`
and `deadletters` subcommands) runs as a process over a table of bad arguments and bad environments, and must
exit non-zero with exactly one non-empty line on stderr, no traceback, and never the database password.

"One line" is the whole of stderr at the default log level (INFO): a command that fails before doing its work
logs nothing first. Also here: a database that accepts TCP and never answers (bounded failure), output to a
full disk (/dev/full) and to a closed pipe (`| head`), and `monitor classify` answering every line on its own.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from sqlalchemy.pool import NullPool

from model.checkpoint import FAST_CHECKPOINT, read_meta
from storage.db import make_engine, upgrade
from tests.e2e.support import REPO, SHIPPED_CHECKPOINT, monitor_cmd, monitor_env, run_monitor
from tests.tcp_proxy import silent_server

PASSWORD = "s3cr3t-Pa55"  # noqa: S105 - must never reach stderr
HUNG_WITHIN_S = 20  # connect_timeout is 5 s: a hung database costs a command a few seconds, not for ever


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    (d / "random.safetensors").write_bytes(bytes(range(256)) * 8)
    (d / "empty.safetensors").write_bytes(b"")
    (d / "a-directory").mkdir()
    meta = read_meta(SHIPPED_CHECKPOINT).to_strings()
    save_file({"x": torch.zeros(3)}, str(d / "wrong-tensors.safetensors"), metadata=meta)
    save_file({"x": torch.zeros(3)}, str(d / "no-metadata.safetensors"))
    bomb = dict(meta, config=json.dumps({"hidden": 10**9, "layers": 10**6, "intermediate": 10**9}))
    save_file({"x": torch.zeros(3)}, str(d / "config-bomb.safetensors"), metadata=bomb)
    (d / "news.jsonl").write_text('{"title": "Bank fails", "published_at": "2026-01-01T00:00:00Z"}\n')
    (d / "topics.csv").write_text("text,label\nBank fails,0\n")
    return {p.name.split(".")[0]: p for p in d.iterdir()}


@pytest.fixture(scope="module")
def database_url(pg_database_factory: Callable[[], str]) -> str:
    """A migrated, empty database."""
    url = pg_database_factory()
    engine = make_engine(url, poolclass=NullPool)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def hung_database() -> Iterator[str]:
    """A 'PostgreSQL' that accepts TCP connections and never answers."""
    with silent_server() as port:
        yield f"postgresql://monitor:{PASSWORD}@127.0.0.1:{port}/news"


BAD_URLS = {
    "mysql": f"mysql://monitor:{PASSWORD}@db.example/news",
    "http": f"http://monitor:{PASSWORD}@db.example/news",
    "asyncpg": f"postgresql+asyncpg://monitor:{PASSWORD}@127.0.0.1/news",
    "psycopg2": f"postgresql+psycopg2://monitor:{PASSWORD}@127.0.0.1/news",
    "unknown-param": f"postgresql://monitor:{PASSWORD}@127.0.0.1/news?foo=bar",
    "bad-param-value": f"postgresql://monitor:{PASSWORD}@127.0.0.1/news?connect_timeout=soon",
    "colons": "postgresql://:::",
    "port-abc": f"postgresql://monitor:{PASSWORD}@127.0.0.1:abc/news",
    "not-a-url": f"monitor:{PASSWORD}",
    "refused": f"postgresql://monitor:{PASSWORD}@127.0.0.1:1/news",
}

# Every command that opens the database, with arguments that are otherwise fine ({news}: a valid input file).
DATABASE_COMMANDS = {
    "run": ["run"],
    "ingest": ["ingest", "--file", "{news}", "--quiet"],
    "backtest": ["backtest"],
    "sql": ["sql", "select 1"],
    "reclassify": ["reclassify", "--since", "2026-01-01", "--model", str(SHIPPED_CHECKPOINT), "--quiet"],
    "prune": ["prune", "--older-than", "30d"],
    "model-list": ["model", "list"],
    "model-use": ["model", "use", "--newest"],
    "deadletters-list": ["deadletters", "list"],
    "deadletters-replay": ["deadletters", "replay"],
    "db-upgrade": ["db", "upgrade"],
    "db-current": ["db", "current"],
    "db-rebuild-rollups": ["db", "rebuild-rollups"],
}

# (id, argv, {setting: value}, stdin). {name}: a file of bad_files; "GOOD_DB": the migrated database.
BAD_ARGUMENTS: list[tuple[str, list[str], dict[str, str], str | None]] = [
    ("no-command", [], {}, None),
    ("unknown-command", ["frobnicate"], {}, None),
    ("unknown-option", ["sql", "--frob", "select 1"], {}, None),
    ("demo-zero", ["demo", "--messages", "0"], {}, None),
    ("classify-batch", ["classify", "--batch-size", "-1"], {}, None),
    ("classify-device", ["classify", "--device", "tpu"], {}, None),
    ("train-epochs", ["train", "--out", "x.safetensors", "--epochs", "0"], {}, None),
    ("train-missing-csv", ["train", "--out", "x.safetensors", "--topic-csv", "/nonexistent.csv"], {}, None),
    ("train-lr-nan", ["train", "--out", "x.safetensors", "--lr", "nan"], {}, None),
    ("train-layers-zero", ["train", "--out", "x.safetensors", "--layers", "0"], {}, None),
    ("train-init-blocks-order", ["train", "--out", "x.safetensors", "--init-blocks", "3,1"], {}, None),
    ("train-init-blocks-word", ["train", "--out", "x.safetensors", "--init-blocks", "first"], {}, None),
    ("train-init-blocks-alone", ["train", "--out", "x.safetensors", "--init-blocks", "0,3,5"], {}, None),
    ("train-init-from-missing", ["train", "--out", "x.safetensors", "--init-from", "/nonexistent.safetensors"],
     {}, None),
    ("classify-precision", ["classify", "--precision", "fp8"], {}, '{"text": "a"}\n'),
    ("evaluate-nothing", ["evaluate"], {}, None),
    ("evaluate-missing", ["evaluate", "--topic-csv", "/nonexistent.csv"], {}, None),
    ("ingest-missing", ["ingest", "--file", "/nonexistent.jsonl"], {}, None),
    ("ingest-directory", ["ingest", "--file", "{a-directory}"], {}, None),
    ("produce-missing", ["produce", "--file", "/nonexistent.jsonl"], {}, None),
    ("backtest-negative-step", ["backtest", "--step-seconds", "-60"], {}, None),
    ("backtest-zero-step", ["backtest", "--step-seconds", "0"], {}, None),
    ("backtest-huge-step", ["backtest", "--step-seconds", "99999999999999999999"], {}, None),
    ("backtest-year-0", ["backtest", "--since", "0001-01-01T00:00:00+05:00"], {}, None),
    ("backtest-year-10000", ["backtest", "--until", "9999-12-31T23:00:00-05:00"], {}, None),
    ("backtest-not-a-date", ["backtest", "--since", "yesterday"], {}, None),
    ("backtest-until-before-since", ["backtest", "--since", "2026-02-01", "--until", "2026-01-01"],
     {"database_url": "GOOD_DB"}, None),
    ("backtest-input-missing", ["backtest", "--input", "/nonexistent.jsonl"], {"database_url": "GOOD_DB"}, None),
    ("reclassify-year-0", ["reclassify", "--since", "0001-01-01T00:00:00+05:00", "--model", "x"], {}, None),
    ("reclassify-until-before-since", ["reclassify", "--since", "2026-02-01", "--until", "2026-01-01",
                                       "--model", str(SHIPPED_CHECKPOINT)], {"database_url": "GOOD_DB"}, None),
    ("prune-overflow", ["prune", "--older-than", "99999999999d"], {}, None),
    ("prune-huge", ["prune", "--older-than", "999999w"], {}, None),
    ("prune-zero", ["prune", "--older-than", "0d"], {}, None),
    ("prune-negative", ["prune", "--older-than", "-5d"], {}, None),
    ("sql-nothing", ["sql"], {}, None),
    ("sql-empty", ["sql", "   "], {}, None),
    ("sql-timeout-zero", ["sql", "--timeout-ms", "0", "select 1"], {}, None),
    ("sql-missing-file", ["sql", "--file", "/nonexistent.sql"], {}, None),
    ("model-nothing", ["model"], {}, None),
    ("model-use-nothing", ["model", "use"], {}, None),
    ("deadletters-nothing", ["deadletters"], {}, None),
    ("deadletters-limit", ["deadletters", "list", "--limit", "0"], {}, None),
    ("deadletters-batch", ["deadletters", "replay", "--batch-size", "many"], {}, None),
    ("db-nothing", ["db"], {}, None),
    ("db-unknown", ["db", "frobnicate"], {}, None),
]
for _name in ("random", "empty", "a-directory", "wrong-tensors", "no-metadata", "config-bomb"):
    BAD_ARGUMENTS += [
        (f"classify-model-{_name}", ["classify", "--model", f"{{{_name}}}"], {}, '{"text": "Bank fails"}\n'),
        (f"reclassify-model-{_name}", ["reclassify", "--since", "2026-01-01", "--model", f"{{{_name}}}"],
         {"database_url": "GOOD_DB"}, None),
    ]
BAD_ARGUMENTS += [
    ("classify-model-missing", ["classify", "--model", "/nonexistent.safetensors"], {}, '{"text": "a"}\n'),
    ("classify-env-model", ["classify"], {"model_path": "{random}"}, '{"text": "a"}\n'),
    ("ingest-env-model", ["ingest", "--file", "{news}"], {"model_path": "{wrong-tensors}", "database_url": "GOOD_DB"},
     None),
    ("run-env-model", ["run"], {"model_path": "{empty}", "database_url": "GOOD_DB"}, None),
    ("deadletters-replay-env-model", ["deadletters", "replay"],
     {"model_path": "{config-bomb}", "database_url": "GOOD_DB"}, None),
    ("evaluate-env-model", ["evaluate", "--topic-csv", "{topics}"], {"model_path": "{no-metadata}"}, None),
    ("settings-batch-size", ["db", "current"], {"batch_max_size": "0"}, None),
    ("settings-device", ["classify"], {"device": "tpu"}, '{"text": "a"}\n'),
    ("settings-model", ["classify"], {"model": "tiny"}, '{"text": "a"}\n'),
    ("settings-kafka-options", ["run"], {"kafka_consumer_options": "{not json"}, None),
    ("settings-log-level", ["db", "current"], {"log_level": "LOUD", "database_url": "GOOD_DB"}, None),
    ("settings-log-format", ["db", "current"], {"log_format": "xml"}, None),
]
if not FAST_CHECKPOINT.is_file():  # MONITOR_MODEL=fast where no fast model is shipped
    BAD_ARGUMENTS += [("settings-model-fast-missing", ["classify"], {"model": "fast"}, '{"text": "a"}\n')]
BAD_ARGUMENTS += [(f"{cmd}-url-{kind}", argv, {"database_url": url}, None)
                  for cmd, argv in DATABASE_COMMANDS.items() for kind, url in BAD_URLS.items()
                  if cmd in ("db-current", "sql", "run") or kind in ("mysql", "unknown-param", "port-abc")]


def _fill(value: str, files: dict[str, Path], good_db: str) -> str:
    if value == "GOOD_DB":
        return good_db
    for name, path in files.items():
        value = value.replace(f"{{{name}}}", str(path))
    return value


def assert_one_line_failure(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0, (proc.returncode, proc.stdout[-1000:], proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr[-3000:]
    assert PASSWORD not in proc.stderr and PASSWORD not in proc.stdout, proc.stderr
    assert "error" in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize(("argv", "settings", "stdin"), [c[1:] for c in BAD_ARGUMENTS],
                         ids=[c[0] for c in BAD_ARGUMENTS])
def test_every_command_fails_in_one_line(
    argv: list[str], settings: dict[str, str], stdin: str | None, bad_files: dict[str, Path], database_url: str,
    tmp_path: Path,
) -> None:
    env = monitor_env(**{k: _fill(v, bad_files, database_url) for k, v in settings.items()})
    # A broker nobody listens on: `run` must fail on the database or the model before it ever needs one.
    env.setdefault("MONITOR_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    proc = run_monitor(*(_fill(a, bad_files, database_url) for a in argv), env=env, stdin=stdin, cwd=tmp_path,
                       timeout=60)
    assert_one_line_failure(proc)


@pytest.mark.parametrize("argv", [["sql", "select 1"], ["db", "current"], ["prune", "--older-than", "1d"]],
                         ids=["sql", "db-current", "prune"])
def test_a_database_that_never_answers_fails_in_bounded_time(argv: list[str], hung_database: str,
                                                             tmp_path: Path) -> None:
    started = time.monotonic()
    proc = run_monitor(*argv, env=monitor_env(database_url=hung_database), cwd=tmp_path, timeout=HUNG_WITHIN_S * 3)
    took = time.monotonic() - started
    line = assert_one_line_failure(proc)
    assert "database unavailable" in line and "timeout" in line, line
    assert took < HUNG_WITHIN_S, took


@pytest.mark.parametrize("argv", [["sql", "select generate_series(1, 100)"], ["db", "current"], ["--help"],
                                  ["sql", "--help"]], ids=["sql", "db-current", "help", "sql-help"])
def test_output_to_a_full_disk_is_one_line(argv: list[str], database_url: str, tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        proc = subprocess.run(monitor_cmd(*argv), env=monitor_env(database_url=database_url), cwd=tmp_path,
                              stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    line = assert_one_line_failure(subprocess.CompletedProcess(proc.args, proc.returncode, "", proc.stderr))
    assert "No space left on device" in line, line


def test_output_to_a_closed_pipe_is_quiet(database_url: str, tmp_path: Path) -> None:
    """`monitor sql ... | head -1`: head leaves after one line; monitor stops without a word, exit 0."""
    proc = subprocess.Popen(monitor_cmd("sql", "--format", "csv", "--max-rows", "500000",
                                        "select generate_series(1, 500000)"),
                            env=monitor_env(database_url=database_url), cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().strip() == "generate_series"
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert err == "", err


def test_classify_answers_every_line_on_its_own(tmp_path: Path) -> None:
    lines = [
        '{"text": "Bank shares slump after profit warning"}',
        '{"text": "bad \\ud800 surrogate"}',  # a lone surrogate, as a JSON escape
        '{"title": "Lone \\udfff in a title", "body": "x"}',
        "not json at all",
        "[1, 2, 3]",
        '{"text": 42}',
        '{"title": null}',
        '{"text": "   "}',
        "",
        "[" * 100_000,  # nesting beyond the parser's recursion limit
        '{"n": ' + "9" * 10_000 + "}",  # beyond Python's int digit limit
        '{"title": "Chipmaker beats estimates", "body": "Revenue rose."}',
    ]
    raw = "\n".join(lines).encode() + b"\n\xff\xfe not utf-8\n" + b'{"text": "Oil prices rise"}\n'
    proc = subprocess.run(monitor_cmd("classify"), env=monitor_env(), cwd=tmp_path, input=raw,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert b"Traceback" not in proc.stderr, proc.stderr[-3000:]
    answers = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(answers) == len(lines) + 2, answers
    good = {0, 11, 13}
    for i, answer in enumerate(answers):
        if i in good:
            assert "topic" in answer and "sentiment" in answer, (i, answer)
        else:
            assert set(answer) == {"error"} and answer["error"], (i, answer)
    assert "surrogate" in answers[1]["error"] and answers[12]["error"] == "not UTF-8"


def test_classify_lines_helper_narrows_a_failing_chunk_to_its_line() -> None:
    """A chunk the model rejects as a whole (any per-text failure) is retried line by line."""
    from monitor.cli import _predict_each

    class Picky:
        def predict(self, texts: list[str], batch_size: int) -> list[str]:
            if any("poison" in t for t in texts):
                raise RuntimeError("cannot encode")
            return [f"ok:{t}" for t in texts]

    out = _predict_each(Picky(), ["a", "poison", "b"], 8)
    assert out[0] == "ok:a" and out[2] == "ok:b" and out[1].startswith("cannot classify")


def test_repo_root_is_where_the_commands_run() -> None:
    assert (REPO / "monitor" / "cli.py").is_file()
