"""The committed checkpoint: size, metadata, quality regression guard, fast-path agreement, CUDA."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import torch

from model import checkpoint
from model.classifier import Classifier, run
from model.data import Example
from model.evaluate import argmax_agreement
from model.metrics import report
from model.train import dev_split

# Quality goals (issue 6). The guard allows 0.02 below the goal on a 500-example sample; where the shipped
# model does not reach a goal (sentiment, see the README's model card), it guards the model's own dev figure
# recorded in the checkpoint instead, so the test stays a regression guard and never claims the goal.
GOALS = {"tfn_topic": (0.91, 0.89), "tfn_sentiment": (0.89, 0.86)}
SLACK = 0.02


@pytest.fixture(scope="module")
def dev(shared_data: Path) -> dict[str, list[Example]]:
    return dev_split(shared_data)  # the same files, seed and split as the shipped model's training run


@pytest.fixture(scope="module")
def fp32() -> Classifier:
    return Classifier.load(device="cpu", precision="fp32", choice="accurate")


def _probs(clf: Classifier, examples: list[Example]) -> np.ndarray:
    out = run(clf.model, clf.tokenizer.ids([e.text for e in examples]), clf.device, clf.dtype, 128)
    return out.topic_probs if examples[0].task == "topic" else out.sentiment_probs


def test_checkpoint_is_small_and_self_describing() -> None:
    path = checkpoint.DEFAULT_CHECKPOINT
    assert path.stat().st_size <= 25 * 1024 * 1024
    meta = checkpoint.read_meta(path)
    assert meta.backbone == "all-MiniLM-L6-v2" and meta.model_version
    assert meta.topics[0] == "Analyst Update" and meta.topics[-1] == "Stock Movement" and len(meta.topics) == 20
    assert set(meta.train_files) >= {"topic_train.csv", "sent_train.csv"}
    assert meta.dev_metrics["tfn_topic"]["accuracy"] > 0.8


@pytest.mark.parametrize("source", ["tfn_topic", "tfn_sentiment"])
def test_quality_regression_guard(fp32: Classifier, dev: dict[str, list[Example]], source: str) -> None:
    sample = random.Random(0).sample(dev[source], 500)
    r = report(_probs(fp32, sample), np.array([e.label for e in sample]),
               fp32.meta.topics if source == "tfn_topic" else fp32.meta.sentiments)
    accuracy_goal, f1_goal = GOALS[source]
    recorded = fp32.meta.dev_metrics[source]
    assert r["accuracy"] >= min(accuracy_goal, recorded["accuracy"]) - SLACK, (r["accuracy"], recorded["accuracy"])
    assert r["macro_f1"] >= min(f1_goal, recorded["macro_f1"]) - SLACK, (r["macro_f1"], recorded["macro_f1"])


def test_bf16_agrees_with_fp32_on_dev(fp32: Classifier, dev: dict[str, list[Example]]) -> None:
    bf16 = Classifier.load(device="cpu", precision="bf16", choice="accurate")
    for source in ("tfn_topic", "tfn_sentiment"):
        agreement = argmax_agreement(fp32, bf16, dev[source])
        assert agreement >= 0.99, (source, agreement)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_bf16_agrees_with_cpu_fp32(fp32: Classifier, dev: dict[str, list[Example]]) -> None:
    gpu = Classifier.load(device="cuda", choice="accurate")
    assert gpu.dtype == torch.bfloat16
    for source in ("tfn_topic", "tfn_sentiment"):
        agreement = argmax_agreement(fp32, gpu, dev[source])
        assert agreement >= 0.99, (source, agreement)


def test_highlights_come_from_the_input(fp32: Classifier) -> None:
    text = "Acme Corp shares plunge 30% after accounting fraud probe"
    (p,) = fp32.predict([text])
    assert p.sentiment == "negative"
    assert 1 <= len(p.highlights) <= 5
    assert all(h in text for h in p.highlights)


def test_predictions_keep_input_order(fp32: Classifier) -> None:
    texts = ["Stocks rally to record high", "x " * 300, "Company X names new CFO", "Bank fails"]
    one_by_one = [fp32.predict([t])[0] for t in texts]
    batched = fp32.predict(texts, batch_size=2)
    assert [p.topic for p in batched] == [p.topic for p in one_by_one]
    assert [p.sentiment for p in batched] == [p.sentiment for p in one_by_one]
