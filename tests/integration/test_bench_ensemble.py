"""bench/ensemble.py averages its members' dev probabilities: the figure that decides whether a distilled
student is worth training (README, model card)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.ensemble import main
from tests.model_fixtures import make_tiny_checkpoint


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_an_ensemble_of_one_model_twice_scores_as_that_model(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = make_tiny_checkpoint(tmp_path / "a.safetensors", shared_data, seed=1, model_version="tiny-a")
    b = make_tiny_checkpoint(tmp_path / "b.safetensors", shared_data, seed=2, model_version="tiny-b")
    assert main([str(a), str(a), "--data", str(shared_data)]) == 0
    member, _, ensemble = _lines(capsys.readouterr().out)
    assert ensemble["members"] == 2 and ensemble["dev"] == member["dev"]
    assert set(member["dev"]) == {"tfn_topic", "tfn_sentiment", "sentfin"}

    assert main([str(a), str(b), "--data", str(shared_data)]) == 0
    first, second, mixed = _lines(capsys.readouterr().out)
    assert first["dev"] != second["dev"]  # two random models disagree, so the average is a third model
    assert mixed["dev"] not in (first["dev"], second["dev"])


def test_a_missing_checkpoint_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path / "nope.safetensors")])
    assert exit_.value.code == 2
    assert "no such checkpoint" in capsys.readouterr().err
