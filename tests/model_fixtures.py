"""A tiny random-init model of the real architecture, for pipeline tests that do not judge quality."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model import checkpoint
from model.net import NewsClassifier
from model.prediction import SENTIMENTS
from model.train import TINY


def make_tiny_checkpoint(path: Path, shared_data: Path, *, seed: int, model_version: str) -> Path:
    """A randomly initialised TINY model with the real label maps, saved as a checkpoint at ``path``."""
    torch.manual_seed(seed)
    topics = [t for t in (shared_data / "tfn_topic/classes.txt").read_text().splitlines() if t]
    meta = checkpoint.CheckpointMeta(config=TINY, topics=topics, sentiments=list(SENTIMENTS),
                                     model_version=model_version, backbone=None, max_tokens=64)
    checkpoint.save(NewsClassifier(TINY), meta, path)
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory, shared_data: Path) -> Path:
    path = tmp_path_factory.mktemp("model") / "tiny.safetensors"
    return make_tiny_checkpoint(path, shared_data, seed=0, model_version="tiny-random")
