"""Where the labelled CSVs are: the copy carried in the repository (`data/`, see its README), unless
`--data DIR` or `MONITOR_SHARED_DATA=DIR` names another. The one place `monitor train`, the tests and the
benchmarks find them.

A path relative to the repository, not package data: only training, evaluation, tests and benchmarks read these
5 MB, all from a clone; an installed daemon never does, so the wheel does not carry them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

DATA_ENV = "MONITOR_SHARED_DATA"
REPO_DATA = Path(__file__).resolve().parents[1] / "data"
TOPIC_TRAIN, TOPIC_CLASSES = "tfn_topic/topic_train.csv", "tfn_topic/classes.txt"
SENTIMENT_TRAIN, SENTFIN = "tfn_sentiment/sent_train.csv", "sentfin/SEntFiN.csv"
FILES = (TOPIC_TRAIN, TOPIC_CLASSES, SENTIMENT_TRAIN, SENTFIN)


class DataNotFound(Exception):
    """The labelled data is not where it should be; the message is one line."""


def data_dir(override: Path | str | None = None, environ: Mapping[str, str] = os.environ) -> Path:
    """`override` (a `--data` option), else $MONITOR_SHARED_DATA, else the repository's `data/`; checked."""
    chosen = override or environ.get(DATA_ENV) or None
    where = Path(chosen) if chosen else REPO_DATA
    missing = [f for f in FILES if not (where / f).is_file()]
    if missing:
        how = "--data / " + DATA_ENV if chosen else f"{DATA_ENV} or --data (not in the repository: an installed copy?)"
        raise DataNotFound(f"labelled data not found at {where} (missing {missing[0]}); set {how}")
    return where
