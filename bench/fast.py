"""The fast model against the accurate one, whole process: `monitor classify` over the same headlines, runs
alternating between the two so that a change in the machine's load hits both, medians of --repeats.

    python -m bench.fast                          # the shipped files, the precision this CPU picks (auto)
    python -m bench.fast --precision fp32         # the path a CPU without bf16 units takes, on any CPU
    python -m bench.fast --fast runs/fast/news-classifier-fast.safetensors   # a candidate not shipped yet

Each run is a fresh `monitor classify --model FILE --precision P` process reading JSON lines from a file and
writing them to another: start-up, model load, tokenizing, the model and the JSON out, as a user meets it.
The issue's goals: fast >= 3x accurate on a CPU without bf16 units, >= 1.8x on a CPU with them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import load_texts, machine, median, print_machine, summary_line
from model.checkpoint import DEFAULT_CHECKPOINT, FAST_CHECKPOINT
from monitor.labelled_data import data_dir

GOAL_RATIO = {"no bf16 units": 3.0, "bf16 units": 1.8}


def classify_once(model: Path, src: Path, args: argparse.Namespace) -> tuple[float, str]:
    """Seconds for one whole `monitor classify` process over src, and the model_version it printed."""
    cmd = [sys.executable, "-m", "monitor", "classify", "--model", str(model), "--device", args.device,
           "--precision", args.precision, "--batch-size", str(args.batch_size)]
    with tempfile.TemporaryDirectory(prefix="bench-fast-") as tmp:
        dst = Path(tmp) / "out.jsonl"
        with src.open("rb") as fin, dst.open("wb") as fout:
            started = time.perf_counter()
            proc = subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.PIPE, check=False)
            wall = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stderr.decode()[-2000:]}")
        with dst.open(encoding="utf-8") as f:
            first = json.loads(f.readline())
            lines = 1 + sum(1 for _ in f)
    if lines != args.texts:
        raise RuntimeError(f"{model}: {lines} answers for {args.texts} lines")
    return wall, first["model_version"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fast", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, help="data dir (default: the repository's data/ or $MONITOR_SHARED_DATA)")
    p.add_argument("--fast", type=Path, default=FAST_CHECKPOINT, help=f"default {FAST_CHECKPOINT.name}")
    p.add_argument("--accurate", type=Path, default=DEFAULT_CHECKPOINT, help=f"default {DEFAULT_CHECKPOINT.name}")
    p.add_argument("--precision", choices=["auto", "bf16", "fp32"], default="auto")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("-n", "--texts", type=int, default=8000, help="train headlines per run (default 8000)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    for path in (args.fast, args.accurate):
        if not path.is_file():
            p.error(f"no such checkpoint: {path}")
    from model.device import autocast_dtype, cpu_has_fast_bf16, resolve_device

    info = machine()
    print_machine(info)
    dtype = autocast_dtype(resolve_device(args.device), args.precision)
    kind = "bf16 units" if dtype is not None else "no bf16 units"
    print(f"device {args.device}, precision {args.precision} -> {dtype or 'fp32'} "
          f"(this CPU has bf16 units: {cpu_has_fast_bf16()}); {args.texts} headlines, batch {args.batch_size}, "
          f"{args.repeats} runs each, alternating")
    texts = load_texts(data_dir(args.data), args.texts)
    walls: dict[str, list[float]] = {"accurate": [], "fast": []}
    versions: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="bench-fast-") as tmp:
        src = Path(tmp) / "in.jsonl"
        src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        for r in range(args.repeats):
            for name, path in (("accurate", args.accurate), ("fast", args.fast)):
                wall, versions[name] = classify_once(path, src, args)
                walls[name].append(wall)
                print(f"run {r + 1} {name}: {wall:.2f} s, {args.texts / wall:.0f} headlines/s "
                      f"(load {os.getloadavg()[0]:.2f})")
    rates = {name: args.texts / median(w) for name, w in walls.items()}
    ratio = rates["fast"] / rates["accurate"]
    goal = GOAL_RATIO[kind]
    for name in ("accurate", "fast"):
        print(f"{name:9} {versions[name]}: median {rates[name]:.0f} headlines/s "
              f"(runs {' / '.join(f'{args.texts / w:.0f}' for w in walls[name])})")
    print(f"fast / accurate: {ratio:.2f}x (goal on a CPU with {kind}: >= {goal}x)")
    payload: dict[str, Any] = {
        "device": args.device, "precision": str(dtype or "fp32").removeprefix("torch."), "texts": args.texts,
        "batch_size": args.batch_size, "headlines_per_s": {k: round(v, 1) for k, v in rates.items()},
        "walls_s": {k: [round(x, 2) for x in v] for k, v in walls.items()}, "model_versions": versions,
        "ratio": round(ratio, 2), "goal": goal, "met": ratio >= goal, "machine": info,
        "loadavg_1m_at_end": round(os.getloadavg()[0], 2),
    }
    print(summary_line("fast", payload))
    return 0


if __name__ == "__main__":
    sys.exit(main())
