"""`SmppProvider`: delivery over SMPP 3.4 through `binds` sessions to one SMSC.

Each bind is kept up by its own supervisor task (connect, bind, serve, and after a drop
or a refused bind, try again with backoff). `submit` picks the bound session with the
fewest submits in flight, sends the message's parts there through the session's window
(and the provider-wide throughput cap) and waits for every submit_sm_resp. A part that
gets no answer (link lost, timeout) makes the whole submit a `TransientError`, so the
worker queues the message again: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import replace
from typing import TypeVar

from textgate.delivery.base import (
    Health,
    Outgoing,
    PermanentError,
    ReceiptSink,
    Submitted,
    TransientError,
)
from textgate.delivery.smpp import pdu, receipts
from textgate.delivery.smpp.config import BindMode, SmppConfig, sender_address
from textgate.delivery.smpp.inbox import Inbox
from textgate.delivery.smpp.pacing import Pacer
from textgate.delivery.smpp.pdu import Status
from textgate.delivery.smpp.session import BindRefused, LinkClosed, Role, Session, Timing
from textgate.domain import text as sms_text
from textgate.domain.phones import mask_phone
from textgate.errors import InvalidText

log = logging.getLogger("textgate.delivery.smpp")

#: submit_sm_resp statuses after which the same message will never be accepted.
PERMANENT = frozenset(
    {
        Status.ESME_RINVMSGLEN,
        Status.ESME_RINVPRTFLG,
        Status.ESME_RINVREGDLVFLG,
        Status.ESME_RINVSRCADR,
        Status.ESME_RINVDSTADR,
        Status.ESME_RINVSERTYP,
        Status.ESME_RINVNUMDESTS,
        Status.ESME_RINVDESTFLAG,
        Status.ESME_RINVESMCLASS,
        Status.ESME_RINVSRCTON,
        Status.ESME_RINVSRCNPI,
        Status.ESME_RINVDSTTON,
        Status.ESME_RINVDSTNPI,
        Status.ESME_RINVSCHED,
        Status.ESME_RINVEXPIRY,
        Status.ESME_RINVDFTMSGID,
        Status.ESME_RX_P_APPN,
        Status.ESME_RX_R_APPN,
        Status.ESME_RINVOPTPARSTREAM,
        Status.ESME_ROPTPARNOTALLWD,
        Status.ESME_RINVPARLEN,
        Status.ESME_RMISSINGOPTPARAM,
        Status.ESME_RINVOPTPARAMVAL,
        Status.ESME_RPROHIBITED,
        Status.ESME_RSERTYPDENIED,
        Status.ESME_RINVDCS,
    }
)
_E = TypeVar("_E", bound=Exception)
_DATA_CODING = {sms_text.Encoding.GSM7: 0x00, sms_text.Encoding.UCS2: 0x08}


class SmppProvider:
    def __init__(self, config: SmppConfig) -> None:
        self.name = config.name
        self._config = config
        roles = (
            (Role.TRANSCEIVER,)
            if config.bind_mode is BindMode.TRANSCEIVER
            else (Role.TRANSMITTER, Role.RECEIVER)
        )
        self._links = [_Link(role, index) for index in range(config.binds) for role in roles]
        #: Paces submits (`throughput`) and holds them after ESME_RTHROTTLED.
        self._pacer = Pacer(config.throughput)
        self._timing = Timing(config.response_timeout, config.enquire_link_interval)
        self._bind_body = pdu.bind_body(
            config.system_id,
            config.password,
            config.system_type,
            address_range=config.address_range,
        )
        self._sink: ReceiptSink | None = None
        #: Inbound messages, the parts of long ones joined; `_sweeper` hands over late ones.
        self._inbox = Inbox(
            config.name, timeout=config.concat_timeout, max_groups=config.concat_max_groups
        )
        self._sweeper: asyncio.Task[None] | None = None
        self._bound = asyncio.Event()
        self._stopping = False
        self._last_error: str | None = None
        self._reference = random.randrange(256)
        self._turn = 0

    # -- Provider ---------------------------------------------------------------------

    async def start(self, sink: ReceiptSink) -> None:
        """Start a supervisor per bind and return at once; binds come up in the background."""
        if any(link.task is not None for link in self._links):
            raise RuntimeError(f"smpp provider {self.name} is already started")
        self._sink = sink
        self._stopping = False
        for link in self._links:
            link.task = asyncio.create_task(
                self._supervise(link), name=f"smpp:{self.name}:{link.role}:{link.index}"
            )
        self._sweeper = asyncio.create_task(self._inbox.sweep(sink), name=f"smpp:{self.name}:inbox")

    async def submit(self, message: Outgoing) -> Submitted:
        if self._stopping:
            raise TransientError("smpp provider is stopping")
        bodies = self._bodies(message)
        session = await self._sending_session()
        futures: list[asyncio.Future[pdu.Pdu]] = []
        try:
            for body in bodies:
                futures.append(await session.submit(body))
                futures[-1].add_done_callback(self._on_submit_resp)
            await asyncio.wait(futures, timeout=self._config.submit_timeout)
        except LinkClosed as err:
            raise self._failed(message, TransientError(f"smpp link lost: {err}")) from None
        finally:
            _settle(futures)
        return self._outcome(message, futures)

    async def stop(self) -> None:
        self._stopping = True
        self._bound.set()  # wakes submits waiting for a bind: they fail at once
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.stop_timeout
        while self._in_flight() and loop.time() < deadline:
            await asyncio.sleep(0.01)
        sessions = [link.session for link in self._links if link.session is not None]
        await asyncio.gather(*(session.unbind() for session in sessions))
        tasks = [link.task for link in self._links if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for link in self._links:
            link.task = None
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None
        if self._sink is not None:
            await self._inbox.flush(self._sink)
        log.info("smpp provider %s stopped", self.name, extra={"action": "smpp_stopped"})

    def health(self) -> Health:
        bound = sum(1 for link in self._links if link.session is not None)
        up = any(link.session is not None and link.role.sends for link in self._links)
        return Health(
            name=self.name,
            up=up and not self._stopping,
            in_flight=self._in_flight(),
            last_error=self._last_error,
            detail={
                "binds": f"{bound}/{len(self._links)}",
                "bind_mode": str(self._config.bind_mode),
                "window": str(self._config.window),
                "throughput": str(self._config.throughput or "unlimited"),
                "smsc": f"{self._config.host}:{self._config.port}",
            },
        )

    # -- submits ----------------------------------------------------------------------

    def _bodies(self, message: Outgoing) -> list[bytes]:
        """The submit_sm bodies of a message: one, or one per part."""
        try:
            parts = sms_text.split(message.text)
            encoding = sms_text.analyze(message.text).encoding
            ton, npi, source = self._source(message.sender)
        except (InvalidText, ValueError) as err:
            raise self._failed(message, PermanentError(f"invalid message: {err}")) from None
        to = message.to.removeprefix("+")
        common = pdu.ShortMessage(
            source_addr=source,
            destination_addr=to,
            source_ton=ton,
            source_npi=npi,
            dest_ton=1,
            dest_npi=1,
            service_type=self._config.service_type,
            registered_delivery=self._config.registered_delivery,
            data_coding=_DATA_CODING[encoding],
        )
        if len(parts) == 1 or self._config.use_message_payload:
            payload = sms_text.encode(message.text, encoding)
            if len(parts) == 1:
                return [replace(common, short_message=payload).encode()]
            return [replace(common, tlvs=((pdu.Tag.MESSAGE_PAYLOAD, payload),)).encode()]
        self._reference = (self._reference + 1) % 256
        return [
            replace(
                common,
                esm_class=pdu.ESM_UDHI,
                short_message=pdu.udh_concat(self._reference, len(parts), seq)
                + sms_text.encode(part, encoding),
            ).encode()
            for seq, part in enumerate(parts, start=1)
        ]

    def _source(self, sender: str | None) -> tuple[int, int, str]:
        if sender and sender != self._config.source_addr:
            return sender_address(sender)
        return self._config.source

    async def _sending_session(self) -> Session:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.bind_wait
        while True:
            if self._stopping:
                raise TransientError("smpp provider is stopping")
            sessions = [
                link.session
                for link in self._links
                if link.role.sends and link.session is not None and link.session.is_open
            ]
            if sessions:
                self._turn += 1
                start = self._turn % len(sessions)
                ordered = sessions[start:] + sessions[:start]
                return min(ordered, key=lambda session: session.in_flight)
            remaining = deadline - loop.time()
            if remaining <= 0:
                reason = self._last_error or "not bound yet"
                raise TransientError(f"smpp not bound: {reason}")
            self._bound.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bound.wait(), remaining)

    def _outcome(self, message: Outgoing, futures: list[asyncio.Future[pdu.Pdu]]) -> Submitted:
        ids: list[str] = []
        permanent: list[str] = []
        transient: list[tuple[str, float | None]] = []
        for future in futures:
            if future.cancelled():
                transient.append(("smpp submit_sm_resp timed out", None))
                continue
            error = future.exception()
            if error is not None:
                transient.append((f"smpp link lost: {error}", None))
                continue
            response = future.result()
            if (
                response.status == Status.ESME_ROK
                and response.command_id != pdu.Command.GENERIC_NACK
            ):
                ids.append(pdu.message_id(response.body))
            elif response.status in PERMANENT:
                permanent.append(pdu.status_name(response.status))
            else:
                transient.append(self._transient(response))
        if permanent:
            raise self._failed(message, PermanentError(permanent[0]), sent=len(ids))
        if transient:
            hints = [hint for _, hint in transient if hint is not None]
            error = TransientError(transient[0][0], retry_after=max(hints) if hints else None)
            raise self._failed(message, error, sent=len(ids))
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "smpp submitted message %s to %s as %s",
                message.message_id,
                mask_phone(message.to),
                ",".join(ids),
                extra={"action": "smpp_submitted", "message_id": message.message_id},
            )
        return Submitted(provider_message_id=ids[0], part_ids=tuple(ids) if len(ids) > 1 else ())

    def _on_submit_resp(self, future: asyncio.Future[pdu.Pdu]) -> None:
        """After ESME_RTHROTTLED the whole provider slows down: no submit leaves for
        `throttled_retry_after` (held in the pacer, which every session passes through
        after taking its window slot, so even submits already waiting for a slot wait)."""
        if future.cancelled() or future.exception() is not None:
            return
        if future.result().status == Status.ESME_RTHROTTLED:
            self._pacer.hold(self._config.throttled_retry_after)

    def _transient(self, response: pdu.Pdu) -> tuple[str, float | None]:
        name = pdu.status_name(response.status)
        if response.command_id == pdu.Command.GENERIC_NACK:
            return f"generic_nack {name}", None
        if response.status == Status.ESME_RTHROTTLED:
            return name, self._config.throttled_retry_after
        if response.status == Status.ESME_RMSGQFUL:
            return name, self._config.queue_full_retry_after
        return name, None

    def _failed(self, message: Outgoing, error: _E, *, sent: int = 0) -> _E:
        log.info(
            "smpp submit of message %s to %s failed: %s%s",
            message.message_id,
            mask_phone(message.to),
            error,
            f" ({sent} part(s) accepted)" if sent else "",
            extra={"action": "smpp_submit_failed", "message_id": message.message_id},
        )
        return error

    def _in_flight(self) -> int:
        return sum(link.session.in_flight for link in self._links if link.session is not None)

    # -- binds ------------------------------------------------------------------------

    async def _supervise(self, link: _Link) -> None:
        """Keep one bind up until `stop`: bind, serve, and after a refusal or a lost link
        wait (backoff grows while binds fail, restarts once one succeeds) and bind again."""
        config = self._config
        delay = config.reconnect_initial
        label = f"{self.name}:{link.role}:{link.index}"
        while not self._stopping:
            try:
                served, reason = await self._serve(link, label)
            except Exception as err:  # a bug must not end the reconnect loop
                log.exception("smpp %s failed", label, extra={"action": "smpp_link_error"})
                served, reason = False, f"internal error: {err!r}"
            if self._stopping:
                break
            self._last_error = reason if not served else f"link lost: {reason}"
            if served:
                delay = config.reconnect_initial
                log.warning(
                    "smpp %s link lost: %s",
                    label,
                    reason,
                    extra={"action": "smpp_link_lost", "session": label},
                )
            else:
                log.warning(
                    "smpp %s: %s; retrying in %.1fs",
                    label,
                    reason,
                    delay,
                    extra={"action": "smpp_bind_failed", "session": label},
                )
            await asyncio.sleep(_jitter(delay))
            if not served:
                delay = min(delay * config.reconnect_factor, config.reconnect_max)

    async def _serve(self, link: _Link, label: str) -> tuple[bool, str]:
        """Bind once and serve the session until it ends: (whether it was bound, why not
        or why it ended)."""
        config = self._config
        try:
            session = await Session.open(
                config.host,
                config.port,
                self._bind_body,
                role=link.role,
                window=config.window,
                timing=self._timing,
                on_deliver=self._on_deliver,
                pacer=self._pacer,
                label=label,
            )
        except BindRefused as err:
            return False, f"bind refused: {err}"
        except (OSError, TimeoutError, pdu.PduError) as err:
            return False, f"connect failed: {err or type(err).__name__}"
        link.session = session
        self._last_error = None
        self._bound.set()
        log.info(
            "smpp %s bound as %s to %s:%s",
            label,
            link.role,
            config.host,
            config.port,
            extra={"action": "smpp_bound", "session": label},
        )
        try:
            return True, await session.run()
        finally:
            link.session = None

    async def _on_deliver(self, message: pdu.ShortMessage) -> int:
        sink = self._sink
        if sink is None:
            return Status.ESME_RX_T_APPN
        if receipts.is_receipt(message):
            receipt = receipts.to_receipt(self.name, message)
            if receipt is None:
                log.warning(
                    "smpp receipt without a message id dropped",
                    extra={"action": "smpp_receipt_unreadable"},
                )
                return Status.ESME_ROK
            await sink.receipt(receipt)
        else:
            await self._inbox.accept(sink, message)
        return Status.ESME_ROK


class _Link:
    """One bind slot: its role, its supervisor task and the session it holds when bound."""

    def __init__(self, role: Role, index: int) -> None:
        self.role = role
        self.index = index
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None


def _settle(futures: list[asyncio.Future[pdu.Pdu]]) -> None:
    """Cancel the futures still waiting (which frees their window slots) and mark the
    errors of the others as seen."""
    for future in futures:
        if not future.cancel():
            future.cancelled() or future.exception()


def _jitter(delay: float) -> float:
    return delay * random.uniform(0.75, 1.0)
