"""The rate half of surge statistics: are there more negative stories than the key's usual *volume* explains?

Pure functions, no I/O. Why a second test next to the share test (alerts/surge.py): a surge adds negative
stories and leaves the others alone. The share test conditions on the window's total, so it cannot tell a
surge from a burst of volume, which keeps it safe at the market open, but the surge's own stories inflate
that total and a 3x surge of a busy topic moves the share only from 0.30 to 0.56: too little to be
significant in one hour of 40 stories. The non-negative stories carry what the share throws away: while
they run at their seasonal level, the expected negative count is known, and 22 against an expected 9 is
far stronger evidence than 22 of 43 against a share of 0.3.

The model (counts are distinct stories in the window, X negative and Y not):

* Y ~ Poisson(v * E), where E is the key's usual non-negative count for this window (same window in past
  weeks) and v the window's volume factor; X ~ Poisson(r * v * E * f) with r the usual negative:other
  odds, and f = 1 under the null.
* v comes from one of two components: *usual* volume, v ~ Gamma(k, k) (news volume wanders around its
  seasonal level by about 1/sqrt(k)), or a *burst*, v ~ Exponential(mean `burst_scale`), with prior
  probability `burst_prior`. Y says which one is likely.
* Under usual volume the predictive of X given Y is negative binomial (Gamma-Poisson: the posterior of v
  given Y, widened by the uncertainty of r and E). Under a burst v is free and the only evidence left is
  the share: the exact conditional test of alerts/surge.py. The p-value is the posterior mixture of the
  two tails, so a burst (Y far above E) falls back to the share test and does not alert.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alerts.special import betainc


@dataclass(frozen=True, slots=True)
class Volume:
    """A key's usual non-negative count for the window, from the same window in past weeks or days."""

    expected: float  # E: mean non-negative stories per window
    observed: float  # non-negative stories summed over the sample windows (E's precision)
    windows: int  # sample windows
    how: str  # "week" | "day" | "recent"


def nb_sf(k: int, size: float, mean: float) -> float:
    """P(X >= k) for a negative binomial with this size (shape) and mean: I_{m/(s+m)}(k, s)."""
    if k <= 0:
        return 1.0
    if mean <= 0.0:
        return 0.0
    return betainc(float(k), size, mean / (size + mean))


def nb_logpmf(y: int, size: float, mean: float) -> float:
    if mean <= 0.0:
        return 0.0 if y == 0 else -math.inf
    return (math.lgamma(y + size) - math.lgamma(size) - math.lgamma(y + 1)
            + size * math.log(size / (size + mean)) + y * math.log(mean / (size + mean)))


@dataclass(frozen=True, slots=True)
class RateTest:
    p_usual: float  # tail of X given Y under usual volume
    burst_weight: float  # posterior probability of the burst component given Y
    expected_negative: float  # predicted X under usual volume
    level: float = 1.0  # posterior mean of the volume factor v (the mixture's)
    level_var: float = 0.0  # and its relative variance: what the market's test tells every other key

    def p_value(self, p_share: float) -> float:
        """The mixture tail: a burst leaves only the share test's evidence."""
        return (1.0 - self.burst_weight) * self.p_usual + self.burst_weight * p_share


def rate_test(
    negative: int, other: int, volume: Volume, a: float, b: float, *,
    volume_strength: float, burst_prior: float, burst_scale: float, level: float = 1.0, level_var: float = 0.0,
) -> RateTest:
    """`a`, `b`: the baseline share's Beta pseudo-counts (negative, other), so r = a / b +- its uncertainty.
    `level` (relative variance `level_var`) is where the volume is expected to be relative to its seasonal
    level: 1 for the market itself; for any other key the market's own posterior volume factor, because a
    key's volume follows the market's (it is the market's, split), and the market's thousand stories measure
    the factor far better than the key's twenty. A market-wide burst then raises every key's expectation."""
    e = max(volume.expected, 0.5 / max(volume.windows, 1)) * level  # a key never seen: half a story
    # The prior on this window's non-negative rate: the expected level, uncertain by the volume's own
    # wandering (1/k), by how few stories E rests on (1/(count + 1/2), a Poisson mean's relative variance)
    # and by the level's own uncertainty.
    shape = 1.0 / (1.0 / volume_strength + 1.0 / (volume.observed + 0.5) + level_var)
    # Posterior of the rate given Y (Gamma-Poisson), then the predictive of X: the odds r = a/b carry their
    # own relative variance 1/a + 1/b, added to the shape's (a product of independent Gammas, to first order).
    post_shape = shape + other
    post_rate = shape / e + 1.0
    mean_x = (a / b) * post_shape / post_rate
    size_x = 1.0 / (1.0 / post_shape + 1.0 / a + 1.0 / b)
    p_usual = nb_sf(negative, size_x, mean_x)
    # Which volume component explains Y: marginal likelihoods of Y (both negative binomial).
    log_usual = nb_logpmf(other, shape, e)
    log_burst = nb_logpmf(other, 1.0, burst_scale * e)
    odds = burst_prior / (1.0 - burst_prior) * math.exp(max(-700.0, min(700.0, log_burst - log_usual)))
    weight = odds / (1.0 + odds)
    # The volume factor's posterior (relative to the seasonal level), mixed over the two components.
    base = e / level
    m_u, v_u = post_shape / post_rate / base, 1.0 / post_shape
    b_shape, b_rate = 1.0 + other, 1.0 / (burst_scale * e) + 1.0
    m_b, v_b = b_shape / b_rate / base, 1.0 / b_shape
    mean = (1 - weight) * m_u + weight * m_b
    second = (1 - weight) * m_u**2 * (1 + v_u) + weight * m_b**2 * (1 + v_b)
    return RateTest(p_usual, weight, mean_x, mean, max(0.0, second / mean**2 - 1.0))
