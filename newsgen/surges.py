"""Generated weeks of seasonal news with known injected surges and volume bursts: the ground truth that the
surge detector's goals are measured against (tests, `bench/alerts.py`), and the demo's surge.

Volume follows the trading week (quiet nights and weekends, a ramp into the European morning, a spike at
the US open); topics and tickers keep their usual mix and their own negative shares. A *surge* adds
negative stories about one key (the market, a topic or a ticker) at `factor - 1` times the key's usual
negative rate, and at least `min_extra_per_hour` of them: a "surge" of two stories about a quiet ticker is
not one anybody could detect (the detector needs `MONITOR_ALERT_MIN_NEGATIVE`). A *burst* multiplies all
volume with the usual mix, which must not alert. Some stories are re-published by a second outlet under the
same headline (different case and punctuation), which must count once.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from model.prediction import Prediction
from newsgen.headlines import COMPANIES, NEGATIVE, NEUTRAL, POSITIVE, SOURCES
from storage.alerts_repo import Story

# The shipped model's 20 topics, with a share of the flow and a usual negative share each.
TOPICS: dict[str, tuple[float, float]] = {
    "Analyst Update": (0.06, 0.30), "Fed | Central Banks": (0.05, 0.25), "Company | Product News": (0.08, 0.15),
    "Treasuries | Corporate Debt": (0.04, 0.25), "Dividend": (0.03, 0.10), "Earnings": (0.10, 0.30),
    "Energy | Oil": (0.05, 0.30), "Financials": (0.06, 0.25), "Currencies": (0.04, 0.25),
    "General News | Opinion": (0.08, 0.25), "Gold | Metals | Materials": (0.03, 0.20), "IPO": (0.02, 0.20),
    "Legal | Regulation": (0.04, 0.50), "M&A | Investments": (0.05, 0.15), "Macro": (0.06, 0.30),
    "Markets": (0.07, 0.30), "Politics": (0.04, 0.35), "Personnel Change": (0.03, 0.20),
    "Stock Commentary": (0.03, 0.25), "Stock Movement": (0.04, 0.35),
}
TICKER_SHARE = 0.5  # stories that name a company
DUPLICATE_SHARE = 0.05  # stories a second outlet re-publishes


@dataclass(frozen=True, slots=True)
class Injected:
    """A known event: scope 'market' | 'topic' | 'ticker' | 'burst' (volume with the usual mix)."""

    scope: str
    key: str
    start: datetime
    duration: timedelta = timedelta(hours=1)
    factor: float = 3.0

    @property
    def end(self) -> datetime:
        return self.start + self.duration


@dataclass
class Generated:
    messages: list[dict[str, Any]] = field(default_factory=list)  # DESIGN §3 messages
    labels: dict[str, tuple[str, str]] = field(default_factory=dict)  # title -> (topic, sentiment)
    injected: list[Injected] = field(default_factory=list)

    def stories(self) -> list[Story]:
        """As detection reads them from the database, with the labels as the model's answer."""
        out = []
        for m in self.messages:
            topic, sentiment = self.labels[m["title"]]
            out.append(Story(datetime.fromisoformat(m["published_at"]), m["title"], topic, sentiment,
                             tuple(m.get("tickers", ())), m.get("url"), m.get("source"),
                             _highlights(m["title"], sentiment), 0.9 if sentiment == "negative" else 0.05))
        return out


def hourly_rate(t: datetime, busy_per_hour: float) -> float:
    """Stories per hour at `t` (UTC) on the trading week's shape."""
    if t.weekday() >= 5:
        return 0.08 * busy_per_hour
    h = t.hour + t.minute / 60
    if h < 6:
        shape = 0.1
    elif h < 12:
        shape = 0.45
    elif h < 13.5:
        shape = 0.6
    elif h < 14.5:
        shape = 1.0  # the US open: the busiest hour of the day, with the usual mix
    elif h < 20:
        shape = 0.65
    else:
        shape = 0.25
    return shape * busy_per_hour


def generate_weeks(
    start: datetime,
    weeks: float = 1,
    *,
    seed: int = 1,
    busy_per_hour: float = 300,
    injected: Sequence[Injected] = (),
    min_extra_per_hour: float = 10,
) -> Generated:
    """Seasonal news from `start` for `weeks`, minute by minute, with the `injected` events."""
    rng = random.Random(seed)
    out = Generated(injected=list(injected))
    topics = list(TOPICS)
    topic_weights = [TOPICS[x][0] for x in topics]
    ticker_weights = _ticker_weights()
    total_weight = sum(ticker_weights)
    minutes = int(weeks * 7 * 24 * 60)
    for m in range(minutes):
        t = start + timedelta(minutes=m)
        rate = hourly_rate(t, busy_per_hour) / 60
        for ev in injected:
            if ev.scope == "burst" and ev.start <= t < ev.end:
                rate *= ev.factor
        for _ in range(_poisson(rng, rate)):
            topic = rng.choices(topics, topic_weights)[0]
            negative = rng.random() < TOPICS[topic][1]
            company = rng.choices(range(len(COMPANIES)), ticker_weights)[0] if rng.random() < TICKER_SHARE else None
            _add(out, rng, t, topic, negative, company)
        for ev in injected:
            if ev.scope != "burst" and ev.start <= t < ev.end:
                base = _base_negative_rate(ev, t, busy_per_hour, ticker_weights, total_weight)
                extra = max((ev.factor - 1) * base, min_extra_per_hour) / 60
                for _ in range(_poisson(rng, extra)):
                    topic = ev.key if ev.scope == "topic" else rng.choices(topics, topic_weights)[0]
                    company = (_company_index(ev.key) if ev.scope == "ticker"
                               else rng.choices(range(len(COMPANIES)), ticker_weights)[0])
                    _add(out, rng, t, topic, True, company)
    return out


def _ticker_weights() -> list[float]:
    return [1 / (i + 1) for i in range(len(COMPANIES))]  # a few companies dominate the news


def expected_baseline(surge: Injected, busy_per_hour: float) -> float:
    """Negative stories about the surge's key that its span holds on average without the surge: the
    generator's usual negative rate of the key, integrated minute by minute over the surge as
    `generate_weeks` draws it (a burst overlapping the surge is not counted in: the key's baseline is its
    usual rate)."""
    weights = _ticker_weights()
    total = sum(weights)
    minutes = int(surge.duration.total_seconds() // 60)
    return sum(_base_negative_rate(surge, surge.start + timedelta(minutes=m), busy_per_hour, weights, total)
               for m in range(minutes)) / 60


def _base_negative_rate(ev: Injected, t: datetime, busy: float, ticker_weights: list[float], total: float) -> float:
    rate = hourly_rate(t, busy)
    market_share = sum(w * s for w, s in TOPICS.values())
    if ev.scope == "market":
        return rate * market_share
    if ev.scope == "topic":
        return rate * TOPICS[ev.key][0] * TOPICS[ev.key][1]
    return rate * TICKER_SHARE * ticker_weights[_company_index(ev.key)] / total * market_share


def _company_index(ticker: str) -> int:
    return next(i for i, (_, tk) in enumerate(COMPANIES) if tk == ticker)


def _add(out: Generated, rng: random.Random, t: datetime, topic: str, negative: bool, company: int | None) -> None:
    sentiment = "negative" if negative else rng.choice(["neutral", "neutral", "positive"])
    templates = NEGATIVE if negative else (POSITIVE if sentiment == "positive" else NEUTRAL)
    name, ticker = COMPANIES[company] if company is not None else ("The sector", "")
    template = rng.choice(templates).replace("{c}", name)
    n = len(out.messages)
    # A serial number keeps distinct stories distinct after headline normalisation.
    title = template.format(p=rng.randint(3, 25), n=rng.randint(2, 20) * 100, r="chair") + f" (story {n})"
    at = t + timedelta(seconds=rng.randint(0, 59))
    source = rng.choice(SOURCES)
    tickers = [ticker] if company is not None else []
    out.labels[title] = (topic, sentiment)
    out.messages.append({"id": f"sg-{n}", "title": title, "published_at": at.isoformat(), "source": source,
                         "url": f"https://{source}.example/{n}", "tickers": tickers, "lang": "en"})
    if rng.random() < DUPLICATE_SHARE:  # another outlet, same story
        copy = title.upper().replace("(", "").replace(")", "") + "!"
        out.labels[copy] = (topic, sentiment)
        other = rng.choice([s for s in SOURCES if s != source])
        later = (at + timedelta(minutes=3)).isoformat()
        out.messages.append({"id": f"sg-{n}-dup", "title": copy, "published_at": later, "source": other,
                             "url": f"https://{other}.example/{n}", "tickers": tickers, "lang": "en"})


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth: fine for the small per-minute rates used here.
    limit, k, p = pow(2.718281828459045, -lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _highlights(title: str, sentiment: str) -> tuple[str, ...]:
    cues = ("plunge", "misses", "probe", "slashes", "downgraded", "recalls", "tumble", "fraud", "lay", "lawsuit",
            "pulled", "spill", "losses", "collapse", "cuts", "resigns", "sink", "slides")
    words = [w.strip(",.;:%()").lower() for w in title.split()]
    return tuple(w for w in words if w in cues)[:3] if sentiment == "negative" else ()


def oracle_classify(generated: Generated | Iterable[Generated]) -> Any:
    """A `Classify` for the ingest pipeline that answers with the generator's labels (tests, benchmarks:
    they measure the detector, not the model)."""
    gens = [generated] if isinstance(generated, Generated) else list(generated)
    labels = {title: lab for g in gens for title, lab in g.labels.items()}

    def classify(texts: list[str]) -> list[Prediction]:
        out = []
        for text in texts:
            topic, sentiment = labels.get(text.split("\n", 1)[0], ("General News | Opinion", "neutral"))
            score = 0.9
            probs = {s: (score if s == sentiment else 0.05) for s in ("negative", "neutral", "positive")}
            out.append(Prediction(topic, 0.9, sentiment, score, "oracle", sentiment_probs=probs,
                                  highlights=_highlights(text, sentiment)))
        return out

    return classify


def demo_surge(now: datetime, n: int = 25, seed: int = 11, ticker: str = "CTSB") -> list[dict[str, Any]]:
    """Negative headlines about one company over the last 50 minutes before `now`, for `monitor demo`: added
    to its generated stream, they make the real model and the real detector fire a ticker alert."""
    rng = random.Random(seed)
    name = COMPANIES[_company_index(ticker)][0]
    out = []
    for i in range(n):
        template = NEGATIVE[i % len(NEGATIVE)].replace("{c}", name)
        title = template.format(p=rng.randint(8, 30), n=(i + 2) * 100, r="chief financial officer")
        at = now - timedelta(minutes=50) + timedelta(seconds=i * 50 * 60 // n)
        source = SOURCES[i % len(SOURCES)]
        out.append({"id": f"demo-surge-{seed}-{i}", "title": f"{title} (${ticker})", "published_at": at.isoformat(),
                    "source": source, "url": f"https://{source}.example/surge/{i}", "tickers": [ticker],
                    "lang": "en"})
    return out


def monday(t: datetime) -> datetime:
    """Midnight UTC of the Monday on or before `t`."""
    t = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return t - timedelta(days=t.weekday())


@dataclass
class Score:
    """How a backtest did against the injected ground truth.

    Every injected surge is judged, and each also says whether it *qualifies*: whether its hour, as
    detection sees it, really holds a negative rate `factor` times the key's baseline, i.e. its realized
    negative stories are at least `factor` x `expected_baseline`, and at least `min_negative` of them. A
    surge is a Poisson rate, and an hour that drew 20 negatives where 27 were due (9 usual) is not a 3x
    surge in the data. The floor: the issue asks detection to fire only when the window holds a minimum
    number of distinct stories (MONITOR_ALERT_MIN_NEGATIVE), so a quiet key's hour that drew 2 negatives
    where 0.6 are usual is 3x but, by that rule, not something to alert on."""

    detected: dict[Injected, timedelta | None]  # surge -> time from its start to its key's fire (None: missed)
    false_alerts: list[Any]  # fire events outside every injected surge (bursts excuse nothing)
    realized: dict[Injected, int] = field(default_factory=dict)  # surge -> realized_negatives in its span
    expected: dict[Injected, float] = field(default_factory=dict)  # surge -> expected_baseline of its span
    min_negative: int = 0  # the detector's floor of distinct negative stories (Thresholds.min_negative)

    @property
    def missed(self) -> list[Injected]:
        return [s for s, delay in self.detected.items() if delay is None]

    def qualifies(self, surge: Injected) -> bool:
        """Its realized negatives are at least `factor` x its key's expected baseline, and the floor."""
        realized = self.realized[surge]
        return realized >= surge.factor * self.expected[surge] and realized >= self.min_negative

    @property
    def qualifying(self) -> list[Injected]:
        return [s for s in self.detected if self.qualifies(s)]

    @property
    def qualifying_missed(self) -> list[Injected]:
        return [s for s in self.missed if self.qualifies(s)]


def realized_negatives(stories: Iterable[Story], surge: Injected) -> int:
    """Distinct negative stories about the surge's key that its span actually holds (`stories` distinct, as
    detection reads them: History.stories). A surge is a Poisson rate, and now and then its hour draws far
    fewer stories than the rate promises, e.g. 2 where 10 were due, which no detector can see."""
    def about(s: Story) -> bool:
        return {"ticker": surge.key in s.tickers, "topic": s.topic == surge.key}.get(surge.scope, True)

    return sum(1 for s in stories if s.negative and surge.start <= s.published_at < surge.end and about(s))


def score(events: Iterable[Any], injected: Sequence[Injected], window: timedelta, windows: int = 2, *,
          stories: Sequence[Story], busy_per_hour: float, min_negative: int = 0) -> Score:
    """`events`: alerts.backtest.Event. A surge counts as detected when its own key fires within `windows`
    detection windows of its start; a fire is false when no injected surge was running (or had just ended,
    within one window) at that moment, about any key: a ticker surge may rightly move its topic or the market.
    `stories`: the distinct stories detection read (History.stories), `busy_per_hour` the generator's: they
    say which surges qualify (Score.qualifies), with `min_negative` the detector's floor."""
    fires = [e for e in events if e.event == "fire"]
    surges = [s for s in injected if s.scope != "burst"]
    detected: dict[Injected, timedelta | None] = {}
    for s in surges:
        hits = [e.at - s.start for e in fires
                if (e.scope, e.key) == (s.scope, s.key) and s.start <= e.at <= s.start + windows * window]
        detected[s] = min(hits) if hits else None
    false = [e for e in fires if not any(s.start <= e.at <= s.end + window for s in surges)]
    in_span = [st for st in stories if any(s.start <= st.published_at < s.end for s in surges)]
    realized = {s: realized_negatives(in_span, s) for s in surges}
    expected = {s: expected_baseline(s, busy_per_hour) for s in surges}
    return Score(detected, false, realized, expected, min_negative)
