"""alerts.surge / alerts.history / alerts.detect: the statistics, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction
from math import comb

import pytest

from alerts.detect import detect, needed_ranges
from alerts.history import History
from alerts.surge import (
    Counts,
    Thresholds,
    adjust,
    baseline_from,
    beta_binomial_sf,
    binomial_sf,
    evidence,
    judge,
    normalise_headline,
    odds_ratio,
    robust_share,
    scope_weights,
)
from alerts.surge import (
    testable as in_family,
)
from alerts.volume import Volume, nb_sf, rate_test
from storage.alerts_repo import Story

T = Thresholds()
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday


def exact_sf(k: int, n: int, p: float) -> float:
    q = Fraction(p)
    return float(sum(comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(k, n + 1)))


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(0, 10, 0.3), (1, 1, 0.25), (3, 10, 0.25), (6, 10, 0.25), (10, 10, 0.25), (15, 30, 0.25),
     (45, 90, 0.25), (30, 200, 0.1), (120, 400, 0.25), (3, 4, 0.9), (11, 10, 0.5), (50, 100, 0.5)],
)
def test_binomial_tail_matches_exact_sum(k: int, n: int, p: float) -> None:
    expected = exact_sf(k, n, p) if k <= n else 0.0
    assert binomial_sf(k, n, p) == pytest.approx(expected, rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("k", "n", "p", "expected"), [(0, 0, 0.5, 1.0), (1, 0, 0.5, 0.0), (1, 5, 0.0, 0.0),
                                                       (1, 5, 1.0, 1.0)])
def test_binomial_tail_edges(k: int, n: int, p: float, expected: float) -> None:
    assert binomial_sf(k, n, p) == expected


def exact_bb_sf(k: int, n: int, a: int, b: int) -> float:
    from math import factorial

    def beta(x: int, y: int) -> Fraction:  # B(x, y) for positive integers
        return Fraction(factorial(x - 1) * factorial(y - 1), factorial(x + y - 1))

    return float(sum(comb(n, x) * beta(x + a, n - x + b) / beta(a, b) for x in range(k, n + 1)))


@pytest.mark.parametrize(("k", "n", "a", "b"), [(0, 5, 2, 6), (3, 10, 5, 15), (8, 10, 5, 15), (13, 24, 22, 96),
                                                (30, 60, 100, 300), (2, 60, 100, 300), (60, 60, 1, 1)])
def test_beta_binomial_tail_matches_exact_sum(k: int, n: int, a: int, b: int) -> None:
    assert beta_binomial_sf(k, n, a, b) == pytest.approx(exact_bb_sf(k, n, a, b), rel=1e-9, abs=1e-15)


def test_beta_binomial_is_wider_than_binomial_and_tends_to_it() -> None:
    assert beta_binomial_sf(13, 24, 22, 96) > 3 * binomial_sf(13, 24, 22 / 118)  # an uncertain baseline
    assert beta_binomial_sf(13, 24, 22e4, 96e4) == pytest.approx(binomial_sf(13, 24, 22 / 118), rel=1e-3)


@pytest.mark.parametrize(
    ("negative", "total", "base", "low", "high"),
    [(25, 100, 0.25, 0.9, 1.1), (50, 100, 0.25, 2.8, 3.2), (0, 10, 0.25, 0.0, 0.2), (10, 10, 0.25, 20, 100)],
)
def test_odds_ratio(negative: int, total: int, base: float, low: float, high: float) -> None:
    assert low <= odds_ratio(negative, total, base) <= high


@pytest.mark.parametrize(
    ("samples", "expected", "kept"),
    [
        ([Counts(100, 25)] * 4, 0.25, 4),
        ([Counts(100, 25), Counts(100, 20), Counts(100, 30), Counts(100, 90)], 0.25, 3),  # a past surge dropped
        ([Counts(2, 0), Counts(1, 1), Counts(3, 0), Counts(0, 0)], 1 / 6, 3),  # sparse: pooled, MAD floor
        ([], 0.0, 0),
    ],
)
def test_robust_share(samples: list[Counts], expected: float, kept: int) -> None:
    share, n = robust_share(samples)
    assert share == pytest.approx(expected)
    assert n == kept


@pytest.mark.parametrize(
    ("seasonal", "daily", "recent", "how"),
    [
        ([Counts(100, 25)] * 6, [Counts(50, 10)] * 21, [Counts(10, 1)] * 24, "hour_of_week"),
        ([Counts(100, 25)] * 3, [Counts(50, 10)] * 9, [Counts(10, 1)] * 24, "hour_of_day"),
        ([], [Counts(50, 10)] * 8, [Counts(10, 1)] * 24, "recent"),
        ([], [], [Counts(10, 1)] * 3, "prior"),
    ],
)
def test_baseline_falls_back_while_history_is_short(seasonal, daily, recent, how) -> None:  # type: ignore[no-untyped-def]
    assert baseline_from(seasonal, daily, recent, 0.3, T).how == how


def test_sparse_keys_are_shrunk_toward_the_prior() -> None:
    b = baseline_from([Counts(2, 2), Counts(1, 1)] * 3, [], [], 0.25, T)
    assert 0.25 < b.share < 0.55  # 9 stories of its own cannot outvote 20 of prior
    busy = baseline_from([Counts(1000, 600)] * 6, [], [], 0.25, T)
    assert busy.share == pytest.approx(0.6, abs=0.03)  # its weight is capped, the prior still counts


BASE = baseline_from([Counts(100, 25)] * 12, [], [], 0.25, T)


@pytest.mark.parametrize(
    ("window", "tests", "fires", "holds", "why"),
    [
        (Counts(60, 30), 5, True, True, "surge"),  # 3x the odds, plenty of stories
        (Counts(400, 100), 20, False, False, "odds ratio"),  # volume burst, usual mix
        (Counts(4, 4), 1, False, True, "stories"),  # too few stories
        (Counts(40, 4), 1, False, False, "negative"),  # too few negatives
        (Counts(30, 13), 40, False, True, "adjusted p"),  # significant alone, not after 40 tests
        (Counts(1000, 360), 1, False, True, "odds ratio"),  # significant but small effect
        (Counts(0, 0), 5, False, False, "stories"),  # quiet key with an open alert: resolves
    ],
)
def test_judge(window: Counts, tests: int, fires: bool, holds: bool, why: str) -> None:
    p = evidence(window, BASE, None, T)  # no volume baseline: the share test alone
    s = judge("topic", "Earnings", NOW - T.window, NOW, window, BASE, p, min(1.0, p[0] * tests), T)
    assert (s.fires, s.holds) == (fires, holds)
    assert why in s.reason


def exact_nb_sf(k: int, size: int, mean: float) -> float:
    q = Fraction(mean) / (size + Fraction(mean))  # failure probability per trial
    return float(1 - sum(comb(x + size - 1, x) * (1 - q) ** size * q**x for x in range(k)))


@pytest.mark.parametrize(("k", "size", "mean"), [(0, 5, 2.0), (1, 3, 0.5), (5, 10, 2.0), (20, 40, 8.0),
                                                 (9, 1, 3.0), (60, 200, 30.0)])
def test_negative_binomial_tail_matches_exact_sum(k: int, size: int, mean: float) -> None:
    assert nb_sf(k, size, mean) == pytest.approx(exact_nb_sf(k, size, mean), rel=1e-9, abs=1e-15)


USUAL = Volume(expected=20.0, observed=800.0, windows=4, how="week")  # 20 non-negative stories an hour


A, B = 126.0, 294.0  # a baseline share of 0.3 on 420 stories


def rate(negative: int, other: int, volume: Volume = USUAL) -> tuple[float, float]:
    r = rate_test(negative, other, volume, A, B, volume_strength=T.volume_strength,
                  burst_prior=T.burst_prior, burst_scale=T.burst_scale)
    p_share = beta_binomial_sf(negative, negative + other, A, B)
    return r.p_value(p_share), r.burst_weight


@pytest.mark.parametrize(
    ("negative", "other", "low", "high", "burst"),
    [
        (9, 20, 0.2, 0.8, False),  # the usual hour: 30 % of 29
        (26, 20, 0.0, 1e-4, False),  # 3x the negatives, the rest as usual (the share alone: 1e-3)
        (27, 62, 0.2, 0.8, True),  # a burst of 3x volume with the usual mix
        (80, 190, 0.1, 0.9, True),  # ten times the volume
        (3, 8, 0.2, 1.0, False),  # a quiet hour
    ],
)
def test_rate_test(negative: int, other: int, low: float, high: float, burst: bool) -> None:
    p, weight = rate(negative, other)
    assert low <= p <= high
    assert (weight > 0.5) is burst


def test_the_rate_test_is_far_stronger_than_the_share_test_at_usual_volume() -> None:
    p, _ = rate(22, 21)
    assert p < beta_binomial_sf(22, 43, A, B) / 10


@pytest.mark.parametrize(
    ("p", "method", "expected"),
    [
        ([0.01, 0.04, 0.03, 0.5], "bh", [0.04, 0.16 / 3, 0.16 / 3, 0.5]),
        ([0.01, 0.04, 0.03, 0.5], "bonferroni", [0.04, 0.16, 0.12, 1.0]),
        ([0.001], "bh", [0.001]),
        ([], "bh", []),
    ],
)
def test_adjust(p: list[float], method: str, expected: list[float]) -> None:
    assert adjust(p, method) == pytest.approx(expected)


def test_adjust_with_weights_and_scope_weights() -> None:
    w = scope_weights(["market", "topic", "topic", "ticker", "ticker", "ticker"])
    assert sum(w) / len(w) == pytest.approx(1.0)
    assert w[0] == pytest.approx(2.0) and w[1] == pytest.approx(1.0) and w[3] == pytest.approx(2 / 3)
    assert adjust([0.001, 0.5], "bonferroni", [2.0, 1.0]) == pytest.approx([0.001, 1.0])


def test_the_family_is_chosen_on_volume_not_on_negatives() -> None:
    assert in_family(Counts(T.min_stories, 0), T) and not in_family(Counts(T.min_stories - 1, 7), T)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("Contoso Bank shares plunge 12%", "CONTOSO BANK shares plunge 12% ", True),
        ("Contoso Bank: shares plunge!", "contoso bank shares plunge", True),
        ("Café crème prices rise", "Cafe creme prices rise", True),
        ("Contoso Bank shares plunge 12%", "Contoso Bank shares plunge 13%", False),
    ],
)
def test_normalise_headline(a: str, b: str, same: bool) -> None:
    assert (normalise_headline(a) == normalise_headline(b)) is same


def story(minutes_ago: float, title: str, sentiment: str = "neutral", topic: str = "Earnings",
          tickers: tuple[str, ...] = ()) -> Story:
    return Story(NOW - timedelta(minutes=minutes_ago), title, topic, sentiment, tickers)


def test_duplicates_count_once_per_day() -> None:
    h = History.of([
        story(10, "Contoso slides", "negative", tickers=("CTSB",)),
        story(5, "contoso slides!", "negative", tickers=("CTSB",)),  # another outlet
        story(3, "Other news"),
    ])
    assert h.window_counts(NOW - T.window, NOW)[("market", "market")] == Counts(2, 1)
    assert h.window_counts(NOW - T.window, NOW)[("ticker", "CTSB")] == Counts(1, 1)


def seasonal_history(weeks: int, per_hour: int, share: float, surge: tuple[int, float] | None = None) -> History:
    """`per_hour` stories an hour for `weeks` weeks before NOW; optionally (stories, share) in the last hour."""
    stories = []
    start = NOW - timedelta(weeks=weeks)
    hours = int((NOW - start) / timedelta(hours=1))
    for h in range(hours):
        n, s = (surge if surge and h == hours - 1 else (per_hour, share))
        t0 = start + timedelta(hours=h)
        for i in range(n):
            stories.append(Story(t0 + timedelta(seconds=3600 * i / n), f"story {h} {i}", "Earnings",
                                 "negative" if i < round(n * s) else "neutral"))
    return History.of(stories)


@pytest.mark.parametrize(
    ("surge", "fires"),
    [(None, False), ((40, 0.25), False), ((200, 0.25), False), ((60, 0.5), True), ((30, 0.5), False)],
)
def test_detect_on_a_steady_history(surge: tuple[int, float] | None, fires: bool) -> None:
    h = seasonal_history(5, 40, 0.25, surge)
    surges = detect(h, NOW, T)
    market = next(s for s in surges if s.scope == "market")
    assert market.baseline.how == "hour_of_week"
    assert market.baseline.share == pytest.approx(0.25, abs=0.02)
    assert market.fires is fires, market.reason


def test_open_alert_keys_are_judged_even_when_quiet() -> None:
    h = seasonal_history(1, 10, 0.25)
    surges = detect(h, NOW, T, also=[("ticker", "GONE")])
    gone = next(s for s in surges if s.key == "GONE")
    assert (gone.total, gone.holds) == (0, False)


def test_needed_ranges_are_merged_and_cover_the_window() -> None:
    spans = needed_ranges(NOW, T)
    assert spans == sorted(spans)
    assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    assert spans[-1][1] == NOW and spans[-1][0] <= NOW - T.window - timedelta(hours=T.recent_hours)
