"""One bound SMPP connection: the bind, a read loop, enquire_link keep-alive, a window of
asynchronous submit_sm, and deliver_sm answered after a handler has seen it.

A session lives from `Session.open` (connect and bind) until `run` returns the reason the
link ended. When it ends, every request still waiting for its response fails with
`LinkClosed`, so no caller waits forever and none is told a submit went when it may not have.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from textgate.delivery.smpp import pdu
from textgate.delivery.smpp.pacing import Pacer
from textgate.delivery.smpp.pdu import Command, Pdu, Status

log = logging.getLogger("textgate.delivery.smpp")

#: Answers a deliver_sm: returns the command_status of its deliver_sm_resp.
DeliverHandler = Callable[[pdu.ShortMessage], Awaitable[int]]

_MAX_SEQUENCE = 0x7FFFFFFF


class Role(enum.StrEnum):
    TRANSCEIVER = "transceiver"
    TRANSMITTER = "transmitter"
    RECEIVER = "receiver"

    @property
    def sends(self) -> bool:
        return self is not Role.RECEIVER


_BIND = {
    Role.TRANSCEIVER: (Command.BIND_TRANSCEIVER, Command.BIND_TRANSCEIVER_RESP),
    Role.TRANSMITTER: (Command.BIND_TRANSMITTER, Command.BIND_TRANSMITTER_RESP),
    Role.RECEIVER: (Command.BIND_RECEIVER, Command.BIND_RECEIVER_RESP),
}


class LinkClosed(ConnectionError):
    """The connection ended before the response came."""


class BindRefused(Exception):
    """The SMSC answered the bind with an error status."""

    def __init__(self, status: int) -> None:
        super().__init__(pdu.status_name(status))
        self.status = status


@dataclass(frozen=True, slots=True)
class Timing:
    #: Seconds to wait for the TCP connect, a bind_resp, an enquire_link_resp, an unbind_resp.
    response_timeout: float
    #: Seconds of silence on the link before we send enquire_link.
    enquire_link_interval: float


class Session:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        role: Role,
        window: int,
        timing: Timing,
        on_deliver: DeliverHandler,
        pacer: Pacer | None = None,
        label: str = "",
    ) -> None:
        self.role = role
        self.label = label
        self._reader = reader
        self._writer = writer
        self._window = asyncio.Semaphore(window)
        self._timing = timing
        self._on_deliver = on_deliver
        self._pacer = pacer
        self._pending: dict[int, asyncio.Future[Pdu]] = {}
        self._outbox: list[bytes] = []
        self._submits = 0
        self._sequence = 1  # the bind used 1
        self._deliveries: set[asyncio.Task[None]] = set()
        self._last_received = asyncio.get_running_loop().time()
        self._closed: str | None = None

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        bind_body: bytes,
        *,
        role: Role,
        window: int,
        timing: Timing,
        on_deliver: DeliverHandler,
        pacer: Pacer | None = None,
        label: str = "",
    ) -> Session:
        """Connect and bind; `BindRefused`, `OSError`, `TimeoutError` or `PduError` if not."""
        timeout = timing.response_timeout
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=pdu.MAX_LENGTH), timeout
        )
        try:
            request, expected = _BIND[role]
            writer.write(Pdu(request, 0, 1, bind_body).encode())
            response = await asyncio.wait_for(_read_pdu(reader), timeout)
            if response.command_id not in (expected, Command.GENERIC_NACK):
                raise pdu.PduError(f"expected {expected.name}, got 0x{response.command_id:08X}")
            if response.status != Status.ESME_ROK or response.command_id != expected:
                raise BindRefused(response.status or Status.ESME_RBINDFAIL)
        except BaseException:
            writer.close()
            raise
        return cls(
            reader,
            writer,
            role=role,
            window=window,
            timing=timing,
            on_deliver=on_deliver,
            pacer=pacer,
            label=label,
        )

    @property
    def is_open(self) -> bool:
        return self._closed is None

    @property
    def in_flight(self) -> int:
        """submit_sm sent and not yet answered (or waiting for their turn to be sent)."""
        return self._submits

    async def run(self) -> str:
        """Serve the link until it ends; returns why it ended."""
        reading = asyncio.create_task(self._read_loop())
        keeping = asyncio.create_task(self._keep_alive())
        reason = "session stopped"
        try:
            done, _ = await asyncio.wait({reading, keeping}, return_when=asyncio.FIRST_COMPLETED)
            reason = next(iter(done)).result()
        finally:
            for task in (reading, keeping):
                task.cancel()
            await asyncio.gather(reading, keeping, return_exceptions=True)
            self._close(reason)
            with contextlib.suppress(OSError, TimeoutError):
                await asyncio.wait_for(self._writer.wait_closed(), self._timing.response_timeout)
            await self._finish_deliveries()
        return self._closed or reason

    async def submit(self, body: bytes) -> asyncio.Future[Pdu]:
        """Send one submit_sm when the window has room; returns the future of its
        response. Raises `LinkClosed` if the link is (or goes) down first."""
        self._submits += 1
        try:
            await self._window.acquire()
        except BaseException:
            self._submits -= 1
            raise
        try:
            if self._pacer is not None:
                await self._pacer.wait()
            future = self._request(Command.SUBMIT_SM, body)
        except BaseException:
            self._window.release()
            self._submits -= 1
            raise
        future.add_done_callback(self._submit_settled)
        await self._drain()
        return future

    async def unbind(self) -> None:
        """Say goodbye: unbind, wait briefly for unbind_resp, close."""
        if self._closed is None:
            with contextlib.suppress(LinkClosed, TimeoutError, OSError):
                future = self._request(Command.UNBIND, b"")
                await asyncio.wait_for(future, self._timing.response_timeout)
        self._close("unbound")

    # -- inside -----------------------------------------------------------------------

    def _submit_settled(self, _future: asyncio.Future[Pdu]) -> None:
        self._submits -= 1
        self._window.release()

    def _request(self, command: Command, body: bytes) -> asyncio.Future[Pdu]:
        if self._closed is not None:
            raise LinkClosed(self._closed)
        self._sequence = self._sequence % _MAX_SEQUENCE + 1
        sequence = self._sequence
        future: asyncio.Future[Pdu] = asyncio.get_running_loop().create_future()
        self._pending[sequence] = future
        future.add_done_callback(partial(self._forget, sequence))
        self._send(Pdu(command, 0, sequence, body))
        return future

    def _forget(self, sequence: int, _future: asyncio.Future[Pdu]) -> None:
        self._pending.pop(sequence, None)

    async def _drain(self) -> None:
        try:
            await self._writer.drain()
        except (ConnectionError, OSError) as err:
            self._close(f"write failed: {err}")

    def _close(self, reason: str) -> None:
        if self._closed is not None:
            return
        self._flush()
        self._closed = reason
        self._writer.close()
        for future in list(self._pending.values()):
            if not future.done():
                future.set_exception(LinkClosed(reason))

    async def _read_loop(self) -> str:
        try:
            while True:
                message = await _read_pdu(self._reader)
                self._last_received = asyncio.get_running_loop().time()
                if message.is_response:
                    self._on_response(message)
                elif message.command_id == Command.DELIVER_SM:
                    task = asyncio.create_task(self._deliver(message))
                    self._deliveries.add(task)
                    task.add_done_callback(self._deliveries.discard)
                elif message.command_id == Command.ENQUIRE_LINK:
                    self._answer(Command.ENQUIRE_LINK_RESP, message.sequence)
                elif message.command_id == Command.UNBIND:
                    self._answer(Command.UNBIND_RESP, message.sequence)
                    return "unbound by the SMSC"
                else:
                    self._answer(Command.GENERIC_NACK, message.sequence, Status.ESME_RINVCMDID)
        except asyncio.IncompleteReadError:
            return "connection closed by the SMSC"
        except (ConnectionError, OSError) as err:
            return f"connection lost: {err}"
        except pdu.PduError as err:
            return f"unreadable PDU: {err}"

    def _on_response(self, message: Pdu) -> None:
        future = self._pending.get(message.sequence)
        if future is not None and not future.done():
            future.set_result(message)
        elif message.command_id == Command.GENERIC_NACK and message.sequence == 0:
            log.warning(
                "smpp generic_nack without a sequence: %s",
                pdu.status_name(message.status),
                extra={"action": "smpp_generic_nack", "session": self.label},
            )

    def _answer(self, command: Command, sequence: int, status: int = 0, body: bytes = b"") -> None:
        if self._closed is None:
            self._send(Pdu(command, status, sequence, body))

    def _send(self, message: Pdu) -> None:
        """Queue a PDU; the queue goes out in one write at the end of this loop turn, so a
        window's worth of submits or responses costs one system call, not one each."""
        if not self._outbox:
            asyncio.get_running_loop().call_soon(self._flush)
        self._outbox.append(message.encode())

    def _flush(self) -> None:
        if self._outbox and self._closed is None:
            self._writer.write(b"".join(self._outbox))
        self._outbox.clear()

    async def _deliver(self, message: Pdu) -> None:
        try:
            short_message = pdu.ShortMessage.decode(message.body)
        except pdu.PduError as err:
            log.warning(
                "smpp unreadable deliver_sm: %s",
                err,
                extra={"action": "smpp_deliver_unreadable", "session": self.label},
            )
            status: int = Status.ESME_RX_P_APPN
        else:
            try:
                status = await self._on_deliver(short_message)
            except Exception:
                log.exception(
                    "smpp deliver_sm handler failed",
                    extra={"action": "smpp_deliver_failed", "session": self.label},
                )
                status = Status.ESME_RX_T_APPN
        self._answer(Command.DELIVER_SM_RESP, message.sequence, status, b"\0")

    async def _finish_deliveries(self) -> None:
        """Let handlers that already hold a deliver_sm finish (the SMSC resends the ones we
        could not answer), then cancel any that hang."""
        if not self._deliveries:
            return
        _, hanging = await asyncio.wait(
            set(self._deliveries), timeout=self._timing.response_timeout
        )
        for task in hanging:
            task.cancel()
        await asyncio.gather(*hanging, return_exceptions=True)

    async def _keep_alive(self) -> str:
        loop = asyncio.get_running_loop()
        interval = self._timing.enquire_link_interval
        while True:
            idle = loop.time() - self._last_received
            if idle < interval:
                await asyncio.sleep(interval - idle)
                continue
            try:
                future = self._request(Command.ENQUIRE_LINK, b"")
                await asyncio.wait_for(future, self._timing.response_timeout)
            except TimeoutError:
                return "no enquire_link_resp"
            except LinkClosed as err:
                return str(err)
            self._last_received = loop.time()


async def _read_pdu(reader: asyncio.StreamReader) -> Pdu:
    length, command_id, status, sequence = pdu.parse_header(
        await reader.readexactly(pdu.HEADER_LENGTH)
    )
    body = (
        await reader.readexactly(length - pdu.HEADER_LENGTH) if length > pdu.HEADER_LENGTH else b""
    )
    return Pdu(command_id, status, sequence, body)
