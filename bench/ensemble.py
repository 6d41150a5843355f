"""Dev metrics of checkpoints one by one and of their averaged probabilities: what an ensemble would score,
the ceiling a student distilled from it (`monitor train --teacher ...`) aims at.

    python -m bench.ensemble model/weights/news-classifier.safetensors runs/ens/s1.safetensors ...

Every checkpoint must come from the same training files and dev split (split seed 13, the default): the
dev split is carved from the train files, so a checkpoint trained on another split has seen part of it.
CPU, fp32, each checkpoint's calibration temperatures applied, as `monitor evaluate` does.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import DEFAULT_DATA, machine, print_machine, summary_line
from model.classifier import Classifier, run
from model.metrics import report
from model.train import dev_split

SOURCES = ("tfn_topic", "tfn_sentiment", "sentfin")


def dev_probabilities(clf: Classifier, dev: dict[str, list[Any]]) -> dict[str, np.ndarray]:
    out = {}
    for source in SOURCES:
        examples = dev[source]
        res = run(clf.model, clf.tokenizer.ids([e.text for e in examples]), clf.device, clf.dtype,
                  batch_size=256, temperatures=clf.temperatures)
        out[source] = res.topic_probs if examples[0].task == "topic" else res.sentiment_probs
    return out


def scores(probs: dict[str, np.ndarray], dev: dict[str, list[Any]], clf: Classifier) -> dict[str, Any]:
    figures = {}
    for source, p in probs.items():
        labels = clf.meta.topics if dev[source][0].task == "topic" else clf.meta.sentiments
        r = report(p, np.array([e.label for e in dev[source]]), labels)
        figures[source] = {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"data dir (default {DEFAULT_DATA})")
    args = p.parse_args(argv)
    missing = [str(c) for c in args.checkpoints if not c.is_file()]
    if missing:
        p.error(f"no such checkpoint: {', '.join(missing)}")
    print_machine(machine())
    dev = dev_split(args.data)
    members = []
    for path in args.checkpoints:
        clf = Classifier.load(path, device="cpu", precision="fp32")
        probs = dev_probabilities(clf, dev)
        members.append(probs)
        print(summary_line("ensemble_member", {"checkpoint": str(path), "model_version": clf.model_version,
                                               "dev": scores(probs, dev, clf)}))
    mean = {s: np.mean([m[s] for m in members], axis=0) for s in SOURCES}
    print(summary_line("ensemble", {"members": len(members), "dev": scores(mean, dev, clf)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
