"""The training loop on a tiny random-init config: loss falls, checkpoints round-trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model import checkpoint
from model.classifier import Classifier
from model.train import TrainConfig, train


@pytest.fixture(scope="module")
def tiny_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    cfg = TrainConfig(
        topic_csv=shared_data / "tfn_topic/topic_train.csv",
        sentiment_csv=shared_data / "tfn_sentiment/sent_train.csv",
        sentfin_csv=shared_data / "sentfin/SEntFiN.csv",
        classes_txt=shared_data / "tfn_topic/classes.txt",
        out=out, epochs=8, tiny=True, limit=150, max_steps=160, batch_size=16, head_lr=5e-3, device="cpu",
        model_version="tiny-test",
    )
    return train(cfg)


def test_tiny_model_loss_falls(tiny_run) -> None:
    losses = tiny_run.losses
    assert len(losses) == 160
    assert np.mean(losses[-30:]) < np.mean(losses[:30]) - 0.1, (np.mean(losses[:30]), np.mean(losses[-30:]))


def test_checkpoint_round_trip(tiny_run) -> None:
    model, meta = checkpoint.load(tiny_run.checkpoint)
    assert meta.model_version == "tiny-test"
    assert len(meta.topics) == 20 and meta.sentiments == ["negative", "neutral", "positive"]
    assert set(meta.train_files) == {"topic_train.csv", "sent_train.csv", "SEntFiN.csv"}
    assert all(len(h) == 64 for h in meta.train_files.values())
    assert "tfn_topic" in meta.dev_metrics
    # saving the loaded model again gives the same tensors (fp16 storage is stable)
    again = tiny_run.checkpoint.with_name("again.safetensors")
    checkpoint.save(model, meta, again)
    model2, _ = checkpoint.load(again)
    for (n1, t1), (n2, t2) in zip(model.state_dict().items(), model2.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(t1, t2)


def test_loaded_tiny_model_predicts(tiny_run) -> None:
    clf = Classifier.load(tiny_run.checkpoint, device="cpu")
    preds = clf.predict(["Shares of $ABC plunge after profit warning", "Fed holds rates"])
    assert [p.model_version for p in preds] == ["tiny-test", "tiny-test"]
    for p in preds:
        assert abs(sum(p.topic_probs.values()) - 1) < 1e-3 and abs(sum(p.sentiment_probs.values()) - 1) < 1e-3
        assert p.topic in p.topic_probs and p.sentiment in ("negative", "neutral", "positive")
        assert all(h.lower() in "shares of $abc plunge after profit warning fed holds rates" for h in p.highlights)


def test_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        checkpoint.load(tmp_path / "nope.safetensors")
