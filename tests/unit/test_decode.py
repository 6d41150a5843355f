"""decode(): bad messages become InvalidMessage with a useful reason; good ones keep every field."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumers.article import Article
from consumers.decode import MAX_KEY_CHARS, InvalidMessage, decode

GOOD: dict[str, Any] = {"title": "Apple beats estimates", "published_at": "2024-05-01T12:00:00Z"}
DROP = object()  # marks a field to remove from GOOD


def msg(**changes: Any) -> bytes:
    """GOOD with some fields changed (or dropped with DROP), as UTF-8 JSON."""
    obj = {**GOOD, **changes}
    return json.dumps({k: v for k, v in obj.items() if v is not DROP}).encode()


def raw_msg(fragment: str) -> bytes:
    """GOOD plus a raw JSON fragment spliced in (for things json.dumps cannot write)."""
    return ('{"title": "t", "published_at": "2024-05-01T12:00:00Z", ' + fragment + "}").encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# (case id, raw bytes, a substring the error must contain)
BAD: list[tuple[str, bytes | None, str]] = [
    # --- empty, size, encoding ---
    ("none", None, "tombstone: null value"),
    ("empty", b"", "empty message"),
    ("oversize", b'{"title": "' + b"a" * 1_000_001 + b'"}', "too large: 1000014 bytes > 1000000"),
    ("oversize-garbage", b"\xff" * 1_000_001, "too large"),
    ("latin1", '{"title": "café"}'.encode("latin-1"), "not UTF-8"),
    ("lone-ff", b"\xff", "not UTF-8"),
    ("truncated-utf8", b'{"title": "\xe2\x82"}', "not UTF-8"),
    ("utf16", json.dumps(GOOD).encode("utf-16"), "not UTF-8"),
    ("overlong-utf8", b'{"title": "\xc0\xaf"}', "not UTF-8"),
    ("cesu-surrogate-bytes", b'{"title": "\xed\xa0\x80"}', "not UTF-8"),
    # --- not JSON ---
    ("whitespace-only", b"   \n\t ", "not JSON"),
    ("plain-text", b"hello world", "not JSON"),
    ("truncated-object", b'{"title": "a"', "not JSON"),
    ("trailing-comma", b'{"title": "a",}', "not JSON"),
    ("single-quotes", b"{'title': 'a'}", "not JSON"),
    ("unquoted-key", b'{title: "a"}', "not JSON"),
    ("two-objects", msg() + msg(), "not JSON"),
    ("trailing-garbage", msg() + b"x", "not JSON"),
    ("utf8-bom", b"\xef\xbb\xbf" + msg(), "not JSON"),
    ("nan", raw_msg('"score": NaN'), "not JSON: NaN"),
    ("infinity", raw_msg('"score": Infinity'), "not JSON: Infinity"),
    ("minus-infinity", raw_msg('"score": -Infinity'), "not JSON: -Infinity"),
    ("huge-int-literal", raw_msg('"n": ' + "9" * 5000), "not JSON"),
    ("bad-escape", b'{"title": "\\q"}', "not JSON"),
    ("raw-control-char", b'{"title": "a\x01b"}', "not JSON"),
    ("raw-nul-byte", b'{"title": "a\x00b"}', "not JSON"),
    ("nul-outside-string", b"\x00", "not JSON"),
    ("comment", b'{"title": "a"} // hi', "not JSON"),
    ("deep-array-10000", nested(10_000), "not JSON: nested too deep"),
    ("deep-object-10000", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, "not JSON: nested too deep"),
    ("deep-unclosed-100000", b"[" * 100_000, "not JSON"),
    ("deep-in-field-10000", raw_msg('"x": ' + "[" * 10_000 + "]" * 10_000), "not JSON: nested too deep"),
    # --- JSON, but not an object ---
    ("array", b"[]", "not a JSON object: got array"),
    ("array-of-good", b"[" + msg() + b"]", "not a JSON object: got array"),
    ("number", b"42", "not a JSON object: got integer"),
    ("float", b"4.2", "not a JSON object: got number"),
    ("null", b"null", "not a JSON object: got null"),
    ("true", b"true", "not a JSON object: got boolean"),
    ("string", b'"title"', "not a JSON object: got string"),
    ("empty-object", b"{}", "title: missing"),
    # --- title ---
    ("title-missing", msg(title=DROP), "title: missing"),
    ("title-null", msg(title=None), "title: missing"),
    ("title-empty", msg(title=""), "title: empty"),
    ("title-spaces", msg(title="   "), "title: empty"),
    ("title-whitespace-mix", msg(title="\t\n\r "), "title: empty"),
    ("title-int", msg(title=1), "title: expected string, got integer"),
    ("title-float", msg(title=1.5), "title: expected string, got number"),
    ("title-bool", msg(title=True), "title: expected string, got boolean"),
    ("title-list", msg(title=["a"]), "title: expected string, got array"),
    ("title-object", msg(title={"en": "a"}), "title: expected string, got object"),
    ("title-nul", msg(title="Apple\x00"), "title: contains NUL"),
    ("title-only-nul", msg(title="\x00"), "title: contains NUL"),
    ("title-lone-surrogate", b'{"title": "a\\ud800", "published_at": "2024-05-01T12:00:00Z"}', "surrogate"),
    ("title-low-surrogate", b'{"title": "\\udc00", "published_at": "2024-05-01T12:00:00Z"}', "surrogate"),
    # --- published_at ---
    ("date-missing", msg(published_at=DROP), "published_at: missing"),
    ("date-null", msg(published_at=None), "published_at: missing"),
    ("date-empty", msg(published_at=""), "published_at: not ISO 8601"),
    ("date-spaces", msg(published_at="  "), "published_at: not ISO 8601"),
    ("date-int-epoch", msg(published_at=1714564800), "published_at: expected string, got integer"),
    ("date-float-epoch", msg(published_at=1714564800.5), "published_at: expected string, got number"),
    ("date-bool", msg(published_at=False), "published_at: expected string, got boolean"),
    ("date-list", msg(published_at=["2024-05-01"]), "published_at: expected string, got array"),
    ("date-object", msg(published_at={"ts": 1}), "published_at: expected string, got object"),
    ("date-naive", msg(published_at="2024-05-01T12:00:00"), "no UTC offset"),
    ("date-naive-space", msg(published_at="2024-05-01 12:00:00"), "no UTC offset"),
    ("date-naive-micro", msg(published_at="2024-05-01T12:00:00.123456"), "no UTC offset"),
    ("date-only", msg(published_at="2024-05-01"), "no UTC offset"),
    ("date-rfc2822", msg(published_at="Wed, 01 May 2024 12:00:00 +0000"), "published_at: not ISO 8601"),
    ("date-us-format", msg(published_at="05/01/2024 12:00 PM"), "published_at: not ISO 8601"),
    ("date-words", msg(published_at="yesterday"), "published_at: not ISO 8601"),
    ("date-month-13", msg(published_at="2024-13-01T00:00:00Z"), "published_at: not ISO 8601"),
    ("date-feb-30", msg(published_at="2024-02-30T00:00:00Z"), "published_at: not ISO 8601"),
    ("date-hour-25", msg(published_at="2024-05-01T25:00:00Z"), "published_at: not ISO 8601"),
    ("date-bad-offset", msg(published_at="2024-05-01T12:00:00+25:00"), "published_at: not ISO 8601"),
    ("date-double-zone", msg(published_at="2024-05-01T12:00:00+01:00Z"), "published_at: not ISO 8601"),
    ("date-zone-name", msg(published_at="2024-05-01T12:00:00 EST"), "published_at: not ISO 8601"),
    ("date-only-z", msg(published_at="Z"), "published_at: not ISO 8601"),
    ("date-year-9999", msg(published_at="9999-12-31T23:59:59Z"), "year 9999 outside 1970..2100"),
    ("date-year-1900", msg(published_at="1900-01-01T00:00:00Z"), "year 1900 outside 1970..2100"),
    ("date-year-0001", msg(published_at="0001-01-01T00:00:00+14:00"), "year 1 outside 1970..2100"),
    ("date-year-1969", msg(published_at="1969-12-31T23:59:59Z"), "year 1969 outside"),
    ("date-year-2101", msg(published_at="2101-01-01T00:00:00Z"), "year 2101 outside"),
    ("date-utc-before-1970", msg(published_at="1970-01-01T00:30:00+01:00"), "outside 1970..2100 (UTC)"),
    ("date-utc-after-2100", msg(published_at="2100-12-31T23:30:00-01:00"), "outside 1970..2100 (UTC)"),
    ("date-five-digit-year", msg(published_at="12024-05-01T12:00:00Z"), "published_at: not ISO 8601"),
    ("date-very-long", msg(published_at="2024-05-01T12:00:00" + "0" * 10_000 + "Z"), "longer than"),
    ("date-nul", msg(published_at="2024-05-01T12:00:00Z\x00"), "published_at: contains NUL"),
    # --- optional strings ---
    ("id-float", msg(id=1.5), "id: expected string or integer, got number"),
    ("id-bool", msg(id=True), "id: expected string or integer, got boolean"),
    ("id-list", msg(id=["a"]), "id: expected string or integer, got array"),
    ("id-object", msg(id={"v": 1}), "id: expected string or integer, got object"),
    ("id-nul", msg(id="a\x00"), "id: contains NUL"),
    ("url-int", msg(url=5), "url: expected string, got integer"),
    ("url-list", msg(url=["https://x"]), "url: expected string, got array"),
    ("url-bool", msg(url=False), "url: expected string, got boolean"),
    ("url-nul", msg(url="https://x/\x00"), "url: contains NUL"),
    ("body-int", msg(body=3), "body: expected string, got integer"),
    ("body-list", msg(body=["para 1", "para 2"]), "body: expected string, got array"),
    ("body-object", msg(body={"html": "<p>"}), "body: expected string, got object"),
    ("body-nul", msg(body="text\x00more"), "body: contains NUL"),
    ("body-surrogate", raw_msg('"body": "x\\udfff"'), "body: contains a lone surrogate"),
    ("source-int", msg(source=7), "source: expected string, got integer"),
    ("source-object", msg(source={"name": "Reuters"}), "source: expected string, got object"),
    ("source-nul", msg(source="Reu\x00ters"), "source: contains NUL"),
    ("lang-list", msg(lang=["en"]), "lang: expected string, got array"),
    ("lang-bool", msg(lang=True), "lang: expected string, got boolean"),
    ("lang-nul", msg(lang="en\x00"), "lang: contains NUL"),
    # --- tickers ---
    ("tickers-string", msg(tickers="AAPL"), "tickers: expected array of strings, got string"),
    ("tickers-object", msg(tickers={"AAPL": 1}), "tickers: expected array of strings, got object"),
    ("tickers-int", msg(tickers=5), "tickers: expected array of strings, got integer"),
    ("tickers-bool", msg(tickers=True), "tickers: expected array of strings, got boolean"),
    ("tickers-item-int", msg(tickers=["AAPL", 5]), "tickers[1]: expected string, got integer"),
    ("tickers-item-null", msg(tickers=[None]), "tickers[0]: expected string, got null"),
    ("tickers-item-list", msg(tickers=[["AAPL"]]), "tickers[0]: expected string, got array"),
    ("tickers-item-object", msg(tickers=[{"s": "AAPL"}]), "tickers[0]: expected string, got object"),
    ("tickers-item-empty", msg(tickers=[""]), "tickers[0]: empty"),
    ("tickers-item-dollar-only", msg(tickers=["$"]), "tickers[0]: empty"),
    ("tickers-item-spaces", msg(tickers=["  "]), "tickers[0]: empty"),
    ("tickers-item-17-chars", msg(tickers=["A" * 17]), "tickers[0]: longer than 16"),
    ("tickers-item-huge", msg(tickers=["A" * 100_000]), "tickers[0]: longer than 16"),
    ("tickers-item-inner-space", msg(tickers=["BRK B"]), "is not a ticker"),
    ("tickers-item-slash", msg(tickers=["BRK/B"]), "is not a ticker"),
    ("tickers-item-unicode", msg(tickers=["ÄPFEL"]), "is not a ticker"),
    ("tickers-item-eszett", msg(tickers=["ß"]), "is not a ticker"),
    ("tickers-item-double-dollar", msg(tickers=["$$AAPL"]), "is not a ticker"),
    ("tickers-item-nul", msg(tickers=["AA\x00PL"]), "tickers[0]: contains NUL"),
    ("tickers-101", msg(tickers=[f"T{i}" for i in range(101)]), "tickers: 101 items > 100"),
    # A million tickers do not even fit in 1 MB; see also test_million_tickers_rejected_by_count.
    ("tickers-million", msg(tickers=["AAPL"] * 1_000_000), "too large: 8"),
    # --- unknown fields ---
    ("extra-nul-value", msg(meta={"note": "a\x00"}), "meta.note: contains NUL"),
    ("extra-nul-key", msg(meta={"a\x00": 1}), "contains NUL"),
    ("extra-top-level-nul-key", msg(**{"x\x00": 1}), "contains NUL"),
    ("extra-nul-in-list", msg(tags=["ok", "b\x00d"]), "tags[1]: contains NUL"),
    ("extra-surrogate-key", raw_msg('"\\ud800": 1'), "surrogate"),
    ("extra-deep-100", raw_msg('"x": ' + "[" * 100 + "]" * 100), "nested deeper than 64"),
    ("extra-deep-objects", raw_msg('"x": ' + '{"a": ' * 80 + "1" + "}" * 80), "nested deeper than 64"),
]


def test_at_least_100_distinct_bad_cases() -> None:
    assert len(BAD) >= 100
    assert len({case_id for case_id, _, _ in BAD}) == len(BAD)
    assert len({raw for _, raw, _ in BAD}) == len(BAD)


@pytest.mark.parametrize(("raw", "expected"), [(r, e) for _, r, e in BAD], ids=[i for i, _, _ in BAD])
def test_bad_input_is_invalid_with_reason(raw: bytes | None, expected: str) -> None:
    result = decode(raw)
    assert isinstance(result, InvalidMessage), result
    assert expected in result.error
    assert "\n" not in result.error and len(result.error) < 200, "errors are short single lines"
    assert result.raw == (raw or b""), "the raw bytes travel to the dead letters unchanged"


def test_size_check_uses_max_bytes_and_comes_first() -> None:
    result = decode(b"\xff" * 11, max_bytes=10)
    assert isinstance(result, InvalidMessage)
    assert result.error == "too large: 11 bytes > 10"
    assert isinstance(decode(msg(), max_bytes=len(msg())), Article)


@pytest.mark.parametrize("item", ['"AAPL"', "1", "null"])
def test_million_tickers_rejected_by_count(item: str) -> None:
    raw = raw_msg('"tickers": [' + ",".join([item] * 1_000_000) + "]")
    result = decode(raw, max_bytes=len(raw))
    assert isinstance(result, InvalidMessage)
    assert result.error == "tickers: 1000000 items > 100"


def test_non_bytes_input_is_reported_not_raised() -> None:
    result = decode("{}")  # type: ignore[arg-type]
    assert isinstance(result, InvalidMessage)
    assert "expected bytes" in result.error
    assert isinstance(decode(bytearray(msg())), Article)  # type: ignore[arg-type]


# --- valid messages -------------------------------------------------------------------------------


def ok(raw: bytes) -> Article:
    result = decode(raw)
    assert isinstance(result, Article), result
    return result


def test_full_message_keeps_every_field() -> None:
    article = ok(
        msg(
            id="r-123",
            url="https://example.com/a",
            title="  Apple beats estimates  ",
            body="Shares of Apple rose.",
            source="Reuters",
            lang="en",
            tickers=["aapl", "$MSFT"],
            published_at="2024-05-01T14:30:15.250+02:00",
            sentiment_hint="positive",
            meta={"author": "J. Doe", "tags": ["earnings", 1, None, 2.5]},
        )
    )
    assert article.key == "id:r-123"
    assert article.id == "r-123"
    assert article.url == "https://example.com/a"
    assert article.title == "Apple beats estimates"
    assert article.body == "Shares of Apple rose."
    assert article.source == "Reuters"
    assert article.lang == "en"
    assert article.tickers == ("AAPL", "MSFT")
    assert article.published_at == datetime(2024, 5, 1, 12, 30, 15, 250_000, tzinfo=UTC)
    assert article.published_at.utcoffset() == timedelta(0)
    assert article.extra == {
        "sentiment_hint": "positive",
        "meta": {"author": "J. Doe", "tags": ["earnings", 1, None, 2.5]},
    }


def test_minimal_message_defaults() -> None:
    article = ok(msg())
    assert article.title == "Apple beats estimates"
    assert article.published_at == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert (article.id, article.url, article.body, article.source, article.lang) == (None,) * 5
    assert article.tickers == ()
    assert article.extra == {}


def test_nulls_and_blanks_count_as_absent() -> None:
    article = ok(msg(id=None, url="  ", body=None, source="", lang=None, tickers=None))
    assert (article.id, article.url, article.body, article.source, article.lang) == (None,) * 5
    assert article.tickers == ()
    assert article.key.startswith("sha256:")


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00z", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T08:00:00-04:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T17:30:00+05:30", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01 12:00:00+00:00", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("2024-05-01T12:00:00.5Z", datetime(2024, 5, 1, 12, 0, 0, 500_000, tzinfo=UTC)),
        ("  2024-05-01T12:00Z ", datetime(2024, 5, 1, 12, tzinfo=UTC)),
        ("1970-01-01T00:00:00Z", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2100-12-31T23:59:59Z", datetime(2100, 12, 31, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_published_at_forms(stamp: str, expected: datetime) -> None:
    article = ok(msg(published_at=stamp))
    assert article.published_at == expected
    assert article.published_at.tzinfo is UTC


def test_same_instant_any_offset_gives_same_key() -> None:
    a = ok(msg(published_at="2024-05-01T12:00:00Z", source="R"))
    b = ok(msg(published_at="2024-05-01T14:00:00+02:00", source="R"))
    assert a.key == b.key


def test_key_precedence_id_then_url_then_hash() -> None:
    assert ok(msg(id="x1", url="https://u")).key == "id:x1"
    assert ok(msg(id=42, url="https://u")).key == "id:42"
    assert ok(msg(id=42)).id == "42"
    assert ok(msg(url="https://u")).key == "url:https://u"
    expected = hashlib.sha256(b"Reuters|Apple beats estimates|2024-05-01T12:00:00+00:00").hexdigest()
    assert ok(msg(source="Reuters")).key == "sha256:" + expected
    no_source = hashlib.sha256(b"|Apple beats estimates|2024-05-01T12:00:00+00:00").hexdigest()
    assert ok(msg()).key == "sha256:" + no_source


def test_id_and_url_with_same_text_do_not_collide() -> None:
    assert ok(msg(id="abc")).key != ok(msg(url="abc")).key


def test_hash_key_depends_on_source_title_and_time() -> None:
    keys = {
        ok(msg()).key,
        ok(msg(source="Bloomberg")).key,
        ok(msg(title="Other")).key,
        ok(msg(published_at="2024-05-01T12:00:01Z")).key,
    }
    assert len(keys) == 4


def test_long_id_and_url_keys_are_hashed_to_a_bounded_length() -> None:
    long_url = "https://example.com/" + "a" * 5000
    key = ok(msg(url=long_url)).key
    assert key == "url-sha256:" + hashlib.sha256(long_url.encode()).hexdigest()
    assert len(ok(msg(id="é" * 1000)).key) <= MAX_KEY_CHARS
    assert ok(msg(url="https://example.com/" + "b" * 5000)).key != key


def test_tickers_normalised_and_deduplicated() -> None:
    article = ok(msg(tickers=[" aapl ", "$AAPL", "brk.b", "BRK.B", "$msft", "rds-a", "7203.T", "A" * 16]))
    assert article.tickers == ("AAPL", "BRK.B", "MSFT", "RDS-A", "7203.T", "A" * 16)


def test_exactly_100_tickers_is_fine() -> None:
    tickers = [f"T{i}" for i in range(100)]
    assert ok(msg(tickers=tickers)).tickers == tuple(tickers)


def test_cashtags_from_title_and_body_follow_explicit_tickers() -> None:
    article = ok(
        msg(
            title="$TSLA and $AAPL rally; $aapl is not a tag, nor $12",
            body="Also $BRK.B, $TSLA again, and $GOOGL. Costs US$5.",
            tickers=["msft", "AAPL"],
        )
    )
    assert article.tickers == ("MSFT", "AAPL", "TSLA", "BRK.B", "GOOGL")


def test_cashtags_alone() -> None:
    assert ok(msg(title="Why $NVDA fell")).tickers == ("NVDA",)
    assert ok(msg(title="Price $TOOLONGX")).tickers == ()


def test_many_cashtags_in_body_are_capped_not_rejected() -> None:
    body = " ".join(f"${chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(300))
    article = ok(msg(body=body))
    assert len(article.tickers) == 100


def test_unknown_fields_kept_verbatim() -> None:
    extra = {"score": 0.5, "flags": [True, False], "nested": {"a": {"b": [1, "two", None]}}, "empty": {}}
    assert ok(msg(**extra)).extra == extra


def test_body_whitespace_is_kept() -> None:
    assert ok(msg(body="  indented\n\ttext ")).body == "  indented\n\ttext "


def test_unicode_text_is_fine() -> None:
    article = ok(msg(title="日経平均が下落 📉", body="Zürich – €"))
    assert article.title == "日経平均が下落 📉"
    assert "日経平均" in article.text()


def test_moderate_nesting_in_extra_is_fine() -> None:
    assert isinstance(decode(raw_msg('"x": ' + "[" * 60 + "]" * 60)), Article)


def test_duplicate_json_keys_last_wins() -> None:
    raw = b'{"title": "first", "title": "second", "published_at": "2024-05-01T12:00:00Z"}'
    assert ok(raw).title == "second"


def test_offset_stays_aware_for_fixed_offset_inputs() -> None:
    article = ok(msg(published_at="2024-05-01T12:00:00+09:00"))
    assert article.published_at.astimezone(timezone(timedelta(hours=9))).hour == 12


# --- property tests: decode never raises ------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5)
    ),
    max_leaves=30,
)

message_like = st.fixed_dictionaries(
    {},
    optional={
        "title": json_values | st.text(max_size=40),
        "published_at": json_values
        | st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5)), None])).map(
            datetime.isoformat
        ),
        "id": json_values,
        "url": json_values,
        "body": json_values | st.text(max_size=80),
        "source": json_values,
        "lang": json_values,
        "tickers": json_values | st.lists(st.text(max_size=20), max_size=5),
    },
).flatmap(lambda d: st.dictionaries(st.text(max_size=8), json_values, max_size=3).map(lambda e: {**e, **d}))


def _check(result: Article | InvalidMessage) -> None:
    assert isinstance(result, Article | InvalidMessage)
    if isinstance(result, InvalidMessage):
        assert result.error and "\n" not in result.error
    else:
        assert result.title.strip() and result.published_at.tzinfo is not None
        assert 1970 <= result.published_at.year <= 2100
        assert len(result.key) <= MAX_KEY_CHARS


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    _check(decode(raw))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_never_raises_on_arbitrary_json(value: Any) -> None:
    _check(decode(json.dumps(value).encode()))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(message_like)
def test_never_raises_on_message_shaped_json(value: dict[str, Any]) -> None:
    _check(decode(json.dumps(value).encode()))
