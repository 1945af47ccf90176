"""`Inbox`: the messages handsets send through one SMPP provider, on their way to the sink.

A message of its own goes to the sink at once. The parts of a long one wait in a
`concat.Reassembler` (shared by the provider's binds) and the whole message goes once, when
its last part comes; if the rest never comes, what did goes after the timeout, with a
"[part N of T missing]" marker for each part that did not, rather than being lost.

Every part is answered (deliver_sm_resp) as it comes. The part that completes a message is
answered after the sink has the whole message: if the sink fails, the message waits again
and the SMSC's error answer makes it send that part again. The parts before it are held in
memory only: a process that dies loses them, and one that stops hands over what it holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from textgate.delivery.base import Inbound, ReceiptSink
from textgate.delivery.smpp import concat, pdu, receipts
from textgate.domain.phones import mask_phone

log = logging.getLogger("textgate.delivery.smpp")


class InboundParts:
    """The parts of long inbound messages on their way to a sink, for any provider: a
    `concat.Reassembler` with the handing over, the timeout sweep and the logging around it.
    `Inbox` feeds it deliver_sm PDUs; `delivery.http.inbox.PartsInbox` webhooks."""

    #: The start of the `action` of its log lines.
    ACTION = "inbound_concat"

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

    async def add(
        self, sink: ReceiptSink, key: concat.GroupKey, seq: int, part: concat.Part
    ) -> None:
        """One part of a long message. Raises what the sink raises when this part was the
        one to hand its message over (the message then waits again)."""
        for ready in self._parts.add(key, seq, part, self._clock()):
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
        interval = min(1.0, self._parts.timeout / 4)
        while True:
            await asyncio.sleep(interval)
            await self.expire(sink)

    async def flush(self, sink: ReceiptSink) -> None:
        """Hand over everything still waiting (the provider is stopping)."""
        for ready in self._parts.drain(self._clock()):
            await self._hand_over_quietly(sink, ready, keep=False)

    async def _hand_over(
        self, sink: ReceiptSink, ready: concat.Reassembled, *, keep: bool = True
    ) -> None:
        """Give the sink one message; if it fails, the message waits again (`keep`)."""
        if ready.missing:
            self._log_incomplete(ready)
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
        """Hand over a message no caller waits for: a failure is logged, and the message
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
                    "action": f"{self.ACTION}_retry" if keep else f"{self.ACTION}_lost",
                    "provider": ready.key.provider,
                },
            )

    def _log_incomplete(self, ready: concat.Reassembled) -> None:
        log.warning(
            "concatenated message from %s to %s %s with %d of %d parts",
            mask_phone(ready.key.from_number),
            mask_phone(ready.key.to),
            ready.outcome.value.replace("_", " "),
            len(ready.parts),
            ready.key.total,
            extra={
                "action": f"{self.ACTION}_incomplete",
                "provider": ready.key.provider,
                "outcome": ready.outcome.value,
                "missing": len(ready.missing),
            },
        )


class Inbox(InboundParts):
    """Feeds deliver_sm PDUs that are not receipts."""

    ACTION = "smpp_concat"

    async def accept(self, sink: ReceiptSink, message: pdu.ShortMessage) -> None:
        """One deliver_sm that is not a receipt. Raises what the sink raises when this part
        was the one to hand a message over."""
        info, body = concat.split(message)
        from_number = receipts.stored_address(message.source_addr, message.source_ton)
        to = receipts.stored_address(message.destination_addr, message.dest_ton)
        if info is None or info.total == 1:
            text = receipts.decode_text(message.data_coding, body)
            await sink.inbound(Inbound(self._provider, from_number, to, text))
            return
        key = concat.GroupKey(self._provider, from_number, to, info.reference, info.total)
        await self.add(sink, key, info.seq, concat.Part(message.data_coding, body))
