"""Article data cannot steer Slack (issue 13, item 4).

Hostile titles, sources, urls, highlighted words and alert keys go into every message kind (fire, repeat,
resolve); what alerts.message builds and what the loopback Slack server receives (slack-sdk's real JSON) is
read the way Slack reads it: every `<...>` is a control sequence (mention, broadcast, channel, link), so the
only one allowed is a link to a validated http(s) article URL labelled with its own host. No text may start
a line of its own, hide behind bidi overrides or control characters, or exceed Block Kit's limits.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy.orm import Session, sessionmaker

from alerts import message
from alerts.job import run_detection
from alerts.slack import Delivered, DeliveryPolicy, SlackNotifier, deliver_due, make_client
from alerts.surge import Thresholds
from storage.db import make_engine, make_session_factory, upgrade
from storage.repository import store_batch
from tests.integration.test_alerts import item, steady
from tests.slack_server import SlackServer

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
KINDS = ("fire", "repeat", "resolve")
FORGED = "\n*Resolved* FORGED"

HOSTILE_TEXTS = [
    "https://news.example/a> <!channel> <https://evil.example/login|Reuters",
    "<!channel>", "<!here>", "<!everyone>", "<@U123>", "<#C123>", "<!subteam^S1>", "<!date^1392734382^x|y>",
    "&lt;!channel&gt;", "&amp;lt;!here&amp;gt;", "<https://evil.example/login|Reuters>", "<mailto:a@evil.example|x>",
    "@channel @here #general https://evil.example/bare",
    f"Bank fails{FORGED}", "line\r\n*Resolved*\u2028FORGED\u2029x\x85y", "tab\there\vvertical\fform",
    "\u202eevil\u202c \u2066iso\u2069 \u200btzero\u200b \ufeffbom \u00adshy", "NUL\x00here", "ESC\x1b[31mred",
    "A" * 10_000, "&" * 10_000, "<" * 5000, "😀\u200d🔥 emoji joiner", "`code` *bold* _it_ ~strike~ > quote",
]
HOSTILE_URLS = [
    "https://news.example/a> <!channel> <https://evil.example/login|Reuters", "javascript:alert(1)",
    "JavaScript:alert(1)", "data:text/html,<script>alert(1)</script>", "vbscript:x", "file:///etc/passwd",
    "//evil.example/x", "https://ok.example/a|b", "https://ok.example/a b", "https://ok.example/a\tb",
    "https://ok.example/a\nb", "https://ok.example/\u202etxt.exe", "https://ok.example/\x00", "https://ok.example/<x>",
    "https://bank.example@evil.example/login", "https://ok.example\\@evil.example/", "https://ok.example:99999/",
    "https://" + "a" * 5000 + ".example/", "https://ok.example/" + "&" * 1000, "http:///nohost", "<!here>",
    " https://ok.example/leading-space", "https://bücher.example/idn-host",
]
# (url, what the link must point to): accepted ones are normalised (scheme lower-cased, non-ASCII encoded)
GOOD_URLS = [
    ("https://news.example/a", "https://news.example/a"),
    ("HTTPS://ok.example/x", "https://ok.example/x"),
    ("http://ok.example/q?a=1&b=2#f", "http://ok.example/q?a=1&b=2#f"),
    ("https://ok.example/ü", "https://ok.example/%C3%BC"),
    ("https://xn--bcher-kva.example/", "https://xn--bcher-kva.example/"),
]
BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def payload(*, key: str = "CTSB", scope: str = "ticker", headlines: list[dict[str, Any]] | None = None,
            rule: str = "negative-surge-v1") -> dict[str, Any]:
    """The shape alerts.job.surge_payload writes into the outbox."""
    p: dict[str, Any] = {
        "rule": rule, "scope": scope, "key": key, "at": NOW.isoformat(),
        "window_start": (NOW - timedelta(hours=1)).isoformat(), "window_end": NOW.isoformat(),
        "negative": 20, "total": 25, "share": 0.8, "baseline": 0.25, "baseline_how": "hour_of_week",
        "expected_negative": 6.2, "odds_ratio": 12.0, "p_value": 1e-9, "p_adjusted": 1e-8,
        "headlines": headlines if headlines is not None else [headline()], "series": [],
    }
    return p


def headline(title: str = "Contoso Bank faces probe", url: str | None = "https://news.example/a",
             source: str | None = "wire-a", highlights: list[str] | None = None) -> dict[str, Any]:
    return {"title": title, "url": url, "source": source, "highlights": highlights or ["probe"],
            "p_negative": 0.93, "published_at": NOW.isoformat()}


# ------------------------------------------------------------------------------------------ the reading


def mrkdwn_texts(blocks: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for block in blocks:
        for obj in [block.get("text"), *block.get("fields", []), *block.get("elements", [])]:
            if isinstance(obj, dict) and obj.get("type") == "mrkdwn":
                yield obj


def all_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from all_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from all_strings(v)


def assert_control_sequences_are_only_links(text: str, allowed: set[str]) -> None:
    """Slack parses `<...>` before it decodes entities: each one must be <validated url|its host>."""
    for seq in re.findall(r"<([^<>]*)>", text):
        url, bar, label = seq.partition("|")
        url = url.replace("&amp;", "&")
        assert bar and url in allowed, f"control sequence <{seq}> in {text[:300]!r}"
        assert label == urlsplit(url).hostname, f"a link labelled {label!r} that goes to {url!r}"
    rest = re.sub(r"<[^<>]*>", "", text)
    assert "<" not in rest and ">" not in rest, f"a stray angle bracket in {text[:300]!r}"
    assert not re.search(r"&(?!amp;|lt;|gt;)", rest), f"an unescaped & in {text[:300]!r}"


def assert_harmless(blocks: list[dict[str, Any]], text: str, allowed: set[str], headlines: int) -> None:
    everything = [text, *all_strings(blocks)]
    for s in everything:
        for seq in ("<!", "<@", "<#", "<mailto", "<https://evil", "<javascript", "<JavaScript"):
            assert seq not in s, (seq, s[:300])
        assert not BIDI & set(s), s[:300]
        bad = [c for c in s if c != "\n" and unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp")]
        assert not bad, (bad, s[:300])
        for line in s.split("\n"):
            assert not line.lstrip().startswith("*Resolved*"), f"a forged line: {line[:200]!r}"
    assert_control_sequences_are_only_links(text, allowed)
    assert len(text) <= message.SECTION_CHARS
    for obj in mrkdwn_texts(blocks):
        assert obj.get("verbatim") is True, obj  # no auto-linking or @mention parsing of the data
        assert_control_sequences_are_only_links(obj["text"], allowed)
    for block in blocks:
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
            assert "\n" not in block["text"]["text"]
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
            if block["text"]["text"].startswith("*Top negative headlines*"):
                lines = block["text"]["text"].split("\n")
                assert 1 < len(lines) <= 1 + 2 * headlines
                assert all(line.startswith("• ") for line in lines[1::2]), lines  # one line per headline ...
                assert all(line.startswith("      ") for line in lines[2::2]), lines  # ... and its meta line
            else:
                assert "\n" not in block["text"]["text"]
        for f in block.get("fields", []):
            assert len(f["text"]) <= 2000 and f["text"].count("\n") == 1
        for e in block.get("elements", []):
            assert len(e["text"]) <= 3000 and "\n" not in e["text"]
    assert len(json.dumps(blocks)) < 16_000


def built(kind: str, p: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    return message.blocks(kind, p), message.slack_text(kind, p)


# ------------------------------------------------------------------------------------------ the builder


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", HOSTILE_TEXTS)
@pytest.mark.parametrize("field", ["title", "source", "highlights", "key", "topic_key", "rule", "baseline_how"])
def test_hostile_text_in_any_field_of_any_message(kind: str, value: str, field: str) -> None:
    h = headline()
    p = payload()
    if field == "title":
        h = headline(title=value, highlights=["probe", value[:30]])
    elif field == "source":
        h = headline(source=value)
    elif field == "highlights":
        h = headline(title=f"Contoso {value} probe", highlights=[value, value[:5], "probe", "amp", "lt", "&"])
    elif field == "key":
        p["key"] = value
    elif field == "topic_key":
        p["scope"], p["key"] = "topic", value
    else:
        p[field] = value
    p["headlines"] = [h]
    blocks, text = built(kind, p)
    assert_harmless(blocks, text, {"https://news.example/a"}, headlines=1)
    if kind != "resolve":  # the one legitimate link is still there
        assert "<https://news.example/a|news.example>" in json.dumps(blocks)


@pytest.mark.parametrize("kind", ["fire", "repeat"])
@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_hostile_url_gives_no_link(kind: str, url: str) -> None:
    blocks, text = built(kind, payload(headlines=[headline(url=url)]))
    assert_harmless(blocks, text, set(), headlines=1)
    assert message.safe_url(url) is None
    assert "Contoso Bank faces *probe*" in json.dumps(blocks)  # the headline itself stays


@pytest.mark.parametrize(("url", "target"), GOOD_URLS)
def test_a_good_url_is_linked_with_its_host(url: str, target: str) -> None:
    blocks, text = built("fire", payload(headlines=[headline(url=url)]))
    assert_harmless(blocks, text, {target}, headlines=1)
    host = urlsplit(target).hostname
    assert f"<{target.replace('&', '&amp;')}|{host}>" in json.dumps(blocks, ensure_ascii=False)


def test_the_double_escape_stays_text() -> None:
    # `&lt;!channel&gt;` in the data must show as those characters, not turn into <!channel> on decoding
    blocks, _ = built("fire", payload(headlines=[headline(title="&lt;!channel&gt; x", source="&lt;@U1&gt;")]))
    section = json.dumps(blocks)
    assert "&amp;lt;!channel&amp;gt; x" in section and "&amp;lt;@U1&amp;gt;" in section


def test_a_forged_line_stays_inside_its_headline() -> None:
    blocks, _ = built("fire", payload(headlines=[headline(title=f"Bank fails{FORGED}"), headline()]))
    lines = next(b for b in blocks if b.get("text", {}).get("text", "").startswith("*Top"))["text"]["text"]
    assert lines.split("\n")[1] == "• Bank fails *Resolved* FORGED"
    assert lines.count("\n") == 4


def test_ten_thousand_headlines_of_ten_kilobytes_stay_within_limits() -> None:
    many = [headline(title="&<>" * 3400, url="https://ok.example/" + "a" * 700, source="&" * 2000,
                     highlights=["&" * 50] * 50) for _ in range(10_000)]
    for kind in KINDS:
        blocks, text = built(kind, payload(key="K" * 10_000, headlines=many, rule="r" * 10_000))
        assert_harmless(blocks, text, {"https://ok.example/" + "a" * 700}, headlines=message.HEADLINES_SHOWN)


def test_highlighting_never_lands_inside_an_entity() -> None:
    text = message.highlighted("AT&T <b> & amp", ["amp", "T", "b", "&"])
    assert text == "AT&amp;*T* &lt;*b*&gt; *&amp;* *amp*"  # bold marks around entities, never inside


def test_console_text_is_one_clean_line_per_headline() -> None:
    text = message.console_text("fire", payload(key="K\nFORGED", headlines=[headline(title=f"x{FORGED}\x1b[2J")]))
    assert text.count("\n") == 1 and "\x1b" not in text and "FORGED" in text


# ------------------------------------------------------------------------------------------ through Slack


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    server = SlackServer().start()
    yield server
    server.stop()


def test_what_slack_receives_for_every_kind(slack: SlackServer) -> None:
    notifier = SlackNotifier(make_client("xoxb-t", slack.base_url, max_retries=1), "#news-alerts")
    values = HOSTILE_TEXTS + [f"{u}" for u in HOSTILE_URLS]
    headlines = [headline(title=v, url=u, source=v, highlights=[v, "probe"])
                 for v, u in zip(values, HOSTILE_URLS * 3, strict=False)]
    good = {target for _, target in GOOD_URLS}
    headlines += [headline(title=f"fine {i} <!here>", url=u) for i, (u, _) in enumerate(GOOD_URLS)]
    thread: Delivered | None = None
    sent = 0
    for start in range(0, len(headlines), message.HEADLINES_SHOWN):  # every hostile value gets shown once
        for kind in KINDS:
            p = payload(key="<!channel>" + FORGED, headlines=headlines[start:start + message.HEADLINES_SHOWN])
            if kind == "fire" and start == 0:
                p["series"] = [{"hour": (NOW - timedelta(hours=i)).isoformat(), "total": 5, "negative": 2,
                                "share": 0.4} for i in range(24, 0, -1)]
            delivered = notifier.send(kind, p, f"k{sent}", thread)
            thread = thread or delivered
            sent += 1
    posts = slack.posts()
    assert len(posts) == sent
    for post in posts:
        assert not post.get("link_names") and post.get("unfurl_links") is False
        assert isinstance(post["blocks"], list)
        assert_harmless(post["blocks"], post["text"], good, headlines=message.HEADLINES_SHOWN)
    shown = json.dumps([p["blocks"] for p in posts], ensure_ascii=False)
    for _, target in GOOD_URLS:
        assert f"<{target.replace('&', '&amp;')}|{urlsplit(target).hostname}>" in shown
    uploads = slack.calls("files.completeUploadExternal")
    assert uploads  # the chart went too, with a title that cannot mention anyone
    for s in all_strings([u.params for u in uploads]):
        assert "<!" not in s and "\n" not in s


def test_hostile_stories_stored_in_postgresql_reach_slack_harmless(
    pg_sessions: sessionmaker[Session], slack: SlackServer,
) -> None:
    """The whole way: stored articles -> detection -> outbox payload -> slack-sdk -> Slack."""
    base = steady()
    hostile = [
        item(len(base) + i, NOW - timedelta(minutes=50) + timedelta(minutes=2 * i), title, "negative",
             "Legal | Regulation", ("CTSB", "<!CHANNEL>"), ("probe", "<!here>"))
        for i, title in enumerate(t for t in HOSTILE_TEXTS * 2 if "\x00" not in t)  # PostgreSQL text: no NUL
    ][:20]
    urls = [u for u in HOSTILE_URLS if "\x00" not in u]
    hostile = [replace(s, article=replace(s.article, url=urls[i % len(urls)], source=HOSTILE_TEXTS[i % 10]))
               for i, s in enumerate(hostile)]
    with pg_sessions.begin() as session:
        store_batch(session, base + hostile)
    with pg_sessions.begin() as session:
        fired = run_detection(session, NOW, Thresholds())
    assert {(s.scope, s.key) for s, d in fired.decisions if d.action == "fire"} >= {("ticker", "<!CHANNEL>")}
    notifier = SlackNotifier(make_client("xoxb-t", slack.base_url, max_retries=1), "#news-alerts", chart=False)
    assert deliver_due(pg_sessions, notifier, NOW, DeliveryPolicy()).sent == len(fired.decisions)
    later = NOW + timedelta(hours=3)
    with pg_sessions.begin() as session:
        resolved = run_detection(session, later, Thresholds())
    assert resolved.count("resolve") == len(fired.decisions)
    assert deliver_due(pg_sessions, notifier, later, DeliveryPolicy()).sent == len(fired.decisions)
    posts = slack.posts()
    assert len(posts) == 2 * len(fired.decisions)
    for post in posts:
        # the only links: the ordinary stories' URLs (the market-wide alert shows some of them)
        assert_harmless(post["blocks"], post["text"], {f"https://news.example/{i}" for i in range(len(base))},
                        headlines=5)
    assert any("‹!CHANNEL›" in json.dumps(p["blocks"], ensure_ascii=False) for p in posts)  # shown, harmless


@pytest.fixture
def pg_sessions(pg_database_factory: Callable[[], str]) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(pg_database_factory())
    upgrade(engine)
    yield make_session_factory(engine)
    engine.dispose()
