"""`PartsInbox`: puts back together the parts of a long message that an HTTP provider posts
one webhook a part (Vonage's inbound SMS with `concat=true`), on their way to a sink.

It keeps the rules of the SMPP inbox (`delivery.smpp.inbox`), with the same buffer
(`delivery.smpp.concat.Reassembler`): a message of its own goes at once; parts wait, and
the whole message goes once when its last part comes; a part sent again is ignored; if the
rest never comes, what did goes once the timeout has passed, with a "[part N of T
missing]" marker for each part that did not. Each part's text is held as UTF-16 (the
buffer's UCS-2 coding), so the parts join whatever alphabet they were sent in.

The timeout is checked whenever a part comes and, while the provider runs with a sink,
every few seconds; a provider that stops hands over what it holds. Parts are held in
memory only: a process that dies loses those of messages not yet complete, and parts
that reach different processes are not joined.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from textgate.delivery.base import Inbound, ReceiptSink
from textgate.delivery.smpp import concat
from textgate.domain.phones import mask_phone

log = logging.getLogger("textgate.delivery.http")

_UCS2 = 8


class PartsInbox:
    def __init__(
        self,
        provider: str,
        *,
        timeout: float = concat.TIMEOUT,
        max_groups: int = concat.MAX_GROUPS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._provider = provider
        self._parts = concat.Reassembler(timeout=timeout, max_groups=max_groups)
        self._clock = clock

    @property
    def waiting(self) -> int:
        """Messages waiting for more parts."""
        return len(self._parts)

    @property
    def timeout(self) -> float:
        return self._parts.timeout

    async def accept(self, sink: ReceiptSink, message: Inbound, part: concat.Concat | None) -> None:
        """One webhook's message (`part`: which part of a long one it is). Raises what the
        sink raises when this webhook was the one to hand a message over; the message then
        waits again, so the provider sending it again hands it over."""
        await self.expire(sink)
        if part is None or part.total == 1:
            await sink.inbound(message)
            return
        key = concat.GroupKey(
            self._provider, message.from_number, message.to, part.reference, part.total
        )
        body = concat.Part(_UCS2, message.text.encode("utf-16-be"))
        for ready in self._parts.add(key, part.seq, body, self._clock()):
            if ready.key == key:
                await self._hand_over(sink, ready)
            else:
                await self._hand_over_quietly(sink, ready)

    async def expire(self, sink: ReceiptSink) -> None:
        """Hand over the messages whose time is up."""
        for ready in self._parts.expire(self._clock()):
            await self._hand_over_quietly(sink, ready)

    async def sweep(self, sink: ReceiptSink) -> None:
        """Hand over the messages whose time is up, until cancelled."""
        while True:
            await asyncio.sleep(min(1.0, self._parts.timeout / 4))
            await self.expire(sink)

    async def flush(self, sink: ReceiptSink) -> None:
        """Hand over everything still waiting (the provider is stopping)."""
        for ready in self._parts.drain(self._clock()):
            await self._hand_over_quietly(sink, ready, keep=False)

    async def _hand_over(
        self, sink: ReceiptSink, ready: concat.Reassembled, *, keep: bool = True
    ) -> None:
        if ready.missing:
            log.warning(
                "concatenated message from %s to %s %s with %d of %d parts",
                mask_phone(ready.key.from_number),
                mask_phone(ready.key.to),
                ready.outcome.value.replace("_", " "),
                len(ready.parts),
                ready.key.total,
                extra={
                    "action": "inbound_concat_incomplete",
                    "provider": ready.key.provider,
                    "outcome": ready.outcome.value,
                    "missing": len(ready.missing),
                },
            )
        key = ready.key
        try:
            await sink.inbound(Inbound(key.provider, key.from_number, key.to, ready.text))
        except BaseException:
            if keep:
                self._parts.restore(ready, self._clock())
            raise

    async def _hand_over_quietly(
        self, sink: ReceiptSink, ready: concat.Reassembled, *, keep: bool = True
    ) -> None:
        """Hand over a message no webhook waits for: a failure is logged, and the message
        waits for another timeout (`keep`) or is lost."""
        try:
            await self._hand_over(sink, ready, keep=keep)
        except Exception as err:
            # Only the error's type: a database error's text may quote the message.
            log.warning(
                "concatenated message from %s to %s could not be handed over (%s)%s",
                mask_phone(ready.key.from_number),
                mask_phone(ready.key.to),
                type(err).__name__,
                "; it waits again" if keep else " and is lost",
                extra={
                    "action": "inbound_concat_retry" if keep else "inbound_concat_lost",
                    "provider": ready.key.provider,
                },
            )
