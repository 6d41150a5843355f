"""A generated stream of financial headlines for the demo, tests and benchmarks.

The project's own templates about fictional companies (no third-party text, and no invented news
about real firms). Sentiment and topic are implied by the template only so the demo reads
naturally; nothing in the product uses these hints: the model classifies the text.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

COMPANIES = [
    ("Northwind Energy", "NWE"), ("Contoso Bank", "CTSB"), ("Fabrikam Motors", "FBKM"),
    ("Tailspin Airlines", "TSPN"), ("Litware Software", "LTWR"), ("Adatum Pharma", "ADTM"),
    ("Woodgrove Financial", "WGFN"), ("Proseware Semiconductors", "PRSW"), ("Fourth Coffee", "FRTH"),
    ("Lucerne Insurance", "LCRN"), ("Margie Travel", "MRGT"), ("Alpine Mining", "ALPM"),
    ("Coho Retail", "COHO"), ("Trey Telecom", "TREY"), ("Wingtip Gold", "WGTP"), ("Blue Yonder Rail", "BYRL"),
]
SOURCES = ["wire-a", "wire-b", "daily-markets", "fin-blog", "exchange-feed"]
PEOPLE = ["chief executive", "chief financial officer", "chair", "head of trading"]
NEGATIVE = [
    "{c} shares plunge {p}% after profit warning",
    "{c} misses quarterly earnings estimates, cuts full-year outlook",
    "{c} faces regulator probe over accounting irregularities",
    "{c} slashes dividend as cash flow dries up",
    "{c} downgraded to sell by analysts citing weak demand",
    "{c} recalls vehicles over safety defect, stock slides",
    "{c} bonds tumble as credit rating cut to junk",
    "{c} {r} resigns amid fraud investigation",
    "{c} to lay off {n} workers as sales collapse",
    "{c} hit with lawsuit over failed merger, shares sink",
    "{c} IPO pulled after weak investor demand",
    "Oil spill halts {c} production; losses expected to mount",
]
POSITIVE = [
    "{c} shares jump {p}% after record quarterly profit",
    "{c} beats earnings estimates and raises guidance",
    "{c} raises dividend by {p}% on strong cash flow",
    "{c} upgraded to buy as demand accelerates",
    "{c} wins major contract, stock rallies",
    "{c} agrees to acquire rival in deal that lifts shares",
    "{c} announces share buyback of {n} million dollars",
    "{c} prices IPO above range on strong demand",
]
NEUTRAL = [
    "{c} to report quarterly results on Thursday",
    "{c} names new {r}",
    "{c} schedules annual shareholder meeting",
    "{c} completes previously announced bond offering",
    "{c} holds investor day, reiterates targets",
    "Central bank leaves rates unchanged; {c} among stocks to watch",
    "{c} opens new office in Singapore",
    "Treasury yields steady ahead of jobs data",
]
MARKET_NEGATIVE = [
    "Stocks tumble as recession fears grip markets",
    "Global selloff deepens as bank contagion fears spread",
    "Markets slide after inflation surprise; yields spike",
]


def _fill(template: str, rng: random.Random) -> tuple[str, list[str]]:
    name, ticker = rng.choice(COMPANIES)
    title = template.format(c=name, p=rng.randint(3, 25), n=rng.randint(2, 20) * 100, r=rng.choice(PEOPLE))
    return title, ([ticker] if "{c}" in template else [])


def generate(
    n: int,
    seed: int = 7,
    start: datetime | None = None,
    spacing: timedelta = timedelta(seconds=30),
    negative_share: float = 0.25,
) -> Iterator[dict[str, Any]]:
    """n valid news messages (DESIGN §3 schema), published `spacing` apart from `start`."""
    rng = random.Random(seed)
    t = start or datetime.now(UTC) - n * spacing
    for i in range(n):
        roll = rng.random()
        if roll < negative_share:
            template = rng.choice(NEGATIVE + MARKET_NEGATIVE[:1])
        elif roll < negative_share + 0.3:
            template = rng.choice(POSITIVE)
        else:
            template = rng.choice(NEUTRAL)
        title, tickers = _fill(template, rng)
        source = rng.choice(SOURCES)
        yield {
            "id": f"gen-{seed}-{i}",
            "title": title,
            "published_at": (t + i * spacing).isoformat(),
            "source": source,
            "url": f"https://{source}.example/news/{seed}/{i}",
            "tickers": tickers,
            "lang": "en",
        }


INVALID_SAMPLES: list[bytes] = [
    b"\xff\xfe not utf-8",
    b"{not json",
    b"[1, 2, 3]",
    json.dumps({"title": "", "published_at": "2026-01-01T00:00:00+00:00"}).encode(),
    json.dumps({"title": "No date on this one"}).encode(),
    json.dumps({"title": "Naive date", "published_at": "2026-01-01 10:00"}).encode(),
    json.dumps({"title": 42, "published_at": "2026-01-01T00:00:00+00:00"}).encode(),
]
