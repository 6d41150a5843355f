"""Shared helpers for the benchmarks: machine line, medians, the realistic headline set."""

from __future__ import annotations

import csv
import json
import os
import platform
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from monitor import labelled_data

REPO = Path(__file__).resolve().parents[1]
TRAIN_FILES = (labelled_data.TOPIC_TRAIN, labelled_data.SENTIMENT_TRAIN)  # found by labelled_data.data_dir
SHIPPED_CHECKPOINT = REPO / "model" / "weights" / "news-classifier.safetensors"
RUN_CHECKPOINT = REPO / "runs" / "v1" / "news-classifier.safetensors"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine() -> dict[str, Any]:
    import torch

    flags = cpu_flags()
    info: dict[str, Any] = {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),
        "avx512_bf16": "avx512_bf16" in flags,
        "amx_bf16": "amx_bf16" in flags,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),  # other work on the machine skews figures
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def print_machine(info: dict[str, Any]) -> None:
    gpu = f", GPU {info['gpu']}" if "gpu" in info else ""
    print(
        f"machine: {info['cpu']}, {info['cores']} cores (avx512_bf16={info['avx512_bf16']}, "
        f"amx_bf16={info['amx_bf16']}), torch {info['torch']} ({info['torch_threads']} threads), "
        f"python {info['python']}{gpu}; load average (1 min) at start {info['loadavg_1m_at_start']}"
    )


def default_checkpoint() -> Path | None:
    """The shipped checkpoint if it exists, else the v1 training run's; None: Classifier's default."""
    for p in (SHIPPED_CHECKPOINT, RUN_CHECKPOINT):
        if p.is_file():
            return p
    return None


def load_texts(data_dir: Path, n: int, seed: int = 0) -> list[str]:
    """n training headlines, half from each train CSV (shuffled with a fixed seed; cycled if n is larger)."""
    per_file: list[list[str]] = []
    for name in TRAIN_FILES:
        with (data_dir / name).open(newline="", encoding="utf-8") as f:
            texts = [row["text"] for row in csv.DictReader(f) if row.get("text", "").strip()]
        random.Random(seed).shuffle(texts)
        per_file.append(texts)
    out: list[str] = []
    i = 0
    while len(out) < n:  # interleave the two sources, cycling when n exceeds what the files hold
        src = per_file[i % len(per_file)]
        out.append(src[(i // len(per_file)) % len(src)])
        i += 1
    return out


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def summary_line(name: str, payload: dict[str, Any]) -> str:
    return json.dumps({"bench": name, **payload}, sort_keys=False, default=str)
