"""Throughput caps: the token bucket on an injected clock, and the caps read from settings."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from textgate.worker.throttle import Throttle, TokenBucket, caps_from


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_bucket_starts_full_then_refills_at_its_rate() -> None:
    clock = Clock()
    bucket = TokenBucket(10, clock=clock)
    assert bucket.take_up_to(25) == 10  # a second's worth at once
    assert bucket.take_up_to(5) == 0
    assert bucket.wait_time() == pytest.approx(0.1)
    clock.now += 0.25
    assert bucket.take_up_to(5) == 2  # 2.5 tokens: two whole ones
    clock.now += 0.05
    assert bucket.take_up_to(5) == 1  # the half left plus half a new one
    clock.now += 60
    assert bucket.take_up_to(100) == 10  # never more than the burst


def test_over_any_window_no_more_than_rate_times_time_plus_burst() -> None:
    clock = Clock()
    bucket = TokenBucket(50, clock=clock)
    taken = []
    for _ in range(2000):  # 2000 steps of 7 ms: 14 s
        taken.append(bucket.take_up_to(1000))
        clock.now += 0.007
    for start in range(0, 2000, 100):
        for end in range(start + 1, 2001, 150):
            window = (end - start) * 0.007
            assert sum(taken[start:end]) <= 50 * window + 50 + 1e-9
    assert sum(taken) == pytest.approx(50 * 14 + 50, abs=2)


def test_slow_rate_holds_one_token() -> None:
    clock = Clock()
    bucket = TokenBucket(0.5, clock=clock)
    assert bucket.take_up_to(3) == 1
    assert bucket.wait_time() == pytest.approx(2.0)
    clock.now += 1.9
    assert bucket.take_up_to(3) == 0
    clock.now += 0.1
    assert bucket.take_up_to(3) == 1


def test_caps_from_provider_tables() -> None:
    caps = caps_from(
        {
            "smsc": {"type": "smpp", "throughput": 100},
            "console": {"type": "console"},
            "z": {"throughput": 0},
        }
    )
    assert caps == {"smsc": 100.0}
    for bad in (-1, "fast", True, float("inf")):
        with pytest.raises(ValueError, match="throughput"):
            caps_from({"p": {"throughput": bad}})


def test_in_flight_limit_is_a_second_or_half_a_lease() -> None:
    throttle = Throttle({"a": 100, "b": 10})
    assert throttle.in_flight_limit(60) == 10  # the slowest: 10/s, for a second
    assert throttle.in_flight_limit(1) == 5  # half a lease is shorter
    assert throttle.in_flight_limit(0.01) == 1
    assert Throttle({"a": 2000}).in_flight_limit(60) == 2000
    assert Throttle({}).in_flight_limit(60) is None


async def test_paced_submits_in_parts_the_bucket_allows() -> None:
    clock = Clock()

    async def sleep(seconds: float) -> None:
        clock.now += seconds

    throttle = Throttle({"p": 4}, clock=clock, sleep=sleep)
    parts: list[list[int]] = []

    async def submit(items: Sequence[int]) -> list[int]:
        parts.append(list(items))
        return [i * 10 for i in items]

    answers = await throttle.paced("p", list(range(10)), submit)
    assert answers == [i * 10 for i in range(10)]
    assert parts == [[0, 1, 2, 3], [4], [5], [6], [7], [8], [9]]
    assert clock.now == pytest.approx(1000 + 6 * 0.25)
    free = await throttle.paced("uncapped", [1, 2], submit)
    assert free == [10, 20] and parts[-1] == [1, 2]


def test_a_phone_is_capped_by_default_and_its_table_may_say_otherwise() -> None:
    caps = caps_from(
        {
            "phone": {"type": "android"},
            "fast-phone": {"type": "android", "throughput": 3},
            "uncapped-phone": {"type": "android", "throughput": 0},
            "carrier": {"type": "smpp"},
        }
    )
    assert caps == {"phone": 1.0, "fast-phone": 3.0}
