"""A throughput cap shared by every session of a provider: PDUs leave at most `rate` a
second, evenly spaced (no burst beyond one)."""

from __future__ import annotations

import asyncio


class Pacer:
    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._next = 0.0

    async def wait(self) -> None:
        """Return when the caller may send its next PDU (each call takes one slot)."""
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)
