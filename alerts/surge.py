"""Surge statistics: pure functions, no I/O, no clock.

A window of distinct stories about one key (a topic, a ticker, or the whole market) is compared with a
seasonal baseline of the same key's history:

* the baseline share of negative stories comes from the same hour of the week in past weeks, falling
  back to the same hour of the day, then to the recent hours, while history is short; outlier hours
  (a past surge) are dropped with a median/MAD rule, and sparse keys are shrunk toward a prior share;
* the share test is conditional on the window's volume: a one-sided tail P(X >= negative | total) under the
  beta-binomial predictive distribution of the baseline (a binomial whose share is itself uncertain). A
  burst of volume with the usual mix (the market open) does not move the share, so it does not alert,
  however big it is;
* the rate test (alerts/volume.py) asks whether there are more negative stories than the key's usual
  volume explains, judging from the non-negative stories whether the volume is usual or a burst; where it
  is a burst, only the share test's evidence counts. It is what finds a 3x surge of a busy topic, which
  moves the share too little to be significant on its own;
* the p-values of the keys tested in one run are adjusted together (Benjamini-Hochberg by default:
  with no surge anywhere it holds the family-wise rate like Bonferroni; during a surge it lets the
  ticker, its topic and the market all fire);
* the effect size is the odds ratio of the window's share to the baseline's. Tripling the rate of negative
  stories while the rest stay put triples the odds whatever the baseline share, so a threshold on it reads
  the same for every key, and a burst of volume with the usual mix leaves it at 1.
"""

from __future__ import annotations

import math
import re
import statistics
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from alerts.special import betainc
from alerts.volume import RateTest, Volume, rate_test

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
    broad: Counts = Counts(0, 0)  # the key's stories over every sample hour (its share of the market's volume)


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
    p_value: float  # one-sided, uncorrected: the rate test's mixture tail (the share test's where no volume)
    p_adjusted: float  # adjusted over the keys tested in this run (Benjamini-Hochberg or Bonferroni)
    fires: bool  # all fire conditions hold
    holds: bool  # still above the (lower) resolve threshold
    reason: str
    p_share: float = 1.0  # the share test alone (beta-binomial, conditional on the window's total)
    burst_weight: float = 1.0  # how likely the window's volume is a burst (1: no volume baseline)
    volume: Volume | None = None

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
    alpha: float = 0.001  # per detection run, over the keys tested (see `correction`)
    correction: str = "bh"  # "bh" (Benjamini-Hochberg) | "bonferroni"
    weigh_scopes: bool = False  # True: market, topics and tickers each get a third of alpha (scope_weights)
    # Distinct stories in the window. 5, the negative floor: a quiet ticker's night surge of 5 negative stories
    # and one other is an alert, and 8 blocked exactly those (measured on fresh seeds 31-40: 35/37 qualifying
    # surges found against 34/37, false alerts unchanged; README, Surge alerts).
    min_stories: int = 5
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
    prior_strength: float = 20.0  # pseudo-stories of the prior share (the market's) added to a key's baseline
    pool_strength: float = 200.0  # at most this many pseudo-stories of the key's share over all sample hours
    max_baseline_stories: float = 420.0  # cap on a baseline's weight: real news shares drift hour to hour
    default_prior_share: float = 0.3  # prior for the market itself when it has no history at all
    # The rate test (alerts/volume.py): the same window in past weeks (else days) gives the usual volume.
    min_volume_windows: int = 2  # sample windows needed before the usual volume is trusted
    volume_strength: float = 100.0  # k: a window's volume wanders about 1/sqrt(k) (10 %) around its level
    burst_prior: float = 0.05  # prior probability that a window's volume is a burst
    burst_scale: float = 3.0  # mean volume factor of a burst

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
    return betainc(float(k), float(n - k + 1), p)


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


def odds_ratio(negative: int, total: int, baseline_share: float) -> float:
    """Odds of the window's share over the baseline's (0.5 continuity correction: no infinities)."""
    window_odds = (negative + 0.5) / (total - negative + 0.5)
    p = min(max(baseline_share, 1e-6), 1 - 1e-6)
    return window_odds / (p / (1 - p))


def robust_share(samples: Sequence[Counts], outlier_p: float = 1e-3) -> tuple[float, int]:
    """Pooled negative share of the samples after dropping outlier hours: a past surge, so that it cannot
    raise the bar. Returns (share, samples kept).

    Pooling (sum/sum) rather than a median of shares keeps sparse keys sane, where most hourly shares are
    0 or 1. An hour is an outlier when its negatives are improbably many for its own size at the share of
    the other hours (binomial tail below `outlier_p`), so the rule drops nothing of ordinary noise and,
    unlike a median/MAD rule on the shares (whose MAD is 0 when most hours of a small key have no
    negative story), never drops ordinary hours with a negative story or two: that biased sparse keys'
    baselines low and made their next few negatives look like a surge.
    """
    used = [c for c in samples if c.total > 0]
    if not used:
        return 0.0, 0
    neg, tot = sum(c.negative for c in used), sum(c.total for c in used)
    kept = []
    for c in used:
        rest_tot = tot - c.total
        rest_share = (neg - c.negative + 0.5) / (rest_tot + 1.0)  # the other hours' share (+1/2: none yet)
        expected = c.total * rest_share
        # (The tail is computed only for hours well above expectation: most hours are not, and this runs
        # for every key and sample hour of every detection run.)
        if (rest_tot == 0 or c.negative <= expected + 2.0 * math.sqrt(expected + 1.0)
                or binomial_sf(c.negative, c.total, rest_share) >= outlier_p):
            kept.append(c)
    kept = kept or used
    return sum(c.negative for c in kept) / sum(c.total for c in kept), len(kept)


def baseline_from(
    seasonal: Sequence[Counts],
    daily: Sequence[Counts],
    recent: Sequence[Counts],
    prior_share: float,
    t: Thresholds,
    broad: Sequence[Counts] = (),
) -> Baseline:
    """The first sample set with enough hours wins: hour of week, then hour of day, then recent hours.

    Its share is shrunk toward the key's share over `broad` (every sample hour: the same hour in past
    weeks and days and the recent hours) by up to `pool_strength` pseudo-stories, and that one toward
    `prior_share` by `prior_strength`. A share drifts little from hour to hour, unlike volume, and twelve
    hours of a quiet weekend evening (300 stories) put the market's share 0.07 off in one replayed week
    out of three: a false alarm when it came out low, a missed surge when high.
    """
    broad_used = [c for c in broad if c.total > 0]
    broad_sum = Counts(sum(c.total for c in broad_used), sum(c.negative for c in broad_used))
    q0, w0 = _clamp(prior_share), t.prior_strength
    if broad_used:
        share_b, kept_b = robust_share(broad_used)
        n_b = sum(c.total for c in broad_used) * kept_b / len(broad_used)
        q0 = (share_b * n_b + q0 * w0) / (n_b + w0)
        w0 += min(t.pool_strength, n_b)
    for how, samples, needed in (
        ("hour_of_week", seasonal, t.min_seasonal_samples),
        ("hour_of_day", daily, t.min_daily_samples),
        ("recent", recent, t.min_recent_samples),
    ):
        with_data = [c for c in samples if c.total > 0]
        if len(with_data) >= needed:
            share, kept = robust_share(with_data)
            stories = sum(c.total for c in with_data) * kept / len(with_data)
            # Shrink toward the pooled prior: a ticker seen 6 times has no trustworthy share of its own.
            mean = (share * stories + q0 * w0) / (stories + w0)
            # The weight is capped: real news shares drift hour to hour, however many stories we saw.
            weight = min(t.max_baseline_stories, stories + w0)
            return Baseline(
                share=_clamp(mean),
                a=mean * weight,
                b=(1 - mean) * weight,
                negative_per_hour=statistics.median(c.negative for c in samples) if samples else 0.0,
                total_per_hour=statistics.median(c.total for c in samples) if samples else 0.0,
                samples=kept,
                how=how,
                broad=broad_sum,
            )
    p = _clamp(q0)
    return Baseline(p, p * w0, (1 - p) * w0, 0.0, 0.0, 0, "prior", broad_sum)


def _clamp(p: float) -> float:
    return min(max(p, 0.01), 0.99)


Evidence = tuple[float, float, RateTest | None]  # (p-value, share-test p-value, rate test), uncorrected


def evidence(window: Counts, baseline: Baseline, volume: Volume | None, t: Thresholds,
             market: RateTest | None = None) -> Evidence:
    """How surprising one key's window is. `market` is the market's own rate test, for every other key:
    its volume factor is the key's expected level, and its burst probability the least of the key's (a key
    of a few stories an hour cannot tell a market-wide burst from its usual volume by itself)."""
    burst_prior = market.burst_weight if market else None
    p_share = beta_binomial_sf(window.negative, window.total, baseline.a, baseline.b)
    if volume is None:
        return p_share, p_share, None
    prior = t.burst_prior if burst_prior is None else max(t.burst_prior, min(burst_prior, 0.999))
    rate = rate_test(window.negative, window.total - window.negative, volume, baseline.a, baseline.b,
                     volume_strength=t.volume_strength, burst_prior=prior, burst_scale=t.burst_scale,
                     level=market.level if market else 1.0, level_var=market.level_var if market else 0.0)
    return rate.p_value(p_share), p_share, rate


def adjust(p_values: Sequence[float], method: str = "bh", weights: Sequence[float] | None = None) -> list[float]:
    """Multiple-testing adjusted p-values, in the input order. Benjamini-Hochberg's step-up
    (p_(i) * m / i, made monotone from the top) controls the false discovery rate, and the family-wise rate
    when nothing surges at all, which is what a false alert per week measures; Bonferroni is p * m.
    `weights` (mean 1) make it the weighted procedure: each p is divided by its weight first."""
    m = len(p_values)
    if weights is not None:
        p_values = [p / w for p, w in zip(p_values, weights, strict=True)]
    if method == "bonferroni":
        return [min(1.0, p * m) for p in p_values]
    if method != "bh":
        raise ValueError(f"unknown correction {method!r}: bh or bonferroni")
    order = sorted(range(m), key=lambda i: p_values[i])
    out = [1.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p_values[i] * m / rank)
        out[i] = min(1.0, running)
    return out


def judge(
    scope: str,
    key: str,
    window_start: datetime,
    window_end: datetime,
    window: Counts,
    baseline: Baseline,
    p: Evidence,
    p_adj: float,
    t: Thresholds,
    volume: Volume | None = None,
) -> Surge:
    """Apply every fire condition and the resolve threshold to one key's window. `p` is evidence()'s answer
    and `p_adj` its adjusted p-value among the keys tested in this run."""
    p_value, p_share, rate = p
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
    holds = ratio >= t.resolve_odds_ratio and p_value < t.resolve_p_value
    return Surge(
        scope=scope, key=key, window_start=window_start, window_end=window_end,
        negative=window.negative, total=window.total, baseline=baseline,
        odds_ratio=ratio, p_value=p_value, p_adjusted=p_adj, fires=fires, holds=holds,
        reason="surge" if fires else "; ".join(reasons), p_share=p_share,
        burst_weight=rate.burst_weight if rate else 1.0, volume=volume,
    )


def testable(window: Counts, t: Thresholds) -> bool:
    """Keys below the story minimum cannot fire, so they do not count toward the multiple-testing
    correction. The family is chosen on the window's volume only: choosing it on the negative count too
    (as the fire rule does) shrinks the family exactly when a quiet key's fluke pushes it over the line,
    and cried wolf about small topics at dawn."""
    return window.total >= t.min_stories


def scope_weights(scopes: Sequence[str]) -> list[float]:
    """Weights (mean 1) for a weighted multiple-testing correction: each scope present gets an equal part
    of the false-alert budget, shared among its keys. The one market key is then not outvoted by twenty
    topics and dozens of tickers, and a burst of ticker keys does not dilute the topics."""
    present = sorted(set(scopes))
    sizes = {s: sum(1 for x in scopes if x == s) for s in present}
    return [len(scopes) / (len(present) * sizes[s]) for s in scopes]


# --------------------------------------------------------------------------- stories

_NON_WORD = re.compile(r"[^\w]+")


def normalise_headline(title: str) -> str:
    """The same story from several outlets: case, accents, punctuation and spacing do not matter."""
    text = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii") or title
    return _NON_WORD.sub(" ", text.casefold()).strip()


def hour_floor(t: datetime) -> datetime:
    return t.replace(minute=0, second=0, microsecond=0)
