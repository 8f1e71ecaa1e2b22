"""Request latencies tallied per bucket and added at flush time equal one ``observe`` each."""

from __future__ import annotations

import random
from bisect import bisect_left

from prometheus_client import CollectorRegistry, Histogram

from mp_api.metrics import _LATENCY_BUCKETS, _UPPER_BOUNDS, LATENCY, add_observations


def _samples(registry: CollectorRegistry) -> list[tuple[str, tuple[tuple[str, str], ...], float]]:
    return sorted(
        (sample.name, tuple(sorted(sample.labels.items())), sample.value)
        for metric in registry.collect()
        for sample in metric.samples
        if not sample.name.endswith("_created")
    )


def test_tallied_latencies_give_the_samples_of_one_observe_per_request() -> None:
    values = [random.Random(7).expovariate(200) for _ in range(500)]
    values += [*_LATENCY_BUCKETS, 0.0, 7.5, 1e9]  # each bound itself, nothing, past the last
    observed, tallied = CollectorRegistry(), CollectorRegistry()
    one_by_one = Histogram("t", "t", ["route"], buckets=_LATENCY_BUCKETS, registry=observed)
    batched = Histogram("t", "t", ["route"], buckets=_LATENCY_BUCKETS, registry=tallied)
    for value in values:
        one_by_one.labels("/predict").observe(value)
    # The middleware's rule, in two flushes.
    for part in (values[:300], values[300:]):
        per_bucket = [0] * len(_UPPER_BOUNDS)
        for value in part:
            per_bucket[bisect_left(_UPPER_BOUNDS, value)] += 1
        add_observations(batched.labels("/predict"), per_bucket, sum(part))
    got, expected = _samples(tallied), _samples(observed)
    assert [s[:2] for s in got] == [s[:2] for s in expected]
    for (name, labels, value), (_, _, wanted) in zip(got, expected, strict=True):
        assert abs(value - wanted) <= 1e-9 * max(1.0, abs(wanted)), (name, labels)
    # The served histogram has exactly the bounds the middleware files requests under.
    assert tuple(LATENCY._upper_bounds) == _UPPER_BOUNDS
