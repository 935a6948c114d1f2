"""t intervals over seeds, against hand computations."""

import math
import pickle

import numpy as np
import pandas as pd
import pytest

import braintask

T_975_4_DOF = 2.776445  # Student's t, 0.975 quantile, 4 degrees of freedom (tables: 2.776)


def test_five_values_give_the_tabled_t_interval():
    values = [0.8, 0.9, 0.85, 0.95, 0.9]
    # mean 0.88; squared deviations sum to 0.013, so s = sqrt(0.013 / 4)
    s = math.sqrt(0.013 / 4)
    mean, half = braintask.mean_interval(values)
    assert mean == pytest.approx(0.88, abs=1e-12)
    assert half == pytest.approx(T_975_4_DOF * s / math.sqrt(5), rel=1e-6)
    iv = braintask.mean_interval(values)
    assert (iv.low, iv.high, iv.n, iv.confidence) == pytest.approx(
        (0.88 - half, 0.88 + half, 5, 0.95))
    assert type(iv.mean) is float and type(iv.half_width) is float
    assert iv == (iv.mean, iv.half_width) and iv[1] == half and len(iv) == 2
    assert repr(iv).startswith("Interval(mean=0.88") and "n=5, confidence=0.95)" in repr(iv)
    with pytest.raises(AttributeError, match="read-only"):
        iv.low = 0.0
    again = pickle.loads(pickle.dumps(iv))
    assert again == iv and (again.low, again.high, again.n) == (iv.low, iv.high, iv.n)


def test_other_confidence_and_two_values():
    # t(0.95 quantile, 4 dof) = 2.131847; t(0.975, 1 dof) = 12.706205
    _, half90 = braintask.mean_interval([1.0, 2.0, 3.0, 4.0, 5.0], confidence=0.90)
    assert half90 == pytest.approx(2.131847 * math.sqrt(2.5) / math.sqrt(5), rel=1e-6)
    mean, half = braintask.mean_interval(np.array([0.8, 0.9]))
    assert (mean, half) == pytest.approx((0.85, 12.706205 * math.sqrt(0.005) / math.sqrt(2)),
                                         rel=1e-6)
    assert braintask.mean_interval([0.5, 0.5, 0.5]).half_width == 0.0


def test_bounded_clips_the_ends_and_keeps_the_half_width():
    values = [0.97, 1.0, 0.94]
    free = braintask.mean_interval(values)
    assert free.high > 1.0  # the symmetric interval claims accuracies above 1
    clipped = braintask.mean_interval(values, bounded=(0, 1))
    assert clipped.high == 1.0 and clipped.low == pytest.approx(free.low)
    assert (clipped.mean, clipped.half_width) == (free.mean, free.half_width)
    with pytest.raises(ValueError, match=r"values must lie within bounded=\(0, 1\), got \[1.2\]"):
        braintask.mean_interval([0.9, 1.2], bounded=(0, 1))


@pytest.mark.parametrize("values, kwargs, error, words", [
    ([0.9], {}, ValueError, "at least 2 numbers for an interval, got 1"),
    ([], {}, ValueError, "at least 2 numbers"),
    ([0.9, float("nan"), 0.8], {}, ValueError, r"finite; positions \[1\] hold \[nan\]"),
    ([0.9, float("inf")], {}, ValueError, "finite"),
    ([[0.9, 0.8]], {}, ValueError, r"one-dimensional .* got shape \(1, 2\)"),
    ("0.9", {}, TypeError, "sequence of numbers"),
    (["a", "b"], {}, TypeError, "sequence of numbers"),
    ([0.9, 0.8], {"confidence": 95}, ValueError, "strictly between 0 and 1, got 95"),
    ([0.9, 0.8], {"confidence": 1.0}, ValueError, "strictly between 0 and 1"),
    ([0.9, 0.8], {"bounded": (1, 0)}, ValueError, "low < high"),
    ([0.9, 0.8], {"bounded": 1}, TypeError, "pair"),
])
def test_bad_input_is_named(values, kwargs, error, words):
    with pytest.raises(error, match=words):
        braintask.mean_interval(values, **kwargs)


def test_interval_table_groups_a_frame():
    runs = pd.DataFrame({"model": ["a", "b", "a", "b", "b"], "lr": [1, 1, 1, 2, 2],
                         "acc": [0.8, 0.6, 0.9, 0.7, 0.8]})
    table = braintask.interval_table(runs, "model", "acc")
    assert table.index.name == "model" and table.index.tolist() == ["a", "b"]
    assert list(table.columns) == ["n", "mean", "half_width", "low", "high"]
    assert table["n"].tolist() == [2, 3]
    # a: mean 0.85, s = sqrt(0.005); b: mean 0.7, s = 0.1; t(1 dof) 12.706205, t(2 dof) 4.302653
    assert table.loc["a", "half_width"] == pytest.approx(12.706205 * math.sqrt(0.005 / 2),
                                                         rel=1e-6)
    assert table.loc["b", "half_width"] == pytest.approx(4.302653 * 0.1 / math.sqrt(3), rel=1e-6)
    assert table.loc["b", "mean"] == pytest.approx(0.7)
    bounded = braintask.interval_table(runs, "model", "acc", bounded=(0, 1))
    assert bounded.loc["a", "high"] == 1.0 and table.loc["a", "high"] > 1.0
    by_two = braintask.interval_table(runs[runs.model == "a"], ["model", "lr"], "acc",
                                      confidence=0.9)
    assert by_two.index.names == ["model", "lr"] and by_two.index.tolist() == [("a", 1)]
    # t(0.95 quantile, 1 dof) = 6.313752
    assert by_two.loc[("a", 1), "half_width"] == pytest.approx(6.313752 * math.sqrt(0.0025),
                                                               rel=1e-6)
    with pytest.raises(ValueError,
                       match=r"group \('b', 1\) of 'acc': values must hold at least 2"):
        braintask.interval_table(runs, ["model", "lr"], "acc")
    with pytest.raises(ValueError, match=r"columns \['seed'\] are not in frame"):
        braintask.interval_table(runs, "seed", "acc")
    with pytest.raises(TypeError, match="frame must be a pandas.DataFrame, got dict"):
        braintask.interval_table({"acc": [1]}, "model", "acc")
