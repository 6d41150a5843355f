"""The training loop on a tiny random-init config: loss falls, checkpoints round-trip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from model import checkpoint
from model.classifier import Classifier, run
from model.data import sha256_file
from model.tokenize import NewsTokenizer
from model.train import TrainConfig, distill_loss, load_examples, train
from tests.model_fixtures import make_tiny_checkpoint


def _tiny_config(shared_data: Path, out: Path, **kw: object) -> TrainConfig:
    """A tiny random-init run on a 150-example sample of each file; `kw` overrides any field."""
    fields: dict[str, object] = {
        "topic_csv": shared_data / "tfn_topic/topic_train.csv",
        "sentiment_csv": shared_data / "tfn_sentiment/sent_train.csv",
        "sentfin_csv": shared_data / "sentfin/SEntFiN.csv",
        "classes_txt": shared_data / "tfn_topic/classes.txt",
        "out": out, "epochs": 8, "tiny": True, "limit": 150, "batch_size": 16, "device": "cpu",
        "model_version": "tiny-student",
    }
    return TrainConfig(**{**fields, **kw})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def tiny_run(shared_data: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("tiny") / "tiny.safetensors"
    return train(_tiny_config(shared_data, out, max_steps=160, head_lr=5e-3, model_version="tiny-test"))


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


def test_distill_loss_is_zero_at_the_teacher_and_pulls_toward_it() -> None:
    teacher_logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 3.0, -2.0]])
    soft = (teacher_logits / 2.0).softmax(-1)
    assert distill_loss(teacher_logits, soft, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(2, 3, requires_grad=True)
    before = distill_loss(student, soft, 2.0)
    assert before.item() > 0.05
    before.backward()
    assert student.grad is not None
    with torch.no_grad():
        after = distill_loss(student - 1.0 * student.grad, soft, 2.0)
    assert after.item() < before.item()  # a gradient step moves the student toward the teacher


def test_student_learns_the_teachers_answers(tiny_run, shared_data: Path, tmp_path: Path) -> None:
    """With the labels' weight at 0 the student can only learn from the teacher: its probabilities move far
    closer to the teacher's (KL) than where the same seed starts."""
    common: dict[str, object] = {"seed": 7, "max_steps": 200, "head_lr": 5e-3, "distill_temperature": 1.0}
    distilled = train(_tiny_config(shared_data, tmp_path / "student.safetensors", teachers=(tiny_run.checkpoint,),
                                   distill_weight=1.0, **common))
    # train() seeds torch with `seed` right before it builds the model: these are the student's first weights
    start = make_tiny_checkpoint(tmp_path / "start.safetensors", shared_data, seed=7, model_version="start")
    ids = NewsTokenizer(64).ids([e.text for e in load_examples(_tiny_config(shared_data, tmp_path / "x"))[0]])

    def probs(path: Path) -> np.ndarray:
        out = run(checkpoint.load(path)[0], ids, torch.device("cpu"), None, 256)
        return np.concatenate([out.topic_probs, out.sentiment_probs], axis=1)

    teacher = probs(tiny_run.checkpoint)

    def kl_from_teacher(path: Path) -> float:  # both heads: sum over the two distributions, mean over texts
        return float(np.mean(np.sum(teacher * (np.log(teacher + 1e-9) - np.log(probs(path) + 1e-9)), axis=1)))

    learned, baseline = kl_from_teacher(distilled.checkpoint), kl_from_teacher(start)
    assert learned < 0.2 * baseline, (learned, baseline)  # measured 0.058 vs 0.49; uniform targets give 0.165
    report = json.loads(distilled.checkpoint.with_suffix(".train.json").read_text())
    assert report["config"]["teachers"][0]["sha256"] == sha256_file(tiny_run.checkpoint)


def test_a_teacher_with_another_dev_split_is_refused(tiny_run, shared_data: Path, tmp_path: Path) -> None:
    cfg = _tiny_config(shared_data, tmp_path / "s.safetensors", split_seed=99, max_steps=2,
                       teachers=(tiny_run.checkpoint,))
    with pytest.raises(ValueError, match="another dev split"):
        train(cfg)
