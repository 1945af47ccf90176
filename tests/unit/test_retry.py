from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from textgate.domain.retry import RetryPolicy


def test_delays_grow_by_the_factor() -> None:
    policy = RetryPolicy()
    assert [policy.next_delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 32, 64, 128]


def test_delays_are_capped() -> None:
    policy = RetryPolicy(max_attempts=20, base_delay=10, factor=3, max_delay=100)
    assert [policy.next_delay(n) for n in (1, 2, 3, 4, 10)] == [10, 30, 90, 100, 100]


def test_gives_up_after_max_attempts() -> None:
    policy = RetryPolicy(max_attempts=3)
    assert policy.next_delay(2) is not None
    assert policy.next_delay(3) is None
    assert policy.next_delay(4) is None
    assert RetryPolicy(max_attempts=1).next_delay(1) is None


def test_jitter_bounds() -> None:
    policy = RetryPolicy(base_delay=10, jitter=0.1)
    assert policy.next_delay(1, rand=0.0) == pytest.approx(9.0)
    assert policy.next_delay(1, rand=1.0) == pytest.approx(11.0)
    assert policy.next_delay(1, rand=0.5) == pytest.approx(10.0)
    assert RetryPolicy(base_delay=10, jitter=0).next_delay(1, rand=0.0) == 10


def test_jitter_applies_to_the_capped_delay() -> None:
    policy = RetryPolicy(max_attempts=50, max_delay=600, jitter=0.1)
    assert policy.next_delay(30, rand=1.0) == pytest.approx(660.0)
    assert policy.next_delay(30, rand=0.0) == pytest.approx(540.0)


def test_retry_after_is_a_floor() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(1, retry_after=30) == 30
    assert policy.next_delay(1, retry_after=0.5) == 2
    assert policy.next_delay(7, retry_after=100) == 128
    # The provider's wait wins over the cap.
    assert policy.next_delay(7, retry_after=3600) == 3600
    # But never over giving up.
    assert policy.next_delay(8, retry_after=5) is None


def test_huge_attempt_counts_do_not_overflow() -> None:
    policy = RetryPolicy(max_attempts=10_000, max_delay=60)
    assert policy.next_delay(5_000) == 60


@pytest.mark.parametrize(
    "fields",
    [
        {"max_attempts": 0},
        {"base_delay": -1},
        {"max_delay": -1},
        {"base_delay": float("nan")},
        {"max_delay": float("inf")},
        {"factor": 0.5},
        {"jitter": -0.1},
        {"jitter": 1.0},
    ],
)
def test_invalid_policies_refused(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        RetryPolicy(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(("attempts", "rand"), [(0, 0.5), (1, -0.1), (1, 1.1)])
def test_invalid_arguments_refused(attempts: int, rand: float) -> None:
    with pytest.raises(ValueError):
        RetryPolicy().next_delay(attempts, rand=rand)


@settings(max_examples=300, database=None)
@given(
    attempts=st.integers(min_value=1, max_value=7),
    rand=st.floats(min_value=0, max_value=1),
    retry_after=st.none() | st.floats(min_value=0, max_value=10_000),
)
def test_delay_within_bounds(attempts: int, rand: float, retry_after: float | None) -> None:
    policy = RetryPolicy()
    delay = policy.next_delay(attempts, retry_after=retry_after, rand=rand)
    assert delay is not None
    nominal = min(600.0, 2.0 * 2.0 ** (attempts - 1))
    assert delay >= nominal * 0.9 - 1e-9
    assert delay <= max(nominal * 1.1, retry_after or 0) + 1e-9
    if retry_after is not None:
        assert delay >= retry_after
