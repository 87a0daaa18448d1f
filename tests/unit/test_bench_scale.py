"""bench/scale.py's pure helpers: the spread, the flatness verdict, the sample, the slice order."""
import pytest

from bench import scale


def test_spread_is_max_over_min_minus_one():
    assert scale.spread([100, 100, 100]) == 0
    assert scale.spread([100, 104, 102]) == pytest.approx(0.04)
    assert scale.spread([0, 5]) == float("inf")


def test_flat_takes_the_slowest_over_the_fastest_size_over_the_whole_run():
    rounds = [{10: 100.0, 100: 95.0, 1000: 91.0},  # 1 M at 0.91 of 10 k, min/max 0.91
              {10: 100.0, 100: 105.0, 1000: 92.0},  # faster at 100 k: min/max 92/105 = 0.876
              {10: 90.0, 100: 92.0, 1000: 93.0}]  # min/max 0.968
    verdict = scale.flat_verdict(rounds)
    assert verdict["flat_rounds"] == [0.91, 0.876, 0.968]  # per round, for information
    # The run: 10 k 96.67, 100 k 97.33, 1 M 92.0 req/s on average: min/max 0.945.
    assert verdict["flat"] == 0.945 and verdict["pass"]
    assert verdict["over_smallest"] == {"100": 1.007, "1000": 0.952}
    slow = scale.flat_verdict([{10: 100.0, 1000: 89.0}, {10: 100.0, 1000: 95.0}])
    assert slow["flat"] == 0.92 and slow["pass"]
    slower = scale.flat_verdict([{10: 100.0, 1000: 89.0}])
    assert slower["flat"] == 0.89 and not slower["pass"]


def test_the_sample_spreads_over_the_whole_population():
    assert scale.sample_indices(1_000_000, 4) == [0, 250_000, 500_000, 750_000]
    assert scale.sample_indices(5, 10) == [0, 1, 2, 3, 4]  # capped at the size
    assert len(set(scale.sample_indices(20_000, 2_000))) == 2_000


def test_rounds_rotate_the_order_of_the_sizes():
    assert [scale.rotated([1, 2, 3], k) for k in range(4)] == [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 2, 3]]


def test_size_labels():
    assert [scale.size_label(n) for n in (10_000, 100_000, 1_000_000, 2_500, 1_234)] == \
        ["10 k", "100 k", "1 M", "2.5 k", "1,234"]
