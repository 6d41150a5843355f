"""The tokenizer reads a bounded prefix of each text (issue 13, item 2): fast and small on hostile sizes,
and the same token ids as tokenizing the whole cleaned text for every ordinary text."""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from model.data import load_topic_csv
from model.tokenize import CHARS_PER_TOKEN, NewsTokenizer, backbone_dir, clean, clean_prefix
from newsgen.headlines import generate

FIVE_MB = 5_000_000
PIECES = ["shares", "fell", "Apple", "&amp;", "&lt;b&gt;", "&#169;", "&nbsp;", "&#32;", "https://t.co/x1",
          "www.example.com/a?b=c", "http://a&amp;b", "  ", "\n\n", "\t", "\u2003", "é", "😀", "$AAPL", "-", "x" * 120]


def _whole_text_ids(max_tokens: int, texts: list[str]) -> list[list[int]]:
    """The tokenizer as it was before the budget: clean the whole text, encode it all, cut at max_tokens."""
    tok = Tokenizer.from_file(str(backbone_dir() / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_tokens)
    return [e.ids for e in tok.encode_batch([clean(t) for t in texts])]


def _random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(PIECES) + rng.choice([" ", "", "\n", ". "]) for _ in range(n))


def test_clean_prefix_is_a_prefix_of_clean() -> None:
    rng = random.Random(13)
    for _ in range(400):
        text = _random_text(rng, rng.randint(0, 400))
        for budget in (1, 7, 64, 300, 5000):
            assert clean_prefix(text, budget) == clean(text)[:budget], (text, budget)


def test_ordinary_texts_get_the_same_ids_as_before(shared_data: Path) -> None:
    rng = random.Random(5)
    texts = rng.sample([e.text for e in load_topic_csv(shared_data / "tfn_topic/topic_train.csv")], 2000)
    # generated articles with bodies from a paragraph to ~40 KB, and noisy ones full of links and entities
    for m in generate(200, seed=3):
        texts.append(f"{m['title']}\n{(m.get('body') or '') * rng.choice([1, 5, 50, 200])}")
    texts += [_random_text(rng, rng.choice([10, 200, 3000])) for _ in range(200)]
    for max_tokens in (16, 128, 512):
        assert NewsTokenizer(max_tokens).ids(texts) == _whole_text_ids(max_tokens, texts), max_tokens


@pytest.mark.parametrize("body", [
    "shares fell sharply after the guidance cut ",
    "ab😀 ",  # 4-byte characters: Python stores the whole text 4 bytes a character
    "https://t.co/abcdefgh ",  # all of it cleaned away: the cut must grow, not give up
    "&amp;&lt;&#169; ",
    "x",  # one endless word: nowhere to cut
    " \u2003\n",
], ids=["words", "emoji", "urls", "entities", "one-word", "whitespace"])
def test_five_megabyte_body_is_fast_and_gives_max_tokens(body: str) -> None:
    tok = NewsTokenizer(128)
    text = "Quarterly results beat estimates\n" + body * (FIVE_MB // len(body)) + " tail"
    started = time.perf_counter()
    (enc,) = tok.encode([text])
    took = time.perf_counter() - started
    assert took < 1.5, took  # the whole-text encode took 6 s and more for 5 MB
    assert len(enc.text) <= tok.max_chars == 128 * CHARS_PER_TOKEN
    assert enc.ids[:3] == tok.ids(["Quarterly results"])[0][:3]  # title first
    if body.strip() not in ("https://t.co/abcdefgh", "x", ""):
        assert len(enc.ids) == 128


def test_title_comes_first_even_when_it_alone_fills_the_budget() -> None:
    tok = NewsTokenizer(32)
    (enc,) = tok.encode(["Bank " * 1_000_000 + "\nbody words"])
    assert len(enc.ids) == 32 and "body" not in enc.text
