"""Concatenated short messages from handsets: which part of which message a deliver_sm is,
and a buffer that puts the parts of one message back together.

A part says so in its user data header (esm_class has UDHI; information element 0x00 with
an 8-bit reference or 0x08 with a 16-bit one, then the total and this part's number) or in
the SAR TLVs (sar_msg_ref_num, sar_total_segments, sar_segment_seqnum). Concatenation info
that makes no sense (total 0, number 0 or past the total, a UDH longer than the body) is
ignored: the part is then a message of its own.

The text is read per run of consecutive parts in one data_coding, their bytes joined before
decoding, so a character cut between two parts (a UTF-16 surrogate pair, a GSM escape and
its code) is read whole. SMPP carries GSM 7-bit unpacked (one septet an octet), so a part's
text has no fill bits after its UDH.

`Reassembler` is pure: it is told the time, and hands back the messages to deliver (a
group just completed, the oldest group evicted to make room, groups that timed out).
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

from textgate.delivery.smpp import pdu, receipts

#: Seconds a message's parts wait for the rest, counted from its first part.
TIMEOUT = 60.0
#: Messages waiting for parts, at most, per provider; the oldest goes out when one more comes.
MAX_GROUPS = 1000
_IEI_CONCAT_8, _IEI_CONCAT_16 = 0x00, 0x08
_UCS2 = 8


@dataclass(frozen=True, slots=True)
class Concat:
    """Which part of which message: the sender's reference, the number of parts, this
    part's number (1-based)."""

    reference: int
    total: int
    seq: int


def split(message: pdu.ShortMessage) -> tuple[Concat | None, bytes]:
    """The concatenation info of a deliver_sm (None for a message of its own) and its text
    bytes (the UDH removed). A UDH that claims more than the body holds is taken for text."""
    body = message.tlv(pdu.Tag.MESSAGE_PAYLOAD) or message.short_message
    info = None
    if message.esm_class & pdu.ESM_UDHI and body and 1 + body[0] <= len(body):
        info = from_udh(body[1 : 1 + body[0]])
        body = body[1 + body[0] :]
    return (info or from_sar(message)), body


def from_udh(udh: bytes) -> Concat | None:
    """The concatenation element of a UDH (without its length octet). Other elements are
    skipped; of repeated ones the last counts (3GPP TS 23.040 9.2.3.24). None when there is
    none, it is invalid, or an element runs past the end of the UDH."""
    found = None
    at = 0
    while at < len(udh):
        if at + 2 > len(udh) or at + 2 + udh[at + 1] > len(udh):
            return None
        iei, data = udh[at], udh[at + 2 : at + 2 + udh[at + 1]]
        if iei == _IEI_CONCAT_8 and len(data) == 3:
            found = _checked(data[0], data[1], data[2])
        elif iei == _IEI_CONCAT_16 and len(data) == 4:
            found = _checked(int.from_bytes(data[:2], "big"), data[2], data[3])
        at += 2 + len(data)
    return found


def from_sar(message: pdu.ShortMessage) -> Concat | None:
    """The concatenation info of the SAR TLVs, when all three are there and make sense."""
    values = [
        message.tlv(tag)
        for tag in (
            pdu.Tag.SAR_MSG_REF_NUM,
            pdu.Tag.SAR_TOTAL_SEGMENTS,
            pdu.Tag.SAR_SEGMENT_SEQNUM,
        )
    ]
    if any(value is None or not 1 <= len(value) <= 2 for value in values):
        return None
    reference, total, seq = (int.from_bytes(value or b"", "big") for value in values)
    return _checked(reference, total, seq)


def _checked(reference: int, total: int, seq: int) -> Concat | None:
    return Concat(reference, total, seq) if 1 <= seq <= total else None


@dataclass(frozen=True, slots=True)
class GroupKey:
    """The parts of one message share all of these."""

    provider: str
    from_number: str
    to: str
    reference: int
    total: int


@dataclass(frozen=True, slots=True)
class Part:
    data_coding: int
    body: bytes


class Outcome(enum.StrEnum):
    #: Every part came.
    COMPLETE = "complete"
    #: The timeout passed first.
    TIMED_OUT = "timed_out"
    #: Pushed out by newer messages when the buffer was full.
    EVICTED = "evicted"
    #: Handed over as it was because the provider is stopping.
    FLUSHED = "flushed"


@dataclass(frozen=True, slots=True)
class Reassembled:
    """One message out of the buffer: the parts that came, by number."""

    key: GroupKey
    parts: Mapping[int, Part]
    outcome: Outcome

    @property
    def missing(self) -> list[int]:
        return [seq for seq in range(1, self.key.total + 1) if seq not in self.parts]

    @property
    def text(self) -> str:
        """The parts' text in order, "[part N of T missing]" where one did not come."""
        pieces: list[str] = []
        run: list[Part] = []
        for seq in range(1, self.key.total + 1):
            part = self.parts.get(seq)
            if run and (part is None or not _joins(run[-1], part)):
                pieces.append(_decode(run))
                run = []
            if part is None:
                pieces.append(f"[part {seq} of {self.key.total} missing]")
            else:
                run.append(part)
        if run:
            pieces.append(_decode(run))
        return "".join(pieces)


def _joins(before: Part, after: Part) -> bool:
    """Whether `after` continues the bytes of `before`: the same coding, and for UCS-2 not
    after a part of an odd length (which would shift every unit that follows)."""
    if before.data_coding != after.data_coding:
        return False
    return before.data_coding != _UCS2 or len(before.body) % 2 == 0


def _decode(run: list[Part]) -> str:
    return receipts.decode_text(run[0].data_coding, b"".join(part.body for part in run))


class _Group:
    __slots__ = ("parts", "started_at")

    def __init__(self, started_at: float) -> None:
        self.started_at = started_at
        self.parts: dict[int, Part] = {}


class Reassembler:
    """Parts waiting for the rest of their message, by `GroupKey`, oldest first.

    A part already held, or one of a message handed out less than `timeout` ago with the
    same bytes (an SMSC sending it again because our answer got lost), is a duplicate and
    ignored. A part that differs is new: with the same key it starts a new group.
    """

    def __init__(self, *, timeout: float = TIMEOUT, max_groups: int = MAX_GROUPS) -> None:
        if timeout <= 0 or max_groups < 1:
            raise ValueError("timeout must be positive and max_groups at least 1")
        self.timeout = timeout
        self.max_groups = max_groups
        self._pending: OrderedDict[GroupKey, _Group] = OrderedDict()
        #: Messages handed out lately: when they were, and a hash of each part.
        self._recent: OrderedDict[GroupKey, tuple[float, frozenset[int]]] = OrderedDict()

    def __len__(self) -> int:
        """Messages waiting for parts."""
        return len(self._pending)

    def add(self, key: GroupKey, seq: int, part: Part, now: float) -> list[Reassembled]:
        """Take one part; returns the messages to deliver now: the oldest groups if one had
        to make room (incomplete), then this part's message if it is now complete."""
        if not 1 <= seq <= key.total:
            raise ValueError(f"part {seq} of {key.total}")
        self._forget_recent(now)
        recent = self._recent.get(key)
        if recent is not None and hash((seq, part)) in recent[1]:
            return []
        out: list[Reassembled] = []
        group = self._pending.get(key)
        if group is None:
            while len(self._pending) >= self.max_groups:
                oldest, evicted = self._pending.popitem(last=False)
                out.append(self._hand_out(oldest, evicted, Outcome.EVICTED, now))
            group = self._pending[key] = _Group(now)
        group.parts.setdefault(seq, part)
        if len(group.parts) == key.total:
            del self._pending[key]
            out.append(self._hand_out(key, group, Outcome.COMPLETE, now))
        return out

    def expire(self, now: float) -> list[Reassembled]:
        """The groups whose time is up, incomplete, oldest first."""
        due = [k for k, g in self._pending.items() if now - g.started_at >= self.timeout]
        return [self._hand_out(k, self._pending.pop(k), Outcome.TIMED_OUT, now) for k in due]

    def drain(self, now: float) -> list[Reassembled]:
        """Every group still waiting, as it is."""
        keys = list(self._pending)
        return [self._hand_out(k, self._pending.pop(k), Outcome.FLUSHED, now) for k in keys]

    def restore(self, message: Reassembled, now: float) -> None:
        """Put back a message that could not be delivered: it waits again (a new timeout),
        so the SMSC sending a part again, or the timeout, hands it out once more."""
        self._recent.pop(message.key, None)
        group = self._pending.pop(message.key, None) or _Group(now)
        group.started_at = now
        group.parts = {**message.parts, **group.parts}
        self._pending[message.key] = group

    def _hand_out(self, key: GroupKey, group: _Group, outcome: Outcome, now: float) -> Reassembled:
        seen = frozenset(hash(item) for item in group.parts.items())
        self._recent.pop(key, None)
        self._recent[key] = (now, seen)
        while len(self._recent) > self.max_groups:
            self._recent.popitem(last=False)
        if len(group.parts) == key.total:
            outcome = Outcome.COMPLETE
        return Reassembled(key, dict(sorted(group.parts.items())), outcome)

    def _forget_recent(self, now: float) -> None:
        while self._recent:
            key, (at, _) = next(iter(self._recent.items()))
            if now - at < self.timeout:
                break
            del self._recent[key]
