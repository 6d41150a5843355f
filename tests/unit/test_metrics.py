import numpy as np
import pytest

from model.metrics import apply_temperature, expected_calibration_error, fit_temperature, report


def test_report_by_hand() -> None:
    # true: 0 0 1 2 ; predicted: 0 1 1 2
    probs = np.array([[0.9, 0.05, 0.05], [0.3, 0.6, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8]])
    r = report(probs, np.array([0, 0, 1, 2]), ["a", "b", "c"])
    assert r["accuracy"] == 0.75
    assert r["confusion"] == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    # F1: a = 2*1*0.5/1.5 = 0.667, b = 2*0.5*1/1.5 = 0.667, c = 1
    assert r["f1"] == {"a": 0.6667, "b": 0.6667, "c": 1.0}
    assert r["macro_f1"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)


def test_ece_zero_when_confidence_matches_accuracy() -> None:
    probs = np.array([[0.75, 0.25]] * 4)
    assert expected_calibration_error(probs, np.array([0, 0, 0, 1])) == pytest.approx(0.0)
    assert expected_calibration_error(probs, np.array([1, 1, 1, 1])) == pytest.approx(0.75)


@pytest.mark.parametrize(("sharpen", "expect_above_one"), [(3.0, True), (1 / 3, False)])
def test_temperature_undoes_over_and_under_confidence(sharpen: float, expect_above_one: bool) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4000, 3)) * 2
    true_p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in true_p])
    distorted = apply_temperature(true_p, 1 / sharpen)  # sharpen > 1: over-confident
    t = fit_temperature(distorted, y)
    assert (t > 1) == expect_above_one
    assert t == pytest.approx(sharpen, rel=0.15)
    assert (apply_temperature(distorted, t).argmax(1) == distorted.argmax(1)).all()
