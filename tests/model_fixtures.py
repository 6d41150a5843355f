"""A tiny random-init model of the real architecture, for pipeline tests that do not judge quality."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import checkpoint
from model.net import NewsClassifier
from model.prediction import SENTIMENTS
from model.train import TINY


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    torch.manual_seed(0)
    topics = [t for t in (shared_data / "tfn_topic/classes.txt").read_text().splitlines() if t]
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    meta = checkpoint.CheckpointMeta(config=TINY, topics=topics, sentiments=list(SENTIMENTS),
                                     model_version="tiny-random", backbone=None, max_tokens=64)
    checkpoint.save(NewsClassifier(TINY), meta, path)
    return path
