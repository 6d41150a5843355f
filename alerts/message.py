"""An outbox payload rendered as Slack Block Kit, and as plain text for the log and the console."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

WHAT = {"market": "the whole market", "topic": "topic", "ticker": "ticker"}


def subject(p: dict[str, Any]) -> str:
    if p["scope"] == "market":
        return "the whole market"
    return f"{WHAT[p['scope']]} {p['key']}"


def _escape(text: str) -> str:
    # Slack's three control characters in mrkdwn.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    """The headline with its highlighted words in bold (mrkdwn), escaped."""
    text = _escape(title)
    for word in sorted({w for w in words if w.strip()}, key=len, reverse=True):
        text = re.sub(rf"(?<![\w*])({re.escape(_escape(word))})(?![\w*])", r"*\1*", text, flags=re.IGNORECASE)
    return text


def headline_line(h: dict[str, Any]) -> str:
    title = highlighted(h["title"], h.get("highlights", []))
    words = ", ".join(f"*{_escape(w)}*" for w in h.get("highlights", [])[:5])
    link = f"<{h['url']}|link>" if h.get("url") else ""
    meta = " · ".join(x for x in (_escape(h.get("source") or ""), f"p(neg) {h.get('p_negative', 0):.2f}", link) if x)
    return f"• {title}\n      {meta}" + (f" · words: {words}" if words else "")


def fallback_text(kind: str, p: dict[str, Any]) -> str:
    """The notification text (also what the log and console show without a token)."""
    if kind == "resolve":
        return (f"Resolved: negative news surge about {subject(p)} is over — now {p['negative']} of {p['total']} "
                f"negative ({p['share']:.0%}) vs baseline {p['baseline']:.0%}, window {window_text(p)}")
    prefix = "Still surging" if kind == "repeat" else "Negative news surge"
    return f"{prefix}: {subject(p)} — {numbers_text(p)}, window {window_text(p)}"


def blocks(kind: str, p: dict[str, Any]) -> list[dict[str, Any]]:
    if kind == "resolve":
        text = f":white_check_mark: {_escape(fallback_text(kind, p))}"
        return [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    title = ("Still surging: " if kind == "repeat" else "") + f"Negative news surge: {subject(p)}"
    out: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "fields": [
            {"type": "mrkdwn", "text": f"*Negative*\n{p['negative']} of {p['total']} stories ({p['share']:.0%})"},
            {"type": "mrkdwn", "text": f"*Baseline*\n{p['baseline']:.0%} ({p['baseline_how'].replace('_', ' ')}),"
                                       f" ≈{p['expected_negative']:.0f} expected"},
            {"type": "mrkdwn", "text": f"*Window*\n{window_text(p)}"},
            {"type": "mrkdwn", "text": f"*Evidence*\nodds ratio {p['odds_ratio']:.1f}, p = {p['p_value']:.2g} "
                                       f"(adjusted {p['p_adjusted']:.2g})"},
        ]},
    ]
    if p.get("headlines"):
        lines = "\n".join(headline_line(h) for h in p["headlines"])
        out += [{"type": "divider"},
                {"type": "section", "text": {"type": "mrkdwn", "text": f"*Top negative headlines*\n{lines}"[:3000]}}]
    out.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": f"rule `{p['rule']}` · detected {_hhmm(p['at'])} · bold words: what the model "
                                   "attended to"}]})
    return out


def console_text(kind: str, p: dict[str, Any]) -> str:
    lines = [fallback_text(kind, p)]
    if kind != "resolve":
        for h in p.get("headlines", []):
            words = ", ".join(h.get("highlights", [])[:5])
            lines.append(f"  - {h['title']}  [{h.get('source') or ''}]" + (f"  ({words})" if words else ""))
    return "\n".join(lines)
