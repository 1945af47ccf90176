"""Throughput caps per provider (`[providers.NAME] throughput = N` messages a second, 0 or
absent: none), as token buckets the dispatcher draws from before each submit.

A bucket holds up to one second's worth of tokens (at least one) and refills at the cap's
rate; a submit of n messages takes n tokens, waiting for them when the bucket is short.
Caps hold per worker process: with several workers, each keeps to the cap.

A capped dispatcher holds (claims ahead) at most a second of its slowest capped provider's
sends (`in_flight_limit`): a message waiting for tokens must not outlast its lease, and a
bulk job's cancel cannot take back messages a worker holds.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from textgate.delivery.http import android

T = TypeVar("T")
R = TypeVar("R")
#: Clocks are floats: 0.9999999999995 tokens is one token.
_EPSILON = 1e-9
#: Seconds of a capped provider's sends a dispatcher holds at most.
HORIZON = 1.0


class TokenBucket:
    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("a token bucket's rate must be positive")
        self.rate = rate
        #: Tokens the bucket holds when full: a second's worth by default, at least one.
        self.burst = max(1.0, rate if burst is None else burst)
        self._clock = clock
        self._tokens = self.burst
        self._at = clock()

    def _refill(self) -> None:
        now = self._clock()
        if now > self._at:
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take_up_to(self, n: int) -> int:
        """Takes as many whole tokens as there are, up to `n`; answers how many."""
        self._refill()
        taken = min(n, math.floor(self._tokens + _EPSILON))
        self._tokens -= taken
        return max(taken, 0)

    def wait_time(self) -> float:
        """Seconds until the next whole token."""
        self._refill()
        return max(0.0, (1.0 - self._tokens) / self.rate)


#: Caps a provider type has unless its table sets `throughput`: a phone sends about one SMS
#: a second, and carriers flag a phone that sends much faster.
DEFAULT_CAPS = {"android": android.DEFAULT_THROUGHPUT}


def cap_of(config: Mapping[str, Any]) -> Any:
    """A provider table's `throughput` (messages a second; 0: no cap), or its type's default."""
    return config.get("throughput", DEFAULT_CAPS.get(str(config.get("type", "")), 0))


def caps_from(providers: Mapping[str, Mapping[str, Any]]) -> dict[str, float]:
    """The throughput caps of the configured providers; `ValueError` naming a bad one."""
    caps: dict[str, float] = {}
    for name, config in providers.items():
        value = cap_of(config)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"provider {name!r}: throughput must be a number (messages/second)")
        if value < 0 or not math.isfinite(value):
            raise ValueError(f"provider {name!r}: throughput must be 0 (no cap) or positive")
        if value > 0:
            caps[name] = float(value)
    return caps


class Throttle:
    """The buckets of the capped providers, by provider name."""

    def __init__(
        self,
        caps: Mapping[str, float],
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._buckets = {name: TokenBucket(rate, clock=clock) for name, rate in caps.items()}
        self._sleep = sleep

    @property
    def capped(self) -> bool:
        return bool(self._buckets)

    def in_flight_limit(self, lease_seconds: float) -> int | None:
        """Messages a dispatcher may hold: what its slowest capped provider sends in a
        second, or in half a lease if that is shorter. None without caps.

        Held messages are `sending`: waiting past their lease, they would be claimed again;
        and a bulk job's cancel cannot take them back. A second's worth keeps the provider
        busy all the same."""
        if not self._buckets:
            return None
        slowest = min(bucket.rate for bucket in self._buckets.values())
        return max(1, math.floor(slowest * min(HORIZON, lease_seconds / 2)))

    async def paced(
        self,
        provider: str,
        items: Sequence[T],
        submit: Callable[[Sequence[T]], Awaitable[list[R]]],
    ) -> list[R]:
        """`submit(items)`, in parts no faster than the provider's cap allows."""
        bucket = self._buckets.get(provider)
        if bucket is None:
            return await submit(items)
        answers: list[R] = []
        done = 0
        while done < len(items):
            n = bucket.take_up_to(len(items) - done)
            if n == 0:
                await self._sleep(bucket.wait_time())
                continue
            answers.extend(await submit(items[done : done + n]))
            done += n
        return answers
