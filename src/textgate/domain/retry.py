"""When to try a message again after a transient provider error.

A pure policy: the worker asks `next_delay` after each failed attempt and either schedules
the message that many seconds later or, on None, fails it. The randomness comes in as an
argument so tests can pin it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped, for at most `max_attempts` attempts."""

    #: Attempts in all, the first included; after that many the message fails.
    max_attempts: int = 8
    #: Seconds to wait after the first failed attempt.
    base_delay: float = 2.0
    #: Each further wait is this many times the one before.
    factor: float = 2.0
    #: No computed wait is longer (a provider's own retry_after may be).
    max_delay: float = 600.0
    #: The wait moves up or down by at most this fraction, so retries spread out.
    jitter: float = 0.1

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, not {self.max_attempts}")
        for name in ("base_delay", "max_delay"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            raise ValueError(f"factor must be a finite number >= 1, not {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter must be at least 0 and below 1, not {self.jitter}")

    def next_delay(
        self, attempts: int, *, retry_after: float | None = None, rand: float = 0.5
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        `attempts`: attempts made so far (1 after the first failure). `retry_after`: the
        wait the provider asked for, if any; the result is never shorter. `rand`: a uniform
        random number in [0, 1]; 0.5 means no jitter.
        """
        if attempts < 1:
            raise ValueError(f"attempts must be at least 1, not {attempts}")
        if not 0 <= rand <= 1:
            raise ValueError(f"rand must be in [0, 1], not {rand}")
        if attempts >= self.max_attempts:
            return None
        try:
            delay = min(self.max_delay, self.base_delay * self.factor ** (attempts - 1))
        except OverflowError:
            delay = self.max_delay
        delay *= 1 + self.jitter * (2 * rand - 1)
        if retry_after is not None and retry_after > delay:
            return float(retry_after)
        return delay
