"""Loading the classifier and `predict(texts) -> list[Prediction]`, the face of `model/`."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from model import checkpoint
from model.device import autocast_dtype, resolve_device, use_all_cores
from model.net import NewsClassifier
from model.prediction import Prediction
from model.tokenize import Encoded, NewsTokenizer, length_sorted_batches

HIGHLIGHTS = 5
_WORDLIKE = re.compile(r"\w")
# Function words carry no news; attention often parks on them. Not shown as highlights.
_STOPWORDS = frozenset(
    "a an the and or but of to in on at for from by with as is are was were be been it its this that these those "
    "has have had will would can could may might into over after before than then so if about s".split()
)


@dataclass
class BatchOutput:
    topic_probs: np.ndarray  # (N, n_topics), in input order
    sentiment_probs: np.ndarray  # (N, 3)
    sentiment_weights: list[np.ndarray]  # per input: attention-pool weight of each token


def _pad(rows: list[list[int]]) -> torch.Tensor:
    T = max(len(r) for r in rows)
    out = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


@torch.inference_mode()
def run(
    model: NewsClassifier,
    ids: list[list[int]],
    device: torch.device,
    dtype: torch.dtype | None,
    batch_size: int,
    temperatures: tuple[float, float] = (1.0, 1.0),
) -> BatchOutput:
    """Runs length-sorted batches (little padding) and returns results in input order.
    temperatures (topic, sentiment) divide the logits: the checkpoint's calibration (argmax unchanged)."""
    n = len(ids)
    topic = np.zeros((n, model.cfg.n_topics), dtype=np.float32)
    sentiment = np.zeros((n, model.cfg.n_sentiments), dtype=np.float32)
    weights: list[np.ndarray] = [np.zeros(0, dtype=np.float32)] * n
    amp = torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()
    exact = device.type == "cuda"  # unpadded batches -> flash attention
    for batch in length_sorted_batches([len(r) for r in ids], batch_size, exact=exact):
        x = _pad([ids[i] for i in batch])
        if device.type == "cuda":
            x = x.pin_memory().to(device, non_blocking=True)
        with amp:
            t_logits, s_logits, s_weights = model(x)
        t = (t_logits.float() / temperatures[0]).softmax(-1).cpu().numpy()
        s = (s_logits.float() / temperatures[1]).softmax(-1).cpu().numpy()
        w = s_weights.float().cpu().numpy()
        for j, i in enumerate(batch):
            topic[i], sentiment[i], weights[i] = t[j], s[j], w[j, : len(ids[i])]
    return BatchOutput(topic, sentiment, weights)


def highlight_words(enc: Encoded, token_weights: np.ndarray, k: int = HIGHLIGHTS) -> tuple[str, ...]:
    """The words whose WordPieces the sentiment head weighted most, most important first."""
    score: dict[int, float] = {}
    span: dict[int, tuple[int, int]] = {}
    for pos, word in enumerate(enc.word_ids):
        if word is None:  # [CLS], [SEP]
            continue
        score[word] = score.get(word, 0.0) + float(token_weights[pos])
        start, end = enc.offsets[pos]
        lo, hi = span.get(word, (start, end))
        span[word] = (min(lo, start), max(hi, end))
    words: list[str] = []
    above_average = 1.0 / max(1, len(score))  # only words the head weighted more than a uniform share
    for word in sorted(score, key=score.__getitem__, reverse=True):
        text = enc.text[span[word][0] : span[word][1]]
        if words and score[word] < above_average:
            break
        if _WORDLIKE.search(text) and text.lower() not in _STOPWORDS and text not in words:
            words.append(text)
        if len(words) == k:
            break
    return tuple(words)


class Classifier:
    def __init__(
        self,
        model: NewsClassifier,
        meta: checkpoint.CheckpointMeta,
        device: torch.device,
        dtype: torch.dtype | None,
        max_tokens: int | None = None,
    ) -> None:
        self.model = model.to(device).eval()
        self.meta = meta
        self.device = device
        self.dtype = dtype
        self.tokenizer = NewsTokenizer(max_tokens or meta.max_tokens)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        device: str = "auto",
        precision: str = "auto",
        max_tokens: int | None = None,
        choice: str = "auto",
    ) -> Classifier:
        """`path` names any checkpoint; without it `choice` (MONITOR_MODEL: auto, fast, accurate) picks a shipped
        one for this device and precision (checkpoint.pick_shipped)."""
        use_all_cores()
        dev = resolve_device(device)
        dtype = autocast_dtype(dev, precision)
        if not path:
            bf16_capable = dev.type == "cuda" or dtype is not None
            path = checkpoint.pick_shipped(choice, bf16_capable, checkpoint.FAST_CHECKPOINT.is_file())
        model, meta = checkpoint.load(Path(path))
        return cls(model, meta, dev, dtype, max_tokens)

    @property
    def model_version(self) -> str:
        return self.meta.model_version

    @property
    def temperatures(self) -> tuple[float, float]:
        return self.meta.temperatures.get("topic", 1.0), self.meta.temperatures.get("sentiment", 1.0)

    @property
    def precision(self) -> str:
        return "fp32" if self.dtype is None else str(self.dtype).removeprefix("torch.")

    def predict(self, texts: Sequence[str], batch_size: int = 128) -> list[Prediction]:
        if not texts:
            return []
        encoded = self.tokenizer.encode(texts)
        # Syndicated stories: texts that clean to the same string get the same answer, computed once.
        first: dict[str, int] = {}
        unique: list[Encoded] = []
        slot: list[int] = []
        for enc in encoded:
            if enc.text not in first:
                first[enc.text] = len(unique)
                unique.append(enc)
            slot.append(first[enc.text])
        out = run(self.model, [e.ids for e in unique], self.device, self.dtype, batch_size, self.temperatures)
        answers = list(self._predictions(unique, out))
        return [answers[i] for i in slot]

    def _predictions(self, encoded: list[Encoded], out: BatchOutput) -> Iterator[Prediction]:
        topics, sentiments, version = self.meta.topics, self.meta.sentiments, self.meta.model_version
        for i, enc in enumerate(encoded):
            t, s = out.topic_probs[i], out.sentiment_probs[i]
            ti, si = int(t.argmax()), int(s.argmax())
            yield Prediction(
                topic=topics[ti],
                topic_score=float(t[ti]),
                sentiment=sentiments[si],
                sentiment_score=float(s[si]),
                model_version=version,
                topic_probs={name: round(float(p), 5) for name, p in zip(topics, t, strict=True)},
                sentiment_probs={name: round(float(p), 5) for name, p in zip(sentiments, s, strict=True)},
                highlights=highlight_words(enc, out.sentiment_weights[i]),
            )
