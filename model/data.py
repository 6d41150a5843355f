"""Loading the labelled CSVs (the repository's data/, see its README) and the fixed, stratified dev split."""

from __future__ import annotations

import ast
import csv
import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from model.prediction import SENTIMENTS

# twitter-financial-news-sentiment: 0 = Bearish, 1 = Bullish, 2 = Neutral
TFN_SENTIMENT_MAP = {0: "negative", 1: "positive", 2: "neutral"}


@dataclass(frozen=True, slots=True)
class Example:
    text: str
    task: str  # "topic" or "sentiment"
    label: int  # index into the task's label list
    source: str  # which file it came from (dev metrics are reported per source)


def load_topic_names(classes_txt: Path) -> list[str]:
    return [line.strip() for line in classes_txt.read_text().splitlines() if line.strip()]


def load_topic_csv(path: Path) -> list[Example]:
    with path.open(newline="", encoding="utf-8") as f:  # csv module: 184 texts hold quoted newlines
        return [Example(r["text"], "topic", int(r["label"]), "tfn_topic") for r in csv.DictReader(f)]


def load_tfn_sentiment_csv(path: Path) -> list[Example]:
    with path.open(newline="", encoding="utf-8") as f:
        return [
            Example(r["text"], "sentiment", SENTIMENTS.index(TFN_SENTIMENT_MAP[int(r["label"])]), "tfn_sentiment")
            for r in csv.DictReader(f)
        ]


def load_sentfin_csv(path: Path) -> list[Example]:
    """SEntFiN labels entities; keep the headlines whose entities all share one sentiment."""
    out = []
    with path.open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            try:
                decisions = ast.literal_eval(r["Decisions"])
            except (ValueError, SyntaxError):
                continue  # 13 rows have apostrophes inside entity names; too few to be worth a parser
            labels = set(decisions.values())
            if len(labels) == 1 and (label := labels.pop()) in SENTIMENTS:
                out.append(Example(r["Title"], "sentiment", SENTIMENTS.index(label), "sentfin"))
    return out


def stratified_split(examples: list[Example], dev_fraction: float, seed: int) -> tuple[list[Example], list[Example]]:
    """Same seed, same files -> same split; every (source, label) group keeps its share in dev."""
    groups: dict[tuple[str, int], list[Example]] = defaultdict(list)
    for ex in examples:
        groups[(ex.source, ex.label)].append(ex)
    rng = random.Random(seed)
    train, dev = [], []
    for key in sorted(groups):
        items = groups[key][:]
        rng.shuffle(items)
        n_dev = max(1, round(len(items) * dev_fraction))
        dev += items[:n_dev]
        train += items[n_dev:]
    return train, dev


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
