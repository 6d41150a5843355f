"""`monitor evaluate` and `monitor train` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.support import assert_one_line_error, monitor_env, run_monitor

pytestmark = pytest.mark.e2e


def test_evaluate_prints_table_and_writes_report(tmp_path: Path, shared_data: Path, tiny_checkpoint: Path) -> None:
    report = tmp_path / "eval.json"
    proc = run_monitor(
        "evaluate", "--topic-csv", str(shared_data / "tfn_topic/topic_train.csv"),
        "--sentiment-csv", str(shared_data / "tfn_sentiment/sent_train.csv"),
        "--limit", "200", "--report", str(report), env=monitor_env(model_path=tiny_checkpoint),
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "accuracy" in proc.stdout and "macro-F1" in proc.stdout
    data = json.loads(report.read_text())
    assert data["model_version"] == "tiny-random"
    for task, n_classes in (("topic", 20), ("sentiment", 3)):
        r = data[task]
        assert r["n"] == 200 and 0 <= r["accuracy"] <= 1 and 0 <= r["macro_f1"] <= 1 and 0 <= r["ece"] <= 1
        assert len(r["f1"]) == n_classes
        matrix = r["confusion"]
        assert len(matrix) == n_classes and sum(map(sum, matrix)) == 200


def test_evaluate_needs_a_csv() -> None:
    assert_one_line_error(run_monitor("evaluate", env=monitor_env()), "evaluate", "--topic-csv")


def test_train_tiny_writes_a_loadable_checkpoint(tmp_path: Path, shared_data: Path) -> None:
    out = tmp_path / "t.safetensors"
    proc = run_monitor(
        "train", "--tiny", "--limit", "100", "--max-steps", "5", "--epochs", "1", "--out", str(out),
        "--topic-csv", str(shared_data / "tfn_topic/topic_train.csv"),
        "--sentiment-csv", str(shared_data / "tfn_sentiment/sent_train.csv"),
        "--sentfin-csv", str(shared_data / "sentfin/SEntFiN.csv"),
        "--classes", str(shared_data / "tfn_topic/classes.txt"), env=monitor_env(), timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["checkpoint"] == str(out) and "tfn_topic" in summary["dev"]
    classify = run_monitor("classify", stdin='{"text": "Shares fall"}\n', env=monitor_env(model_path=out))
    assert classify.returncode == 0 and json.loads(classify.stdout)["sentiment"] in ("negative", "neutral", "positive")


def test_train_missing_file_is_one_line(tmp_path: Path) -> None:
    proc = run_monitor("train", "--out", str(tmp_path / "x.safetensors"), "--topic-csv", str(tmp_path / "no.csv"),
                       env=monitor_env())
    assert_one_line_error(proc, "train", "no such file")


def test_train_bad_distillation_arguments_are_one_line(tmp_path: Path) -> None:
    out = str(tmp_path / "x.safetensors")
    proc = run_monitor("train", "--out", out, "--distill-weight", "1.5", env=monitor_env())
    assert_one_line_error(proc, "train", "between 0 and 1")
    proc = run_monitor("train", "--out", out, "--teacher", str(tmp_path / "none.safetensors"), env=monitor_env())
    assert_one_line_error(proc, "train", "no such file")
