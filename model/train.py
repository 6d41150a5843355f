"""Multi-task fine-tuning: topic (20 classes) and sentiment (3 classes) in mixed batches.

Recipe (see the README's model card for what the dev split said about it): all-MiniLM-L6-v2 encoder
with frozen embedding tables, attention-pooling heads, AdamW with layer-wise learning-rate decay,
linear warm-up then linear decay, label smoothing, square-root inverse-frequency class weights,
length-bucketed batches, bf16 autocast where the hardware has it. Seeded and reproducible.

Knowledge distillation (`teachers`): the student also matches the averaged, temperature-softened
probabilities of trained checkpoints on every train example (Hinton et al. 2015), the usual way to fold an
ensemble into one model of the shipped size. Teachers must have been trained on the same files with the
same dev split (`split_seed`, `dev_fraction`), so dev stays held out from them too; `seed` alone varies
initialisation and batch order between ensemble members.
"""

from __future__ import annotations

import itertools
import json
import math
import random
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from model import checkpoint
from model.calibrate import calibrate
from model.classifier import run
from model.data import (
    Example,
    load_sentfin_csv,
    load_tfn_sentiment_csv,
    load_topic_csv,
    load_topic_names,
    sha256_file,
    stratified_split,
)
from model.device import autocast_dtype, resolve_device, use_all_cores
from model.metrics import report
from model.net import EncoderConfig, NewsClassifier, frozen_parameter_names
from model.prediction import SENTIMENTS
from model.tokenize import NewsTokenizer

PICK_SAMPLE = 2000  # train examples that choose a student's blocks
TINY = EncoderConfig(hidden=32, layers=2, heads=2, intermediate=64, max_positions=128, dropout=0.0)


@dataclass
class TrainConfig:
    topic_csv: Path
    sentiment_csv: Path
    sentfin_csv: Path | None
    classes_txt: Path
    out: Path
    epochs: int = 4
    batch_size: int = 32
    lr: float = 1e-4  # top encoder layer; lower layers get lr * layer_decay**depth
    head_lr: float = 1e-3
    layer_decay: float = 0.85
    weight_decay: float = 0.01
    warmup: float = 0.06
    label_smoothing: float = 0.1
    max_tokens: int = 64  # training only: tweets/headlines fit; inference defaults to 128
    dev_fraction: float = 0.1
    seed: int = 13  # initialisation and batch order
    split_seed: int = 13  # the dev split (and --limit's sample): keep it fixed across an ensemble
    # Distillation: trained checkpoints whose averaged soft predictions the student also learns.
    teachers: tuple[Path, ...] = ()
    distill_weight: float = 0.5  # loss = (1 - w) * cross-entropy + w * T^2 * KL(teachers || student)
    distill_temperature: float = 2.0
    # Cross-task distillation: each head also matches the teachers on the other task's rows (the sentiment head
    # on topic rows, the topic head on sentiment rows), so a small student sees the teachers' sentiment on
    # every train example instead of on the sentiment rows alone. Off: plain per-task distillation.
    distill_all_rows: bool = False
    # A smaller student: this many encoder blocks, initialised (blocks, embedding norm, heads) from chosen
    # blocks of `init_from`, a trained checkpoint; `init_blocks` None picks them (pick_blocks).
    layers: int | None = None
    init_from: Path | None = None
    init_blocks: tuple[int, ...] | None = None
    # SEntFiN trains its own sentiment head (see EncoderConfig). Off: tried on 2026-11-25, tfn sentiment dev
    # accuracy after 4 epochs was 0.850 with it against 0.861 without.
    sentfin_own_head: bool = False
    tiny: bool = False  # random-init tiny config (tests)
    limit: int | None = None  # use only this many examples per file (tests)
    max_steps: int | None = None
    device: str = "auto"
    model_version: str = field(default_factory=lambda: "news-" + datetime.now(UTC).strftime("%Y%m%d"))


@dataclass
class TrainResult:
    losses: list[float]
    dev_metrics: dict[str, Any]
    checkpoint: Path


def _seed(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_examples(cfg: TrainConfig) -> tuple[list[Example], list[Example]]:
    files = [load_topic_csv(cfg.topic_csv), load_tfn_sentiment_csv(cfg.sentiment_csv)]
    if cfg.sentfin_csv:
        files.append(load_sentfin_csv(cfg.sentfin_csv))
    train: list[Example] = []
    dev: list[Example] = []
    for examples in files:
        if cfg.limit:
            examples = random.Random(cfg.split_seed).sample(examples, min(cfg.limit, len(examples)))
        t, d = stratified_split(examples, cfg.dev_fraction, cfg.split_seed)
        train += t
        dev += d
    return train, dev


def dev_split(data_dir: Path) -> dict[str, list[Example]]:
    """The dev split of a default training run over the shared data directory (the shipped model's), by
    source file: what its dev metrics, the agreement checks and the regression guard are measured on."""
    cfg = TrainConfig(
        topic_csv=data_dir / "tfn_topic/topic_train.csv",
        sentiment_csv=data_dir / "tfn_sentiment/sent_train.csv",
        sentfin_csv=data_dir / "sentfin/SEntFiN.csv",
        classes_txt=data_dir / "tfn_topic/classes.txt",
        out=Path("unused"),
    )
    by_source: dict[str, list[Example]] = {}
    for e in load_examples(cfg)[1]:
        by_source.setdefault(e.source, []).append(e)
    return by_source


def class_weights(examples: list[Example], task: str, n: int) -> torch.Tensor:
    """1/sqrt(frequency), mean 1: helps rare classes (macro-F1) without wrecking accuracy."""
    counts = np.bincount([e.label for e in examples if e.task == task], minlength=n).astype(float)
    w = 1.0 / np.sqrt(np.maximum(counts, 1.0))
    return torch.tensor(w / w.mean(), dtype=torch.float32)


def param_groups(model: NewsClassifier, cfg: TrainConfig) -> list[dict[str, Any]]:
    """Layer-wise LR decay: the top block learns at lr, each block below at layer_decay times less."""
    frozen = frozen_parameter_names(model) if not cfg.tiny else set()
    n_layers = model.cfg.layers
    groups: dict[tuple[float, float], list[torch.nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if name in frozen:
            p.requires_grad_(False)
            continue
        if "_head." in name:
            lr = cfg.head_lr
        elif name.startswith("blocks."):
            depth = n_layers - 1 - int(name.split(".")[1])
            lr = cfg.lr * cfg.layer_decay**depth
        else:  # embedding LayerNorm (and, for tiny models, the embeddings)
            lr = cfg.lr * cfg.layer_decay**n_layers if not cfg.tiny else cfg.head_lr
        wd = 0.0 if p.ndim == 1 else cfg.weight_decay  # no decay on biases / norms / pooling queries
        groups.setdefault((lr, wd), []).append(p)
    return [{"params": ps, "lr": lr, "weight_decay": wd, "base_lr": lr} for (lr, wd), ps in groups.items()]


def student_from(
    source: NewsClassifier, blocks: tuple[int, ...], aux_sentiment_head: bool = False,
) -> NewsClassifier:
    """A classifier with only `blocks` of `source`'s encoder (in their order), and its embeddings and heads:
    DistilBERT's initialisation (Sanh et al. 2019) from a trained model rather than from the backbone."""
    cfg = replace(source.cfg, layers=len(blocks), aux_sentiment_head=aux_sentiment_head)
    student = NewsClassifier(cfg)
    state = {}
    for name, t in source.state_dict().items():
        if name.startswith("blocks."):
            i, rest = name.split(".", 2)[1:]
            if int(i) in blocks:
                state[f"blocks.{blocks.index(int(i))}.{rest}"] = t
        elif not name.startswith("aux_sentiment_head."):
            state[name] = t
    missing, unexpected = student.load_state_dict(state, strict=False)
    assert not unexpected, unexpected
    assert all(name.startswith("aux_sentiment_head.") for name in missing), missing
    return student


def pick_blocks(
    source: NewsClassifier, layers: int, ids: list[list[int]], device: torch.device, dtype: torch.dtype | None,
) -> tuple[tuple[int, ...], float]:
    """The `layers` blocks of `source` (in order) whose untrained student agrees most with `source` on `ids`
    (mean of topic and sentiment argmax agreement), and that agreement. Every subset is tried: 20 for 3 of 6."""
    full = run(source.to(device), ids, device, dtype, batch_size=256)
    best: tuple[tuple[int, ...], float] = ((), -1.0)
    for blocks in itertools.combinations(range(source.cfg.layers), layers):
        out = run(student_from(source, blocks).to(device), ids, device, dtype, batch_size=256)
        agree = float(np.mean([
            (out.topic_probs.argmax(1) == full.topic_probs.argmax(1)).mean(),
            (out.sentiment_probs.argmax(1) == full.sentiment_probs.argmax(1)).mean(),
        ]))
        print(f"blocks {blocks}: argmax agreement with {source.cfg.layers} blocks {agree:.4f}")
        if agree > best[1]:
            best = (blocks, agree)
    return best


def initial_model(cfg: TrainConfig, enc_cfg: EncoderConfig, ids: list[list[int]], device: torch.device,
                  dtype: torch.dtype | None) -> tuple[NewsClassifier, tuple[int, ...] | None]:
    """The model training starts from: the backbone (or a tiny random one), or a student of `init_from`; and
    the blocks of `init_from` it took (None without one)."""
    if cfg.init_from is None:
        base = NewsClassifier(enc_cfg) if cfg.tiny else checkpoint.pretrained_model(enc_cfg)
        if cfg.layers is None or cfg.layers == base.cfg.layers:
            return base, None
        return student_from(base, tuple(range(cfg.layers)), enc_cfg.aux_sentiment_head), None  # the lowest blocks
    source, _ = checkpoint.load(cfg.init_from)
    n = source.cfg.layers
    layers = cfg.layers or n
    if layers > n:
        raise ValueError(f"{layers} layers: {cfg.init_from} has only {n} blocks")
    blocks = cfg.init_blocks
    if blocks is None:
        sample = random.Random(cfg.seed).sample(range(len(ids)), min(PICK_SAMPLE, len(ids)))
        blocks, agree = pick_blocks(source, layers, [ids[i] for i in sample], device, dtype)
        print(f"student initialised from blocks {blocks} of {cfg.init_from} (agreement {agree:.4f})")
    elif len(blocks) != layers or list(blocks) != sorted(set(blocks)) or not 0 <= blocks[0] <= blocks[-1] < n:
        raise ValueError(f"init blocks {blocks}: need {layers} distinct increasing block numbers of 0..{n - 1}")
    return student_from(source.cpu(), tuple(blocks), enc_cfg.aux_sentiment_head), tuple(blocks)


def batches(ids: list[list[int]], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled, then sorted by length inside chunks of 50 batches: mixed tasks, little padding."""
    order = list(range(len(ids)))
    rng.shuffle(order)
    chunk = batch_size * 50
    out = []
    for i in range(0, len(order), chunk):
        part = sorted(order[i : i + chunk], key=lambda j: len(ids[j]))
        out += [part[k : k + batch_size] for k in range(0, len(part), batch_size)]
    rng.shuffle(out)
    return out


def distill_loss(logits: torch.Tensor, soft: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(soft || softmax(logits / T)) per row, averaged, times T^2 so its gradients keep their scale
    whatever the temperature (Hinton et al. 2015)."""
    log_p = F.log_softmax(logits.float() / temperature, dim=-1)
    return F.kl_div(log_p, soft, reduction="batchmean") * temperature**2


def teacher_targets(
    cfg: TrainConfig, ids: list[list[int]], meta: checkpoint.CheckpointMeta, device: torch.device,
    dtype: torch.dtype | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The teachers' averaged topic and sentiment probabilities at the distillation temperature, one row per
    train example (both heads for every example; each row's own task picks its half, and with
    `distill_all_rows` the other half teaches the other head)."""
    topic: torch.Tensor | None = None
    sentiment: torch.Tensor | None = None
    t = cfg.distill_temperature
    for path in cfg.teachers:
        teacher, tmeta = checkpoint.load(path)
        check_teacher(path, tmeta, meta, cfg)
        out = run(teacher.to(device), ids, device, dtype, batch_size=256, temperatures=(t, t))
        tp, sp = torch.from_numpy(out.topic_probs), torch.from_numpy(out.sentiment_probs)
        topic, sentiment = (tp, sp) if topic is None or sentiment is None else (topic + tp, sentiment + sp)
        del teacher
    assert topic is not None and sentiment is not None
    return topic / len(cfg.teachers), sentiment / len(cfg.teachers)


def check_teacher(path: Path, teacher: checkpoint.CheckpointMeta, student: checkpoint.CheckpointMeta,
                  cfg: TrainConfig) -> None:
    """A teacher that saw other labels, other files or another dev split would leak into dev metrics."""
    if teacher.topics != student.topics or teacher.sentiments != student.sentiments:
        raise ValueError(f"teacher {path} has other label names than this run")
    if teacher.train_files != student.train_files:
        raise ValueError(f"teacher {path} was trained on other files (sha256 differ): dev would not be held out")
    report_file = path.with_suffix(".train.json")
    if report_file.is_file():
        split = json.loads(report_file.read_text()).get("config", {})
        theirs = (split.get("split_seed", split.get("seed")), split.get("dev_fraction"), split.get("limit"))
        if theirs != (cfg.split_seed, cfg.dev_fraction, cfg.limit):
            raise ValueError(f"teacher {path} used another dev split (split seed, dev fraction, limit {theirs})")


def evaluate_dev(
    model: NewsClassifier,
    tok: NewsTokenizer,
    dev: list[Example],
    topics: list[str],
    device: torch.device,
    dtype: torch.dtype | None,
) -> dict[str, Any]:
    model.eval()
    metrics: dict[str, Any] = {}
    for source in sorted({e.source for e in dev}):
        subset = [e for e in dev if e.source == source]
        out = run(model, tok.ids([e.text for e in subset]), device, dtype, batch_size=256)
        task = subset[0].task
        probs = out.topic_probs if task == "topic" else out.sentiment_probs
        labels = topics if task == "topic" else list(SENTIMENTS)
        metrics[source] = report(probs, np.array([e.label for e in subset]), labels)
    model.train()
    return metrics


def headline(metrics: dict[str, Any]) -> str:
    return "  ".join(f"{s}: acc {m['accuracy']:.4f} macro-F1 {m['macro_f1']:.4f}" for s, m in metrics.items())


def train(cfg: TrainConfig) -> TrainResult:
    use_all_cores()
    _seed(cfg.seed)
    device = resolve_device(cfg.device)
    dtype = autocast_dtype(device)
    topics = load_topic_names(cfg.classes_txt)
    train_ex, dev_ex = load_examples(cfg)
    tok = NewsTokenizer(cfg.max_tokens)
    ids = tok.ids([e.text for e in train_ex])
    # which head each example trains: 0 topic, 1 sentiment, 2 the SEntFiN sentiment head
    head_of = torch.tensor([
        0 if e.task == "topic" else 2 if (cfg.sentfin_own_head and e.source == "sentfin") else 1 for e in train_ex
    ])
    labels = torch.tensor([e.label for e in train_ex])

    enc_cfg = replace(TINY if cfg.tiny else EncoderConfig(), aux_sentiment_head=cfg.sentfin_own_head)
    meta = checkpoint.CheckpointMeta(
        config=enc_cfg,
        topics=topics,
        sentiments=list(SENTIMENTS),
        model_version=cfg.model_version,
        backbone=None if cfg.tiny else checkpoint.BACKBONE,
        train_files={
            p.name: sha256_file(p) for p in (cfg.topic_csv, cfg.sentiment_csv, cfg.sentfin_csv) if p
        },
    )
    if cfg.init_from is not None:  # its weights saw the train files: same rules as a teacher's
        check_teacher(cfg.init_from, checkpoint.read_meta(cfg.init_from), meta, cfg)
    model, blocks = initial_model(cfg, enc_cfg, ids, device, dtype)
    cfg = replace(cfg, init_blocks=blocks)  # the report says which blocks were picked
    enc_cfg = meta.config = model.cfg
    model.to(device).train()
    w_topic = class_weights(train_ex, "topic", enc_cfg.n_topics).to(device)
    w_sent = class_weights(train_ex, "sentiment", enc_cfg.n_sentiments).to(device)
    optim = torch.optim.AdamW(param_groups(model, cfg), betas=(0.9, 0.98), eps=1e-6)

    rng = random.Random(cfg.seed)
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = min(cfg.max_steps or 10**9, steps_per_epoch * cfg.epochs)
    warm = max(1, int(total * cfg.warmup))
    amp = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    print(f"train {len(ids)} examples, dev {len(dev_ex)}, {total} steps on {device} ({dtype or 'fp32'})")

    losses: list[float] = []
    best: dict[str, Any] = {}
    best_score = -1.0
    step = 0
    soft: tuple[torch.Tensor, torch.Tensor] | None = None
    if cfg.teachers:
        soft = teacher_targets(cfg, ids, meta, device, dtype)
        print(f"distilling from {len(cfg.teachers)} teacher(s): weight {cfg.distill_weight}, "
              f"temperature {cfg.distill_temperature}")
    for epoch in range(cfg.epochs):
        started = time.monotonic()
        bar = tqdm(batches(ids, cfg.batch_size, rng), desc=f"epoch {epoch + 1}/{cfg.epochs}", mininterval=5)
        for batch in bar:
            if step >= total:
                break
            scale = (step + 1) / warm if step < warm else max(0.0, (total - step) / max(1, total - warm))
            for g in optim.param_groups:
                g["lr"] = g["base_lr"] * scale
            x = torch.zeros((len(batch), max(len(ids[i]) for i in batch)), dtype=torch.long)
            for r, i in enumerate(batch):
                x[r, : len(ids[i])] = torch.tensor(ids[i])
            x, y, head = x.to(device), labels[batch].to(device), head_of[batch].to(device)
            loss = x.new_zeros((), dtype=torch.float32)
            with amp:
                states, pad = model.encode(x)
                heads = [(model.topic_head, w_topic), (model.sentiment_head, w_sent)]
                if model.aux_sentiment_head is not None:
                    heads.append((model.aux_sentiment_head, w_sent))
                for h, (module, weight) in enumerate(heads):
                    rows = head == h
                    if rows.any():
                        logits, _ = module(states[rows], pad[rows])
                        task_loss = F.cross_entropy(
                            logits.float(), y[rows], weight=weight, label_smoothing=cfg.label_smoothing
                        )
                        if soft is not None:
                            targets = soft[0 if h == 0 else 1][batch][rows.cpu()].to(device)
                            task_loss = ((1 - cfg.distill_weight) * task_loss
                                         + cfg.distill_weight * distill_loss(logits, targets, cfg.distill_temperature))
                        loss = loss + task_loss * rows.float().mean()  # each task weighted by its share of the batch
                    other = ~rows
                    if soft is not None and cfg.distill_all_rows and h < 2 and other.any():
                        # the teachers' view of this head on the other task's rows: soft targets only
                        logits, _ = module(states[other], pad[other])
                        targets = soft[h][batch][other.cpu()].to(device)
                        kl = distill_loss(logits, targets, cfg.distill_temperature)
                        loss = loss + cfg.distill_weight * kl * other.float().mean()
            optim.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            losses.append(loss.item())
            step += 1
            if step % 20 == 0:
                bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
        metrics = evaluate_dev(model, tok, dev_ex, topics, device, dtype)
        recent = float(np.mean(losses[-100:])) if losses else float("nan")
        print(f"epoch {epoch + 1}: loss {recent:.4f}  {headline(metrics)}  ({time.monotonic() - started:.0f}s)")
        # keep the epoch with the best mean accuracy on the two goal datasets (dev split only)
        goal = [m["accuracy"] for s, m in metrics.items() if s in ("tfn_topic", "tfn_sentiment")]
        score = float(np.mean(goal)) if goal else 0.0
        if score > best_score:
            best_score, best = score, metrics
            meta.dev_metrics = {
                "epoch": epoch + 1,
                **{s: {k: m[k] for k in ("n", "accuracy", "macro_f1", "ece", "f1")} for s, m in metrics.items()},
            }
            checkpoint.save(model, meta, cfg.out)
        if step >= total:
            break
    temperatures = calibrate(cfg.out, dev_ex, device, dtype)
    print(f"calibration temperatures (dev): {temperatures}")
    summary = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    summary["teachers"] = [{"path": str(p), "sha256": sha256_file(p)} for p in cfg.teachers]
    cfg.out.with_suffix(".train.json").write_text(json.dumps({"config": summary, "dev": best}, indent=1))
    return TrainResult(losses=losses, dev_metrics=best, checkpoint=cfg.out)
