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
        [answer] = await self.submit_many([message])
        assert isinstance(answer, Submitted)
        return answer

    async def submit_many(self, messages: Sequence[Outgoing]) -> list[Submitted | BaseException]:
        """One write for the whole batch: a line each."""
        (self._stream or sys.stdout).write("".join(map(_line, messages)))
        self.sent += len(messages)
        return [Submitted(provider_message_id=f"console-{m.message_id}") for m in messages]

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=True, detail={"sent": str(self.sent)})


def _line(message: Outgoing) -> str:
    body = "<verification code withheld>" if message.secret else repr(message.text)
    return (
        f"[console provider: NOT DELIVERED] message {message.message_id} to "
        f"{mask_phone(message.to)} ({message.segments} part(s), {message.encoding}): {body}\n"
    )
