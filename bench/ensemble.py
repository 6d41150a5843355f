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

from bench.common import machine, print_machine, summary_line
from model.classifier import Classifier
from model.evaluate import averaged, score, task_probabilities
from model.train import dev_split
from monitor.labelled_data import data_dir

SOURCES = ("tfn_topic", "tfn_sentiment", "sentfin")


def figures(clf: Classifier, dev: dict[str, list[Any]], probs: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for source, p in probs.items():
        r = score(clf, dev[source], p)
        out[source] = {"accuracy": round(r["accuracy"], 4), "macro_f1": round(r["macro_f1"], 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ensemble", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--data", type=Path, help="data dir (default: the repository's data/ or $MONITOR_SHARED_DATA)")
    args = p.parse_args(argv)
    missing = [str(c) for c in args.checkpoints if not c.is_file()]
    if missing:
        p.error(f"no such checkpoint: {', '.join(missing)}")
    print_machine(machine())
    dev = dev_split(data_dir(args.data))
    members = []
    for path in args.checkpoints:
        clf = Classifier.load(path, device="cpu", precision="fp32")
        probs = {source: task_probabilities(clf, dev[source]) for source in SOURCES}
        members.append(probs)
        print(summary_line("ensemble_member", {"checkpoint": str(path), "model_version": clf.model_version,
                                               "dev": figures(clf, dev, probs)}))
    mean = {source: averaged([m[source] for m in members]) for source in SOURCES}
    print(summary_line("ensemble", {"members": len(members), "dev": figures(clf, dev, mean)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
