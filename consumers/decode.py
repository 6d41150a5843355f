"""Kafka message value (bytes) -> `Article`, or `InvalidMessage` with a one-line reason (DESIGN §3).

`decode` never raises: whatever a scraper publishes, the stream goes on and the bad message goes to the
dead letters with its reason. Checks run cheapest first (size before UTF-8 before JSON), so a hostile
message costs little.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from consumers.article import Article

MAX_TICKERS = 100
MAX_TICKER_CHARS = 16
# Unknown fields are kept and later stored as JSON; a depth cap keeps every later json.dumps, and
# PostgreSQL's recursive JSON parser, far from their recursion limits.
MAX_DEPTH = 64
# The key ends up in a unique index; PostgreSQL's btree rejects entries above ~2700 bytes.
# Longer ids/urls are hashed instead (still unique, still deterministic).
MAX_KEY_CHARS = 256
MAX_DATE_CHARS = 64  # generous for ISO 8601; stops fromisoformat being fed megabytes
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2101, 1, 1, tzinfo=UTC)  # exclusive: years 1970..2100 are valid

TICKER_RE = re.compile(r"[A-Z0-9.\-]{1,16}")
CASHTAG_RE = re.compile(r"\$([A-Z]{1,6}(?:\.[A-Z]{1,2})?)\b")

KNOWN_FIELDS = frozenset({"id", "url", "title", "body", "source", "lang", "tickers", "published_at"})


@dataclass(frozen=True, slots=True)
class InvalidMessage:
    """A message that failed validation: the raw bytes (for the dead letters) and a one-line reason."""

    raw: bytes
    error: str


class _Invalid(Exception):
    """Internal: carries the one-line reason out of nested checks."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def _short(text: str, limit: int = 40) -> str:
    """repr() of text, cut so an error message stays one short line."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _reject_constant(name: str) -> Any:
    # NaN / Infinity are not JSON (RFC 8259) and PostgreSQL's jsonb refuses them.
    raise ValueError(f"{name} is not allowed")


_PLAIN_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,39}")
MAX_PATH_CHARS = 60


def _child_path(parent: str, key: str) -> str:
    """`meta.author` for plain keys; anything else is repr()'d so the error stays one printable line."""
    if _PLAIN_KEY_RE.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    return f"{parent}[{_short(key, 20)}]"


def _where(path: str) -> str:
    if not path:
        return "value"
    return path if len(path) <= MAX_PATH_CHARS else path[: MAX_PATH_CHARS - 3] + "..."


def _check_tree(obj: dict[str, Any]) -> None:
    """Reject NUL characters, lone surrogates and excessive depth anywhere (keys included).

    Iterative on purpose: a recursive walk could itself hit the recursion limit on input that
    json.loads accepted. Paths are formatted only on error, so a long flat list costs no allocations.
    """
    stack: list[tuple[dict[str, Any] | list[Any], str, int]] = [(obj, "", 0)]
    while stack:
        container, path, depth = stack.pop()
        if depth >= MAX_DEPTH:
            raise _Invalid(f"{_where(path)}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(container, dict):
            for k, v in container.items():
                if (problem := _string_problem(k)) is not None:
                    raise _Invalid(f"{_where(path) if path else 'object'}: key {_short(k, 20)}: {problem}")
                if isinstance(v, str):
                    if (problem := _string_problem(v)) is not None:
                        raise _Invalid(f"{_where(_child_path(path, k))}: {problem}")
                elif isinstance(v, dict | list):
                    stack.append((v, _child_path(path, k), depth + 1))
        else:
            for i, v in enumerate(container):
                if isinstance(v, str):
                    if (problem := _string_problem(v)) is not None:
                        raise _Invalid(f"{_where(f'{path}[{i}]')}: {problem}")
                elif isinstance(v, dict | list):
                    stack.append((v, f"{path}[{i}]", depth + 1))


def _string_problem(text: str) -> str | None:
    # PostgreSQL text cannot hold NUL.
    if "\x00" in text:
        return "contains NUL character"
    # JSON "\ud800" decodes to a lone surrogate, which no database driver can encode as UTF-8.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def _optional_str(obj: dict[str, Any], name: str, *, strip: bool = True) -> str | None:
    """A string-or-null field; blank strings count as absent (they must not become keys like 'id:')."""
    value = obj.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Invalid(f"{name}: expected string, got {_type_name(value)}")
    if strip:
        value = value.strip()
        return value or None
    return value


def _id(obj: dict[str, Any]) -> str | None:
    value = obj.get("id")
    # bool is an int subclass, but `true` is no id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if value is not None and not isinstance(value, str):
        raise _Invalid(f"id: expected string or integer, got {_type_name(value)}")
    return _optional_str(obj, "id")


def _title(obj: dict[str, Any]) -> str:
    if "title" not in obj or obj["title"] is None:
        raise _Invalid("title: missing")
    value = obj["title"]
    if not isinstance(value, str):
        raise _Invalid(f"title: expected string, got {_type_name(value)}")
    value = value.strip()
    if not value:
        raise _Invalid("title: empty")
    return value


def _published_at(obj: dict[str, Any]) -> datetime:
    if "published_at" not in obj or obj["published_at"] is None:
        raise _Invalid("published_at: missing")
    value = obj["published_at"]
    if not isinstance(value, str):
        raise _Invalid(f"published_at: expected string, got {_type_name(value)}")
    text = value.strip()
    if len(text) > MAX_DATE_CHARS:
        raise _Invalid(f"published_at: not ISO 8601 with offset (longer than {MAX_DATE_CHARS} chars)")
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except (ValueError, TypeError, OverflowError):
        raise _Invalid(f"published_at: not ISO 8601 with offset: {_short(value)}") from None
    try:
        offset = parsed.utcoffset()
    except (ValueError, OverflowError):  # defensive: fromisoformat only builds fixed offsets
        offset = None
    if offset is None:
        raise _Invalid(f"published_at: not ISO 8601 with offset (no UTC offset): {_short(value)}")
    # Check the local year first: converting year 1 or 9999 to UTC could overflow.
    if not 1970 <= parsed.year <= 2100:
        raise _Invalid(f"published_at: year {parsed.year} outside 1970..2100")
    utc = parsed.astimezone(UTC)
    if not EARLIEST <= utc < LATEST:
        raise _Invalid(f"published_at: {utc.isoformat()} outside 1970..2100 (UTC)")
    # Stored in UTC so the same instant always gives the same key, whatever offset the scraper used.
    return utc


def _explicit_tickers(obj: dict[str, Any]) -> list[str]:
    value = obj.get("tickers")
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Invalid(f"tickers: expected array of strings, got {_type_name(value)}")
    # Length first: a million-element list is rejected without looking at its items.
    if len(value) > MAX_TICKERS:
        raise _Invalid(f"tickers: {len(value)} items > {MAX_TICKERS}")
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise _Invalid(f"tickers[{i}]: expected string, got {_type_name(item)}")
        ticker = item.strip()
        if ticker.startswith("$"):
            ticker = ticker[1:]
        if not ticker:
            raise _Invalid(f"tickers[{i}]: empty")
        if len(ticker) > MAX_TICKER_CHARS:
            raise _Invalid(f"tickers[{i}]: longer than {MAX_TICKER_CHARS} chars")
        # ASCII before upper(): 'ß'.upper() == 'SS' would otherwise turn into a ticker.
        ticker = ticker.upper() if ticker.isascii() else ticker
        if not TICKER_RE.fullmatch(ticker):
            raise _Invalid(f"tickers[{i}]: {_short(item)} is not a ticker ([A-Z0-9.-]{{1,16}})")
        out.append(ticker)
    return out


def _with_cashtags(explicit: list[str], *texts: str | None) -> tuple[str, ...]:
    """Explicit tickers first, then $CASHTAGS from the texts; deduplicated, order kept.

    Cashtags are our own best-effort extraction, so a body full of them is capped silently rather than
    rejected; only the sender's explicit list is held to the limit.
    """
    seen = dict.fromkeys(explicit)
    for text in texts:
        if not text:
            continue
        for match in CASHTAG_RE.finditer(text):
            if len(seen) >= MAX_TICKERS:
                return tuple(seen)
            seen.setdefault(match.group(1))
    return tuple(seen)


def _bounded(prefix: str, value: str) -> str:
    key = f"{prefix}:{value}"
    if len(key) <= MAX_KEY_CHARS:
        return key
    return f"{prefix}-sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()


def idempotency_key(
    id_: str | None, url: str | None, source: str | None, title: str, published_at: datetime
) -> str:
    """`id:<id>`, else `url:<url>`, else `sha256:<hex of source|title|published_at>`.

    The prefixes keep an id from colliding with a url that happens to be the same text.
    """
    if id_ is not None:
        return _bounded("id", id_)
    if url is not None:
        return _bounded("url", url)
    basis = f"{source or ''}|{title}|{published_at.isoformat()}"
    return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()


# One decoder for every message: json.loads(..., parse_constant=...) would build a new one per call.
_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _may_need_tree_check(raw: bytes) -> bool:
    """False when `_check_tree` provably has nothing to find, which skips a third of decoding's time.

    A NUL or a lone surrogate can only reach a decoded string through a \\u escape: strict JSON rejects raw
    control characters and strict UTF-8 rejects encoded surrogates. Nesting cannot be deeper than the number
    of opening brackets. Both counts are C-speed byte scans; an ordinary news message has two brackets and
    no \\u, and anything else still gets the full walk.
    """
    return b"\\u" in raw or raw.count(b"{") + raw.count(b"[") >= MAX_DEPTH


def _parse(raw: bytes, max_bytes: int) -> Article:
    if len(raw) > max_bytes:
        raise _Invalid(f"too large: {len(raw)} bytes > {max_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _Invalid(f"not UTF-8: {exc.reason} at byte {exc.start}") from None
    try:
        obj = _JSON.decode(text)
    except RecursionError:
        raise _Invalid("not JSON: nested too deep") from None
    except json.JSONDecodeError as exc:
        raise _Invalid(f"not JSON: {exc.msg} (line {exc.lineno} column {exc.colno})") from None
    except ValueError as exc:  # NaN/Infinity, or an integer beyond Python's digit limit
        raise _Invalid(f"not JSON: {str(exc).splitlines()[0][:80]}") from None
    if not isinstance(obj, dict):
        raise _Invalid(f"not a JSON object: got {_type_name(obj)}")
    if _may_need_tree_check(raw):
        _check_tree(obj)

    title = _title(obj)
    published_at = _published_at(obj)
    id_ = _id(obj)
    url = _optional_str(obj, "url")
    body = _optional_str(obj, "body", strip=False)
    source = _optional_str(obj, "source")
    lang = _optional_str(obj, "lang")
    tickers = _with_cashtags(_explicit_tickers(obj), title, body)
    extra = {k: v for k, v in obj.items() if k not in KNOWN_FIELDS}
    return Article(
        key=idempotency_key(id_, url, source, title, published_at),
        title=title,
        published_at=published_at,
        id=id_,
        url=url,
        body=body,
        source=source,
        lang=lang,
        tickers=tickers,
        extra=extra,
    )


def decode(raw: bytes | None, *, max_bytes: int = 1_000_000) -> Article | InvalidMessage:
    """Validate one Kafka message value. Never raises; a bad message comes back as InvalidMessage."""
    if raw is None:  # a Kafka tombstone: a delete marker for its key on a compacted topic, no article
        return InvalidMessage(b"", "tombstone: null value (no article to classify)")
    if not isinstance(raw, bytes):
        # Kafka hands us bytes; anything else is a caller's bug, reported rather than raised.
        if not isinstance(raw, bytearray | memoryview):
            return InvalidMessage(b"", f"expected bytes, got {type(raw).__name__}")
        raw = bytes(raw)
    if not raw:
        return InvalidMessage(b"", "empty message")
    try:
        return _parse(raw, max_bytes)
    except _Invalid as exc:
        return InvalidMessage(raw, str(exc))
    except RecursionError:  # belt and braces: the C JSON scanner is the only recursive step
        return InvalidMessage(raw, "not JSON: nested too deep")
