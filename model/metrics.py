"""Classification metrics (numpy only): accuracy, macro-F1, per-class F1, confusion matrix, ECE."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> np.ndarray:
    m = np.zeros((n, n), dtype=np.int64)
    np.add.at(m, (y_true, y_pred), 1)
    return m  # rows: true, columns: predicted


def per_class_f1(m: np.ndarray) -> np.ndarray:
    tp = np.diag(m).astype(float)
    precision = np.divide(tp, m.sum(0), out=np.zeros_like(tp), where=m.sum(0) > 0)
    recall = np.divide(tp, m.sum(1), out=np.zeros_like(tp), where=m.sum(1) > 0)
    denom = precision + recall
    return np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = 15) -> float:
    conf = probs.max(1)
    correct = probs.argmax(1) == y_true
    edges = np.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return float(ece)


def report(probs: np.ndarray, y_true: np.ndarray, labels: list[str]) -> dict[str, Any]:
    """probs (N, C) -> the JSON-able report `monitor evaluate` writes."""
    y_pred = probs.argmax(1)
    m = confusion(y_true, y_pred, len(labels))
    f1 = per_class_f1(m)
    present = m.sum(1) > 0  # macro over classes that occur in the data
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_pred == y_true).mean()) if len(y_true) else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "ece": expected_calibration_error(probs, y_true) if len(y_true) else 0.0,
        "f1": {label: round(float(v), 4) for label, v in zip(labels, f1, strict=True)},
        "labels": labels,
        "confusion": m.tolist(),
    }


def fit_temperature(probs: np.ndarray, y_true: np.ndarray) -> float:
    """Temperature T minimising the NLL of softmax(log(p) / T): one parameter, so it barely overfits."""
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    best_t, best_nll = 1.0, np.inf
    for t in np.geomspace(0.25, 4.0, 97):
        z = logp / t
        z = z - z.max(1, keepdims=True)
        nll = float(-(z[np.arange(len(y_true)), y_true] - np.log(np.exp(z).sum(1))).mean())
        if nll < best_nll:
            best_t, best_nll = float(t), nll
    return best_t


def apply_temperature(probs: np.ndarray, t: float) -> np.ndarray:
    z = np.log(np.clip(probs, 1e-12, 1.0)) / t
    z = np.exp(z - z.max(1, keepdims=True))
    return z / z.sum(1, keepdims=True)
