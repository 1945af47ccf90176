"""The pace of submits, shared by every session of a provider: at most `rate` PDUs a
second, evenly spaced (no burst beyond one), and none at all during a hold (after the SMSC
answered ESME_RTHROTTLED). A rate of 0 sets no cap; holds still apply."""

from __future__ import annotations

import asyncio


class Pacer:
    def __init__(self, rate: float = 0.0) -> None:
        if rate < 0:
            raise ValueError("rate must not be negative")
        self._interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0

    async def wait(self) -> None:
        """Return when the caller may send its next PDU (each call takes one slot)."""
        now = asyncio.get_running_loop().time()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)

    def hold(self, seconds: float) -> None:
        """No PDU leaves for `seconds` from now (a later hold already set is kept)."""
        self._next = max(self._next, asyncio.get_running_loop().time() + seconds)
