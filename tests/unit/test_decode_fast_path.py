"""decode() skips the NUL / surrogate / depth walk when the raw bytes prove it has nothing to find; the
skip must never change a verdict. Hypothesis compares it with the walk forced on, on arbitrary JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers import decode as decode_module

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30,
)
messages = st.fixed_dictionaries(
    {"title": st.text(min_size=1), "published_at": st.just("2026-11-20T10:00:00Z")},
    optional={"body": st.text(), "extra": json_values, "tickers": st.lists(st.text(max_size=4), max_size=3)},
)


def _deeply_nested(depth: int) -> bytes:
    return b'{"title": "t", "published_at": "2026-11-20T10:00:00Z", "x": ' + b"[" * depth + b"]" * depth + b"}"


# The monkeypatch is scoped to each example by monkeypatch.context(), so the shared fixture is safe.
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages, ascii_only=st.booleans())
def test_the_fast_path_gives_the_same_verdict_as_the_full_walk(
    message: dict[str, object], ascii_only: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        raw = json.dumps(message, ensure_ascii=ascii_only).encode("utf-8")
    except UnicodeEncodeError:
        return  # a lone surrogate cannot be UTF-8 without escaping: ensure_ascii=True covers that case
    fast = decode_module.decode(raw)
    with monkeypatch.context() as patched:
        patched.setattr(decode_module, "_may_need_tree_check", lambda _raw: True)
        full = decode_module.decode(raw)
    assert repr(fast) == repr(full)


@pytest.mark.parametrize("raw, needle", [
    (b'{"title": "a\\u0000b", "published_at": "2026-11-20T10:00:00Z"}', "NUL"),
    (b'{"title": "a\\ud800b", "published_at": "2026-11-20T10:00:00Z"}', "surrogate"),
    (_deeply_nested(decode_module.MAX_DEPTH + 1), "nested deeper"),
])
def test_what_the_walk_finds_is_still_found(raw: bytes, needle: str) -> None:
    verdict = decode_module.decode(raw)
    assert isinstance(verdict, decode_module.InvalidMessage)
    assert needle.lower() in verdict.error.lower()
