"""An outbox payload rendered as Slack Block Kit, and as plain text for the log and the console.

Everything a payload carries from the news (titles, sources, urls, highlighted words, the ticker or topic an
alert is about) is data, never markup, whoever wrote it:
* `clean` makes it one bounded line of visible text: control characters and line breaks become spaces (a
  title cannot start a line of its own, "\\n*Resolved*"), bidi overrides and other invisible format characters
  go, long values are cut with "…";
* `escape` turns Slack's three control characters &, <, > into entities in every mrkdwn text, so no
  `<!channel>`, `<@U…>`, `<#C…>` or `<url|label>` can come from the data (an escaped `&lt;` stays text);
* `safe_url` keeps a link only for an http(s) URL without <, >, |, backslash, whitespace, control characters
  or user info, and the link is labelled with its host, so it cannot pose as another site;
* plain_text (the header) gets the clean text with < and > swapped for ‹ and ›;
* every mrkdwn object is `verbatim`: Slack does not turn bare URLs, #channel names or @mentions in the text
  into links or mentions (and the notifier never sets `link_names`);
* every text stays under Block Kit's limits (header 150, section 3000, field 2000 characters), so a
  10 KB title cannot make Slack refuse the alert.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

WHAT = {"market": "the whole market", "topic": "topic", "ticker": "ticker"}

HEADER_CHARS = 150  # Block Kit header text
SECTION_CHARS = 3000  # Block Kit section text
FIELD_CHARS = 2000  # Block Kit section field
KEY_CHARS = 100  # the ticker or topic an alert is about
TITLE_CHARS = 200
SOURCE_CHARS = 60
WORD_CHARS = 40
WORDS_SHOWN = 5
HEADLINES_SHOWN = 10
URL_CHARS = 800  # escaped; a longer URL gets no link
HOST_LABEL_CHARS = 60

_KEEP_FORMAT = {"\u200d"}  # zero-width joiner: part of emoji sequences, invisible and harmless
_HOST = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.?|[0-9a-f:.]*:[0-9a-f:.]*")
_URL_FORBIDDEN = set('<>|\\"`')  # mrkdwn link syntax, and characters browsers read differently than urlsplit


def clean(value: Any, limit: int) -> str:
    """One line of visible text of at most `limit` characters (see the module docstring)."""
    if value is None:
        return ""
    text = str(value)[: limit * 4 + 64]  # bound the work on a hostile size before looking at characters
    out = []
    for c in text:
        category = unicodedata.category(c)
        if c.isspace() or category in ("Cc", "Zl", "Zp"):
            out.append(" ")
        elif category == "Cf" and c not in _KEEP_FORMAT:
            continue  # bidi overrides and isolates, zero-width spaces, soft hyphens: they only disguise text
        elif category == "Cs":
            out.append("\ufffd")  # a lone surrogate cannot be encoded for Slack
        else:
            out.append(c)
    line = " ".join("".join(out).split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn, as entities."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mrkdwn(value: Any, limit: int) -> str:
    return escape(clean(value, limit))


def plain(value: Any, limit: int) -> str:
    """For plain_text objects and file titles: Slack does not parse them, but a literal `<!channel>` must not
    reach Slack anywhere, so angle brackets become look-alike quotation marks."""
    return clean(value, limit).replace("<", "‹").replace(">", "›")


def _text(text: str) -> dict[str, Any]:
    # verbatim: no auto-linking of bare URLs, #channels or @mentions in the data
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def safe_url(value: Any) -> tuple[str, str] | None:
    """(url, host) for a link, or None: no link at all rather than one the data could steer."""
    if not isinstance(value, str) or not value:
        return None
    for c in value:
        if c in _URL_FORBIDDEN or c.isspace() or unicodedata.category(c)[0] in "CZ":
            return None
    url = quote(value, safe="".join(chr(i) for i in range(0x21, 0x7F)))  # non-ASCII: percent-encoded
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or "@" in parts.netloc:  # user info: https://bank@evil
        return None
    host = (parts.hostname or "").lower()
    if not host or not _HOST.fullmatch(host):
        return None
    url = parts.scheme.lower() + url[len(parts.scheme):]
    if len(escape(url)) > URL_CHARS:
        return None
    return url, host


def _strings(value: Any, limit: int) -> list[str]:
    """A list of cleaned, non-empty strings from a payload value that should be one."""
    if not isinstance(value, list | tuple):
        return []
    return [s for s in (clean(v, limit) for v in value[:50] if isinstance(v, str)) if s]


def subject(p: dict[str, Any]) -> str:
    """What the alert is about, as clean text (not escaped)."""
    scope = p.get("scope")
    if scope == "market":
        return "the whole market"
    return f"{WHAT.get(str(scope), clean(scope, 20))} {clean(p.get('key'), KEY_CHARS)}"


def _hhmm(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")


def window_text(p: dict[str, Any]) -> str:
    end = datetime.fromisoformat(p["window_end"]).strftime("%H:%M UTC")
    return f"{_hhmm(p['window_start'])} – {end}"


def numbers_text(p: dict[str, Any]) -> str:
    return (f"{p['negative']} of {p['total']} stories negative ({p['share']:.0%}) vs baseline "
            f"{p['baseline']:.0%} (≈{p['expected_negative']:.0f} expected); odds ratio {p['odds_ratio']:.1f}, "
            f"p = {p['p_value']:.2g}")


def highlighted(title: str, words: list[str]) -> str:
    """The (clean) headline escaped, with its highlighted words in bold. Matches are found in the text itself
    and each piece is escaped on its own, so bold marks never land inside an entity such as &amp;."""
    distinct = sorted({w for w in words if w}, key=len, reverse=True)
    if not distinct:
        return escape(title)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, distinct)) + r")(?!\w)", re.IGNORECASE)
    out, pos = [], 0
    for m in pattern.finditer(title):
        out += [escape(title[pos:m.start()]), f"*{escape(m.group())}*"]
        pos = m.end()
    out.append(escape(title[pos:]))
    return "".join(out)


def headline_line(h: dict[str, Any], with_words: bool = True) -> str:
    words = _strings(h.get("highlights"), WORD_CHARS)
    title = highlighted(clean(h.get("title"), TITLE_CHARS), words)
    link = safe_url(h.get("url"))
    meta = " · ".join(x for x in (
        mrkdwn(h.get("source"), SOURCE_CHARS),
        f"p(neg) {float(h.get('p_negative') or 0):.2f}",
        f"<{escape(link[0])}|{escape(clean(link[1], HOST_LABEL_CHARS))}>" if link else "",
    ) if x)
    shown = ", ".join(f"*{escape(w)}*" for w in words[:WORDS_SHOWN]) if with_words else ""
    return f"• {title}\n      {meta}" + (f" · words: {shown}" if shown else "")


def headlines_text(headlines: Any) -> str:
    """The headlines section, within Block Kit's limit: whole lines only (a cut could split a link)."""
    text = "*Top negative headlines*"
    items = [h for h in headlines[:HEADLINES_SHOWN] if isinstance(h, dict)] if isinstance(headlines, list) else []
    for h in items:
        for line in (headline_line(h), headline_line(h, with_words=False)):
            if len(text) + 1 + len(line) <= SECTION_CHARS:
                text += "\n" + line
                break
        else:
            break
    return text


def fallback_text(kind: str, p: dict[str, Any]) -> str:
    """The notification text, clean but not escaped (console_text and the log show it as it is)."""
    if kind == "resolve":
        return (f"Resolved: negative news surge about {subject(p)} is over — now {p['negative']} of {p['total']} "
                f"negative ({p['share']:.0%}) vs baseline {p['baseline']:.0%}, window {window_text(p)}")
    prefix = "Still surging" if kind == "repeat" else "Negative news surge"
    return f"{prefix}: {subject(p)} — {numbers_text(p)}, window {window_text(p)}"


def slack_text(kind: str, p: dict[str, Any]) -> str:
    """chat.postMessage's top-level `text` (notifications, and clients without blocks): Slack parses it as
    mrkdwn too, so it is escaped."""
    return escape(fallback_text(kind, p))[:SECTION_CHARS]


def blocks(kind: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "resolve":
        return [{"type": "section", "text": _text(f":white_check_mark: {slack_text(kind, p)}")}]
    title = ("Still surging: " if kind == "repeat" else "") + f"Negative news surge: {subject(p)}"
    how = mrkdwn(str(p.get("baseline_how") or "").replace("_", " "), 100)
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": plain(title, HEADER_CHARS), "emoji": False}},
        {"type": "section", "fields": [_text(t[:FIELD_CHARS]) for t in (
            f"*Negative*\n{p['negative']} of {p['total']} stories ({p['share']:.0%})",
            f"*Baseline*\n{p['baseline']:.0%} ({how}), ≈{p['expected_negative']:.0f} expected",
            f"*Window*\n{window_text(p)}",
            f"*Evidence*\nodds ratio {p['odds_ratio']:.1f}, p = {p['p_value']:.2g} (adjusted {p['p_adjusted']:.2g})",
        )]},
    ]
    if p.get("headlines"):
        out += [{"type": "divider"}, {"type": "section", "text": _text(headlines_text(p["headlines"]))}]
    out.append({"type": "context", "elements": [
        _text(f"rule `{mrkdwn(p.get('rule'), 60)}` · detected {_hhmm(p['at'])} · bold words: what the model "
              "attended to")]})
    return out


def chart_title(p: dict[str, Any]) -> str:
    """The chart's title: matplotlib reads $...$ as math, so a literal $ is escaped for it."""
    return f"Negative share, last 24 h: {subject(p)}".replace("$", r"\$")


def console_text(kind: str, p: dict[str, Any]) -> str:
    """For the log and the terminal: clean (no control characters reach either), not escaped."""
    lines = [fallback_text(kind, p)]
    if kind != "resolve":
        headlines = p.get("headlines")
        for h in [h for h in headlines[:HEADLINES_SHOWN] if isinstance(h, dict)] if isinstance(headlines, list) else []:
            words = ", ".join(_strings(h.get("highlights"), WORD_CHARS)[:WORDS_SHOWN])
            lines.append(f"  - {clean(h.get('title'), TITLE_CHARS)}  [{clean(h.get('source'), SOURCE_CHARS)}]"
                         + (f"  ({words})" if words else ""))
    return "\n".join(lines)
