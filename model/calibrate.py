"""Temperature scaling of a saved checkpoint on the dev split (Guo et al., 2017).

Label smoothing and class weights leave the heads under-confident (topic ECE about 0.1); one temperature
per head, fitted on the dev split, makes `topic_score` / `sentiment_score` mean what they say. The argmax,
and so accuracy and F1, do not change.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from model import checkpoint
from model.classifier import run
from model.data import Example
from model.metrics import apply_temperature, expected_calibration_error, fit_temperature
from model.tokenize import NewsTokenizer


def calibrate(path: Path, dev: list[Example], device: torch.device, dtype: torch.dtype | None) -> dict[str, float]:
    """Fits and stores the temperatures in the checkpoint at `path`; returns them."""
    model, meta = checkpoint.load(path)
    model.to(device)
    tok = NewsTokenizer(meta.max_tokens)
    temperatures: dict[str, float] = {}
    for head, source in (("topic", "tfn_topic"), ("sentiment", "tfn_sentiment")):
        subset = [e for e in dev if e.source == source]
        if not subset:
            continue
        out = run(model, tok.ids([e.text for e in subset]), device, dtype, batch_size=256)
        probs = out.topic_probs if head == "topic" else out.sentiment_probs
        y = np.array([e.label for e in subset])
        t = fit_temperature(probs, y)
        temperatures[head] = round(t, 4)
        if source in meta.dev_metrics:
            meta.dev_metrics[source]["ece_calibrated"] = expected_calibration_error(apply_temperature(probs, t), y)
    meta.temperatures = temperatures
    checkpoint.save(model, meta, path)
    return temperatures
