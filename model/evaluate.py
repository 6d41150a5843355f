"""`monitor evaluate`: accuracy, macro-F1, per-class F1, confusion matrix and ECE on labelled CSVs."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from model.classifier import Classifier, run
from model.data import Example, load_sentfin_csv, load_tfn_sentiment_csv, load_topic_csv
from model.metrics import report


def _sample(examples: list[Example], limit: int | None, seed: int = 0) -> list[Example]:
    if limit and len(examples) > limit:
        return random.Random(seed).sample(examples, limit)
    return examples


def task_probabilities(clf: Classifier, examples: list[Example]) -> np.ndarray:
    """Calibrated probabilities of the examples' task (all examples share one), a row each."""
    ids = clf.tokenizer.ids([e.text for e in examples])
    out = run(clf.model, ids, clf.device, clf.dtype, batch_size=256, temperatures=clf.temperatures)
    return out.topic_probs if examples[0].task == "topic" else out.sentiment_probs


def score(clf: Classifier, examples: list[Example], probs: np.ndarray) -> dict[str, Any]:
    labels = clf.meta.topics if examples[0].task == "topic" else clf.meta.sentiments
    return report(probs, np.array([e.label for e in examples]), labels)


def averaged(probs: list[np.ndarray]) -> np.ndarray:
    """An ensemble's probabilities: the mean of its members'."""
    return np.mean(probs, axis=0)


def evaluate_examples(clf: Classifier, examples: list[Example]) -> dict[str, Any]:
    return score(clf, examples, task_probabilities(clf, examples))


def argmax_agreement(reference: Classifier, other: Classifier, examples: list[Example]) -> float:
    """How often two ways of running the model (fp32 on the CPU against bf16, or a GPU) pick the same class
    for the examples' task: the fast paths must agree with fp32 on at least 99 % of dev (issue 6)."""
    ids = reference.tokenizer.ids([e.text for e in examples])
    picks = []
    for clf in (reference, other):
        out = run(clf.model, ids, clf.device, clf.dtype, batch_size=128)
        picks.append((out.topic_probs if examples[0].task == "topic" else out.sentiment_probs).argmax(1))
    return float((picks[0] == picks[1]).mean())


def evaluate_files(
    model_path: Path | None,
    device: str,
    topic_csv: Path | None = None,
    sentiment_csv: Path | None = None,
    sentfin_csv: Path | None = None,
    limit: int | None = None,
    choice: str = "auto",
) -> dict[str, Any]:
    clf = Classifier.load(model_path, device=device, choice=choice)
    out: dict[str, Any] = {"model_version": clf.model_version, "device": str(clf.device), "precision": clf.precision}
    if topic_csv:
        out["topic"] = evaluate_examples(clf, _sample(load_topic_csv(topic_csv), limit))
    if sentiment_csv:
        out["sentiment"] = evaluate_examples(clf, _sample(load_tfn_sentiment_csv(sentiment_csv), limit))
    if sentfin_csv:
        out["sentfin"] = evaluate_examples(clf, _sample(load_sentfin_csv(sentfin_csv), limit))
    return out


def print_table(rep: dict[str, Any]) -> None:
    print(f"model {rep['model_version']} on {rep['device']} ({rep['precision']})")
    for name in ("topic", "sentiment", "sentfin"):
        if name not in rep:
            continue
        r = rep[name]
        print(f"\n{name}: n={r['n']}  accuracy {r['accuracy']:.4f}  macro-F1 {r['macro_f1']:.4f}  ECE {r['ece']:.4f}")
        width = max(len(label) for label in r["labels"])
        for label, f1 in r["f1"].items():
            print(f"  {label:<{width}}  F1 {f1:.4f}")
