"""`PartsInbox`: puts back together the parts of a long message that an HTTP provider posts
one webhook a part (Vonage's inbound SMS with `concat=true`), on their way to a sink.

It is the SMPP inbox's machinery (`delivery.smpp.inbox.InboundParts`), with the same buffer
(`delivery.smpp.concat.Reassembler`) and rules: a message of its own goes at once; parts wait, and
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

from textgate.delivery.base import Inbound, ReceiptSink
from textgate.delivery.smpp import concat
from textgate.delivery.smpp.inbox import InboundParts

_UCS2 = 8


class PartsInbox(InboundParts):
    """Feeds the messages of inbound webhooks."""

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
        await self.add(sink, key, part.seq, body)
