"""The console provider: prints each message instead of sending it.

It is the default until a real provider is configured, so the whole API can be tried at
once. Every line says plainly that nothing was delivered. Numbers are masked, and the text
of verification messages is not printed (it holds the code)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from textgate.delivery.base import Health, Outgoing, ReceiptSink, Submitted
from textgate.domain.phones import mask_phone


class ConsoleProvider:
    def __init__(self, name: str = "console", *, stream: TextIO | None = None) -> None:
        self.name = name
        self._stream = stream
        self.sent = 0

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        self.sent += 1
        stream = self._stream or sys.stdout
        body = "<verification code withheld>" if message.secret else message.text
        stream.write(
            f"[console provider: NOT DELIVERED] message {message.message_id} to "
            f"{mask_phone(message.to)} ({message.segments} part(s), {message.encoding}): "
            f"{body!r}\n"
        )
        return Submitted(provider_message_id=f"console-{message.message_id}")

    async def submit_many(self, messages: Sequence[Outgoing]) -> list[Submitted | BaseException]:
        return [await self.submit(m) for m in messages]

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=True, detail={"sent": str(self.sent)})
