"""The benchmark suite's arithmetic: percentiles, spreads, ratios and whether a target is met."""

from benchmarks.render import render
from benchmarks.stats import Figure, Result, Spread, percentile


def test_nearest_rank_percentiles():
    samples = list(range(1, 101))  # 1..100
    assert percentile(samples, 50) == 50
    assert percentile(samples, 99) == 99
    assert percentile(samples, 100) == 100
    assert percentile([7.0], 99) == 7.0
    assert percentile(list(reversed(samples)), 95) == 95


def test_spread_is_median_min_max():
    spread = Spread.of([3, 1, 2, 10])
    assert (spread.median, spread.low, spread.high) == (2.5, 1, 10)


def test_latency_ratio_target_is_an_upper_bound():
    figure = Figure("p50", "ms", Spread.of([12, 13, 14]), floor=Spread.of([10, 10, 10]), ratio_target=1.25)
    assert figure.ratio == 1.3
    assert figure.met() is False
    figure.ratio_target = 1.5
    assert figure.met() is True


def test_rate_targets_are_lower_bounds_and_all_must_hold():
    figure = Figure("rebuild", "ev/s", Spread.of([120_000, 90_000, 110_000]), floor=Spread.of([200_000] * 3),
                    better="higher", ratio_target=0.4, absolute_target=100_000)
    assert figure.met() is True  # 110k ≥ 100k and 0.55 ≥ 0.4
    figure.absolute_target = 150_000
    assert figure.met() is False
    assert Figure("x", "ms", Spread.of([1, 2, 3])).met() is None  # nothing to meet


def test_render_shows_every_figure_with_its_ratio():
    result = Result("append", "Event append")
    result.add(Figure("1/tx", "ev/s", Spread.of([600, 700, 650]), floor=Spread.of([1000] * 3), floor_name="raw",
                      better="higher", ratio_target=0.6))
    report = {"run": "full-x", "started_at": "2026-11-21T08:00:00", "options": {"reps": 3},
              "machine": {"cpu": "cpu", "cores": 2, "memory_gb": 4, "load_average_at_start": [0, 0, 0],
                          "python": "3.11", "versions": {"temporalio": "1"}},
              "results": [result.as_dict()]}
    text = render(report)
    assert "| 1/tx (ev/s) | 650.0 [600.0–700.0] | raw: 1,000.0 [1,000.0–1,000.0] | 0.65× | ≥ 0.6× floor | met |" in text
