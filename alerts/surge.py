"""Surge statistics: pure functions, no I/O, no clock.

A window of distinct stories about one key (a topic, a ticker, or the whole market) is compared with a
seasonal baseline of the same key's history:

* the baseline share of negative stories comes from the same hour of the week in past weeks, falling
  back to the same hour of the day, then to the recent hours, while history is short; outlier hours
  (a past surge) are dropped with a median/MAD rule, and sparse keys are shrunk toward a prior share;
* the test is conditional on the window's volume: a one-sided tail P(X >= negative | total) under the
  beta-binomial predictive distribution of the baseline (a binomial whose share is itself uncertain: an
  hour-of-week baseline of four hours of a small topic rests on a hundred stories, and treating its share
  as exact cried wolf about once a week in the backtest). A burst of volume with the usual mix (the market
  open) does not move the share, so it does not alert, however big it is;
* the effect size is the odds ratio of the window's share to the baseline's. Tripling the rate of negative
  stories while the rest stay put triples the odds whatever the baseline share, so a threshold on it reads
  the same for every key.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

SCOPES: tuple[str, ...] = ("market", "topic", "ticker")
MARKET_KEY = "market"
HOUR = timedelta(hours=1)
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Counts:
    """Distinct stories in one bucket or window."""

    total: int
    negative: int

    @property
    def share(self) -> float:
        return self.negative / self.total if self.total else 0.0


@dataclass(frozen=True, slots=True)
class Baseline:
    share: float  # expected negative share, after outlier trimming and shrinkage: a / (a + b)
    a: float  # Beta pseudo-counts of the share: negative stories (plus the prior's) ...
    b: float  # ... and the others
    negative_per_hour: float  # median negative stories per hour in the samples (for the message)
    total_per_hour: float
    samples: int  # hours the estimate rests on
    how: str  # "hour_of_week" | "hour_of_day" | "recent" | "prior"


@dataclass(frozen=True, slots=True)
class Surge:
    """One key's window judged against its baseline; `fires`/`holds` are the two hysteresis thresholds."""

    scope: str
    key: str
    window_start: datetime
    window_end: datetime
    negative: int
    total: int
    baseline: Baseline
    odds_ratio: float
    p_value: float  # one-sided beta-binomial tail, uncorrected
    p_adjusted: float  # Bonferroni over the keys tested in this run
    fires: bool  # all fire conditions hold
    holds: bool  # still above the (lower) resolve threshold
    reason: str

    @property
    def share(self) -> float:
        return self.negative / self.total if self.total else 0.0

    @property
    def expected_negative(self) -> float:
        return self.baseline.share * self.total


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every knob of detection and notification (monitor/config.py maps MONITOR_ALERT_* onto it)."""

    window: timedelta = timedelta(minutes=60)
    alpha: float = 0.001  # family-wise, per detection run (Bonferroni over the keys tested)
    min_stories: int = 8  # distinct stories in the window
    min_negative: int = 5  # distinct negative stories in the window
    min_odds_ratio: float = 2.0  # effect size to fire
    resolve_odds_ratio: float = 1.5  # hysteresis: the surge holds while the odds ratio stays above this ...
    resolve_p_value: float = 0.05  # ... and the uncorrected tail stays below this
    repeat_interval: timedelta = timedelta(hours=4)
    seasonal_weeks: int = 4  # hour-of-week samples looked at
    neighbour_hours: int = 1  # the hours either side of the same hour are samples too
    min_seasonal_samples: int = 6  # hours with data needed before the hour-of-week baseline is trusted
    daily_days: int = 7  # hour-of-day fallback samples looked at
    min_daily_samples: int = 9
    recent_hours: int = 24  # last fallback: the recent hours before the window
    min_recent_samples: int = 6
    prior_strength: float = 20.0  # pseudo-stories of the prior share added to a key's baseline
    max_baseline_stories: float = 400.0  # cap on a baseline's weight: real news shares drift hour to hour
    default_prior_share: float = 0.3  # prior for the market itself when it has no history at all

    @property
    def lookback(self) -> timedelta:
        """How much history a detection run needs before its window."""
        return max(self.seasonal_weeks * WEEK, self.daily_days * DAY, self.recent_hours * HOUR) + HOUR


# --------------------------------------------------------------------------- statistics


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), via the regularized incomplete beta I_p(k, n - k + 1)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    return _betainc(float(k), float(n - k + 1), p)


def beta_binomial_sf(k: int, n: int, a: float, b: float) -> float:
    """P(X >= k) for X ~ BetaBinomial(n, a, b): n draws at a share that is Beta(a, b) distributed."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    lbeta_ab = math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)
    lg_n = math.lgamma(n + 1)

    def pmf(x: int) -> float:
        return math.exp(lg_n - math.lgamma(x + 1) - math.lgamma(n - x + 1) + math.lgamma(x + a)
                        + math.lgamma(n - x + b) - math.lgamma(n + a + b) - lbeta_ab)

    mean = n * a / (a + b)
    if k > mean:  # the upper tail: terms fall away past the mode, stop when they stop mattering
        total = 0.0
        for x in range(k, n + 1):
            term = pmf(x)
            total += term
            if term < total * 1e-13:
                break
        return min(1.0, total)
    return max(0.0, 1.0 - math.fsum(pmf(x) for x in range(k)))


def _betainc(a: float, b: float, x: float) -> float:
    """Regularized incomplete beta I_x(a, b) (Numerical Recipes 6.4: continued fraction, modified Lentz)."""
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def _betacf(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < eps:
            break
    return h


def odds_ratio(negative: int, total: int, baseline_share: float) -> float:
    """Odds of the window's share over the baseline's (0.5 continuity correction: no infinities)."""
    window_odds = (negative + 0.5) / (total - negative + 0.5)
    p = min(max(baseline_share, 1e-6), 1 - 1e-6)
    return window_odds / (p / (1 - p))


def robust_share(samples: Sequence[Counts]) -> tuple[float, int]:
    """Pooled negative share of the samples after dropping outlier hours (median/MAD on the shares).

    Returns (share, samples kept). Pooling (sum/sum) rather than a median of shares keeps sparse keys
    sane, where most hourly shares are 0 or 1; the MAD rule drops a past surge so it cannot raise the bar.
    """
    used = [c for c in samples if c.total > 0]
    if not used:
        return 0.0, 0
    shares = [c.share for c in used]
    med = statistics.median(shares)
    mad = statistics.median(abs(s - med) for s in shares)
    # 1.4826 * MAD estimates sigma; the 0.1 floor keeps a MAD of 0 from dropping everything. Hours of a
    # handful of stories are noise, not outliers: they always stay.
    limit = 3 * 1.4826 * mad + 0.1
    kept = [c for c in used if c.total < 5 or abs(c.share - med) <= limit] or used
    return sum(c.negative for c in kept) / sum(c.total for c in kept), len(kept)


def baseline_from(
    seasonal: Sequence[Counts],
    daily: Sequence[Counts],
    recent: Sequence[Counts],
    prior_share: float,
    t: Thresholds,
) -> Baseline:
    """The first sample set with enough hours wins: hour of week, then hour of day, then recent hours."""
    for how, samples, needed in (
        ("hour_of_week", seasonal, t.min_seasonal_samples),
        ("hour_of_day", daily, t.min_daily_samples),
        ("recent", recent, t.min_recent_samples),
    ):
        with_data = [c for c in samples if c.total > 0]
        if len(with_data) >= needed:
            share, kept = robust_share(with_data)
            stories = min(t.max_baseline_stories, sum(c.total for c in with_data) * kept / len(with_data))
            # Shrink toward the prior by `prior_strength` pseudo-stories: a ticker seen 6 times has no
            # trustworthy share of its own.
            a = share * stories + prior_share * t.prior_strength
            b = (1 - share) * stories + (1 - prior_share) * t.prior_strength
            return Baseline(
                share=_clamp(a / (a + b)),
                a=a,
                b=b,
                negative_per_hour=statistics.median(c.negative for c in samples) if samples else 0.0,
                total_per_hour=statistics.median(c.total for c in samples) if samples else 0.0,
                samples=kept,
                how=how,
            )
    p = _clamp(prior_share)
    return Baseline(p, p * t.prior_strength, (1 - p) * t.prior_strength, 0.0, 0.0, 0, "prior")


def _clamp(p: float) -> float:
    return min(max(p, 0.01), 0.99)


def judge(
    scope: str,
    key: str,
    window_start: datetime,
    window_end: datetime,
    window: Counts,
    baseline: Baseline,
    tests: int,
    t: Thresholds,
) -> Surge:
    """Apply every fire condition and the resolve threshold to one key's window."""
    p = beta_binomial_sf(window.negative, window.total, baseline.a, baseline.b)
    p_adj = min(1.0, p * max(1, tests))
    ratio = odds_ratio(window.negative, window.total, baseline.share)
    reasons = []
    if window.total < t.min_stories:
        reasons.append(f"{window.total} stories < {t.min_stories}")
    if window.negative < t.min_negative:
        reasons.append(f"{window.negative} negative < {t.min_negative}")
    if ratio < t.min_odds_ratio:
        reasons.append(f"odds ratio {ratio:.2f} < {t.min_odds_ratio}")
    if p_adj >= t.alpha:
        reasons.append(f"adjusted p {p_adj:.3g} >= {t.alpha}")
    if baseline.how == "prior" and scope == "market":
        reasons.append("no history yet")
    fires = not reasons
    holds = ratio >= t.resolve_odds_ratio and p < t.resolve_p_value
    return Surge(
        scope=scope, key=key, window_start=window_start, window_end=window_end,
        negative=window.negative, total=window.total, baseline=baseline,
        odds_ratio=ratio, p_value=p, p_adjusted=p_adj, fires=fires, holds=holds,
        reason="surge" if fires else "; ".join(reasons),
    )


def testable(window: Counts, t: Thresholds) -> bool:
    """Keys below the story minimum cannot fire, so they do not count toward the multiple-testing
    correction (selecting on volume is independent of the share under the null, so this stays valid)."""
    return window.total >= t.min_stories and window.negative >= t.min_negative


# --------------------------------------------------------------------------- stories

_NON_WORD = re.compile(r"[^\w]+")


def normalise_headline(title: str) -> str:
    """The same story from several outlets: case, accents, punctuation and spacing do not matter."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii") or title
    return _NON_WORD.sub(" ", text.casefold()).strip()


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)
