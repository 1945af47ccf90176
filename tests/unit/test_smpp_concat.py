"""Concatenated inbound SMS: reading the part info (UDH, SAR TLVs), the reassembly buffer,
and the provider's inbox that hands whole messages to the sink."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.smpp import SmppConfig, concat, pdu
from textgate.delivery.smpp.concat import Concat, GroupKey, Outcome, Part, Reassembler
from textgate.delivery.smpp.inbox import Inbox

GSM, UCS2 = 0, 8
SENDER, US = "381641234567", "TextGate"


def udh8(ref: int, total: int, seq: int) -> bytes:
    return bytes((5, 0x00, 3, ref, total, seq))


def udh16(ref: int, total: int, seq: int) -> bytes:
    return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))


def deliver(
    body: bytes,
    *,
    udhi: bool = True,
    data_coding: int = GSM,
    tlvs: tuple[tuple[int, bytes], ...] = (),
    sender: str = SENDER,
) -> pdu.ShortMessage:
    return pdu.ShortMessage(
        source_addr=sender,
        source_ton=1,
        destination_addr=US,
        dest_ton=5,
        esm_class=pdu.ESM_UDHI if udhi else 0,
        data_coding=data_coding,
        short_message=body,
        tlvs=tlvs,
    )


def sar(ref: int, total: int, seq: int) -> tuple[tuple[int, bytes], ...]:
    return (
        (pdu.Tag.SAR_MSG_REF_NUM, ref.to_bytes(2, "big")),
        (pdu.Tag.SAR_TOTAL_SEGMENTS, bytes((total,))),
        (pdu.Tag.SAR_SEGMENT_SEQNUM, bytes((seq,))),
    )


def key(total: int = 3, ref: int = 7, sender: str = "+" + SENDER) -> GroupKey:
    return GroupKey("carrier", sender, US, ref, total)


def gsm(text: str) -> Part:
    return Part(GSM, text.encode("ascii"))


# -- the part info ---------------------------------------------------------------------


def test_8_bit_udh_is_read_and_stripped() -> None:
    info, body = concat.split(deliver(udh8(0xAB, 3, 2) + b"hello"))
    assert info == Concat(0xAB, 3, 2) and body == b"hello"


def test_16_bit_udh_is_read_and_stripped() -> None:
    info, body = concat.split(deliver(udh16(0xBEEF, 4, 4) + b"end"))
    assert info == Concat(0xBEEF, 4, 4) and body == b"end"


def test_other_elements_around_the_concat_element_are_skipped() -> None:
    # Port addressing (0x05, 4 octets), then concat, then a national language shift.
    udh = bytes((0x05, 4, 0x0B, 0x84, 0x23, 0xF0, 0x00, 3, 9, 2, 1, 0x25, 1, 0x0D))
    info, body = concat.split(deliver(bytes((len(udh),)) + udh + b"text"))
    assert info == Concat(9, 2, 1) and body == b"text"


def test_of_repeated_concat_elements_the_last_counts() -> None:
    udh = bytes((0x00, 3, 1, 2, 1, 0x08, 4, 0, 9, 3, 3))
    assert concat.from_udh(udh) == Concat(9, 3, 3)


def test_a_concat_element_of_the_wrong_length_is_skipped() -> None:
    assert concat.from_udh(bytes((0x00, 2, 1, 2))) is None
    assert concat.from_udh(bytes((0x00, 4, 1, 2, 1, 0, 0x00, 3, 5, 2, 2))) == Concat(5, 2, 2)


@pytest.mark.parametrize(
    "udh",
    [
        udh8(1, 0, 1)[1:],  # total 0
        udh8(1, 3, 0)[1:],  # part 0
        udh8(1, 3, 4)[1:],  # part past the total
        bytes((0x00, 3, 1, 3)),  # the element runs past the UDH
        bytes((0x00,)),  # an element without its length
        bytes((0x05, 4, 0, 0, 0x00, 3, 1, 2, 1)),  # an element swallows the rest
    ],
)
def test_invalid_udh_concat_info_makes_a_plain_message(udh: bytes) -> None:
    info, body = concat.split(deliver(bytes((len(udh),)) + udh + b"hi"))
    assert info is None and body == b"hi"


def test_a_udh_longer_than_the_body_is_taken_for_text() -> None:
    message = deliver(b"\x09Hi there")  # claims 9 octets of UDH, 8 follow
    assert concat.split(message) == (None, b"\x09Hi there")


def test_without_udhi_the_body_is_all_text() -> None:
    raw = udh8(1, 2, 1) + b"x"
    assert concat.split(deliver(raw, udhi=False)) == (None, raw)


def test_a_udh_inside_message_payload_is_read() -> None:
    message = deliver(b"", tlvs=((pdu.Tag.MESSAGE_PAYLOAD, udh8(3, 2, 2) + b"payload"),))
    assert concat.split(message) == (Concat(3, 2, 2), b"payload")


def test_sar_tlvs_are_read() -> None:
    info, body = concat.split(deliver(b"part", udhi=False, tlvs=sar(0x1234, 5, 3)))
    assert info == Concat(0x1234, 5, 3) and body == b"part"


@pytest.mark.parametrize(
    "tlvs",
    [
        sar(1, 3, 2)[:2],  # no seqnum
        sar(1, 0, 1),
        sar(1, 3, 0),
        sar(1, 3, 4),
        (*sar(1, 3, 2)[:2], (pdu.Tag.SAR_SEGMENT_SEQNUM, b"")),
        (*sar(1, 3, 2)[:2], (pdu.Tag.SAR_SEGMENT_SEQNUM, b"\0\0\2")),
    ],
)
def test_incomplete_or_invalid_sar_tlvs_make_a_plain_message(
    tlvs: tuple[tuple[int, bytes], ...],
) -> None:
    assert concat.split(deliver(b"part", udhi=False, tlvs=tlvs)) == (None, b"part")


def test_a_udh_wins_over_sar_tlvs_and_sar_stands_in_for_a_bad_udh() -> None:
    both = deliver(udh8(1, 2, 1) + b"a", tlvs=sar(9, 4, 4))
    assert concat.split(both) == (Concat(1, 2, 1), b"a")
    bad_udh = deliver(udh8(1, 0, 1) + b"a", tlvs=sar(9, 4, 4))
    assert concat.split(bad_udh) == (Concat(9, 4, 4), b"a")


# -- the buffer --------------------------------------------------------------------------


def test_parts_out_of_order_make_one_message_in_order() -> None:
    buffer = Reassembler()
    assert buffer.add(key(), 3, gsm(" world"), 0.0) == []
    assert buffer.add(key(), 1, gsm("Hello"), 0.1) == []
    assert len(buffer) == 1
    [done] = buffer.add(key(), 2, gsm(","), 0.2)
    assert done.outcome is Outcome.COMPLETE and done.missing == []
    assert done.text == "Hello, world"
    assert len(buffer) == 0


def test_duplicate_parts_are_ignored_before_and_after_the_message_is_complete() -> None:
    buffer = Reassembler(timeout=60)
    buffer.add(key(2), 1, gsm("one "), 0.0)
    assert buffer.add(key(2), 1, gsm("one "), 1.0) == []
    [done] = buffer.add(key(2), 2, gsm("two"), 2.0)
    assert done.text == "one two"
    # The SMSC sends parts again: nothing new starts, nothing is handed out twice.
    assert buffer.add(key(2), 2, gsm("two"), 3.0) == []
    assert buffer.add(key(2), 1, gsm("one "), 4.0) == []
    assert len(buffer) == 0 and buffer.expire(1000.0) == []


def test_the_same_key_with_other_text_is_a_new_message() -> None:
    buffer = Reassembler(timeout=60)
    buffer.add(key(2), 1, gsm("first "), 0.0)
    buffer.add(key(2), 2, gsm("message"), 0.0)
    assert buffer.add(key(2), 1, gsm("second "), 1.0) == []
    [done] = buffer.add(key(2), 2, gsm("one"), 2.0)
    assert done.text == "second one"


def test_other_senders_references_and_totals_are_other_messages() -> None:
    buffer = Reassembler()
    buffer.add(key(2), 1, gsm("A1"), 0.0)
    buffer.add(key(2, sender="+381640000000"), 1, gsm("B1"), 0.0)
    buffer.add(key(2, ref=8), 1, gsm("C1"), 0.0)
    buffer.add(key(3), 1, gsm("D1"), 0.0)
    assert len(buffer) == 4
    [done] = buffer.add(key(2, ref=8), 2, gsm("C2"), 0.0)
    assert done.text == "C1C2" and done.key == key(2, ref=8)


def test_a_timed_out_message_is_handed_out_with_markers_for_missing_parts() -> None:
    buffer = Reassembler(timeout=60)
    buffer.add(key(4), 4, gsm(" four"), 0.0)
    buffer.add(key(4), 1, gsm("one"), 10.0)
    assert buffer.expire(59.9) == []
    [late] = buffer.expire(60.0)
    assert late.outcome is Outcome.TIMED_OUT and late.missing == [2, 3]
    assert late.text == "one[part 2 of 4 missing][part 3 of 4 missing] four"
    assert len(buffer) == 0


def test_a_part_after_its_message_timed_out_comes_out_on_its_own() -> None:
    buffer = Reassembler(timeout=60)
    buffer.add(key(2), 1, gsm("one "), 0.0)
    [late] = buffer.expire(60.0)
    assert late.text == "one [part 2 of 2 missing]"
    assert buffer.add(key(2), 1, gsm("one "), 61.0) == []  # the SMSC again: a duplicate
    assert buffer.add(key(2), 2, gsm("two"), 62.0) == []
    [alone] = buffer.expire(122.0)
    assert alone.text == "[part 1 of 2 missing]two"


def test_the_oldest_message_is_evicted_when_the_buffer_is_full() -> None:
    buffer = Reassembler(max_groups=2)
    buffer.add(key(3, ref=1), 3, gsm("first"), 0.0)
    buffer.add(key(3, ref=2), 1, gsm("second"), 1.0)
    assert buffer.add(key(3, ref=1), 1, gsm("more "), 2.0) == []  # not a new group
    [evicted] = buffer.add(key(3, ref=3), 1, gsm("third"), 3.0)
    assert evicted.outcome is Outcome.EVICTED and evicted.key == key(3, ref=1)
    assert evicted.text == "more [part 2 of 3 missing]first"
    assert len(buffer) == 2
    [second_out] = buffer.add(key(3, ref=4), 1, gsm("fourth"), 4.0)
    assert second_out.key == key(3, ref=2)


def test_eviction_hands_out_an_incomplete_message_with_its_markers() -> None:
    buffer = Reassembler(max_groups=1)
    buffer.add(key(3, ref=1), 2, gsm("middle"), 0.0)
    [evicted] = buffer.add(key(3, ref=2), 1, gsm("x"), 1.0)
    assert evicted.outcome is Outcome.EVICTED
    assert evicted.text == "[part 1 of 3 missing]middle[part 3 of 3 missing]"
    assert len(buffer) == 1


def test_a_message_restored_after_a_failed_hand_over_comes_out_again() -> None:
    buffer = Reassembler(timeout=60)
    buffer.add(key(2), 1, gsm("one "), 0.0)
    [done] = buffer.add(key(2), 2, gsm("two"), 1.0)
    buffer.restore(done, 1.0)
    assert len(buffer) == 1
    [again] = buffer.add(key(2), 2, gsm("two"), 5.0)  # the SMSC sends the part again
    assert again.outcome is Outcome.COMPLETE and again.text == "one two"
    buffer.restore(again, 6.0)
    [timed] = buffer.expire(66.0)
    assert timed.outcome is Outcome.COMPLETE and timed.text == "one two"


def test_drain_hands_out_everything_waiting() -> None:
    buffer = Reassembler()
    buffer.add(key(2, ref=1), 1, gsm("a"), 0.0)
    buffer.add(key(2, ref=2), 2, gsm("b"), 0.0)
    drained = buffer.drain(1.0)
    assert [(m.outcome, m.text) for m in drained] == [
        (Outcome.FLUSHED, "a[part 2 of 2 missing]"),
        (Outcome.FLUSHED, "[part 1 of 2 missing]b"),
    ]
    assert len(buffer) == 0


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        Reassembler(timeout=0)
    with pytest.raises(ValueError):
        Reassembler(max_groups=0)
    with pytest.raises(ValueError):
        Reassembler().add(key(2), 3, gsm("x"), 0.0)


# -- the text ----------------------------------------------------------------------------


def test_an_emoji_cut_between_two_ucs2_parts_is_read_whole() -> None:
    text = "Hi 👋 there"
    raw = text.encode("utf-16-be")
    cut = raw.index("👋".encode("utf-16-be")) + 2  # between the two surrogates
    first, second = raw[:cut], raw[cut:]
    # Each part on its own would not decode.
    assert "\ufffd" in first.decode("utf-16-be", errors="replace")
    buffer = Reassembler()
    buffer.add(key(2), 2, Part(UCS2, second), 0.0)
    [done] = buffer.add(key(2), 1, Part(UCS2, first), 0.0)
    assert done.text == text


def test_half_an_emoji_before_a_missing_part_is_a_replacement_character() -> None:
    raw = "ab👋".encode("utf-16-be")
    buffer = Reassembler(timeout=1)
    buffer.add(key(2), 1, Part(UCS2, raw[:-2]), 0.0)
    [late] = buffer.expire(1.0)
    assert late.text == "ab\ufffd[part 2 of 2 missing]"
    late.text.encode("utf-8")  # no lone surrogate: it can be stored


def test_a_gsm_escape_cut_between_two_parts_is_read_whole() -> None:
    buffer = Reassembler()
    buffer.add(key(2), 1, Part(GSM, b"Price 5\x1b"), 0.0)
    [done] = buffer.add(key(2), 2, Part(GSM, b"\x65 only"), 0.0)
    assert done.text == "Price 5€ only"


def test_gsm_parts_are_unpacked_septets_without_fill_bits() -> None:
    # SMPP carries GSM 7-bit one septet an octet: nothing to skip after a UDH.
    info, body = concat.split(deliver(udh8(1, 2, 1) + b"\x00\x02"))
    assert info == Concat(1, 2, 1)
    buffer = Reassembler()
    buffer.add(key(2), 1, Part(GSM, body), 0.0)
    [done] = buffer.add(key(2), 2, gsm("!"), 0.0)
    assert done.text == "@$!"


def test_parts_in_different_codings_are_read_each_in_its_own() -> None:
    buffer = Reassembler()
    buffer.add(key(3), 1, gsm("abc "), 0.0)
    buffer.add(key(3), 2, Part(UCS2, "你好 ".encode("utf-16-be")), 0.0)
    [done] = buffer.add(key(3), 3, Part(3, "café".encode("latin-1")), 0.0)
    assert done.text == "abc 你好 café"


def test_an_odd_ucs2_part_does_not_shift_the_parts_after_it() -> None:
    buffer = Reassembler()
    buffer.add(key(2), 1, Part(UCS2, "ab".encode("utf-16-be") + b"\x00"), 0.0)
    [done] = buffer.add(key(2), 2, Part(UCS2, "cd".encode("utf-16-be")), 0.0)
    assert done.text == "ab\ufffdcd"


# -- the inbox ---------------------------------------------------------------------------


@dataclass
class Sink:
    inbounds: list[Inbound] = field(default_factory=list)
    fail: int = 0

    async def receipt(self, receipt: Receipt) -> None:
        raise AssertionError("no receipts here")

    async def inbound(self, message: Inbound) -> None:
        if self.fail:
            self.fail -= 1
            raise RuntimeError("database is down")
        self.inbounds.append(message)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def parts_of(text: str, ref: int = 42) -> list[pdu.ShortMessage]:
    chunks = [text[i : i + 5] for i in range(0, len(text), 5)]
    return [
        deliver(udh8(ref, len(chunks), seq) + chunk.encode("ascii"))
        for seq, chunk in enumerate(chunks, start=1)
    ]


async def test_inbox_hands_over_a_plain_message_at_once() -> None:
    sink, inbox = Sink(), Inbox("carrier")
    await inbox.accept(sink, deliver(b"STOP", udhi=False))
    assert sink.inbounds == [Inbound("carrier", "+" + SENDER, US, "STOP")]


async def test_inbox_hands_over_one_message_for_shuffled_and_repeated_parts() -> None:
    sink, inbox = Sink(), Inbox("carrier")
    first, second, third = parts_of("Hello from a phone")[:3]
    fourth = parts_of("Hello from a phone")[3]
    for message in (third, first, third, fourth):
        await inbox.accept(sink, message)
    assert sink.inbounds == [] and inbox.waiting == 1
    await inbox.accept(sink, second)
    assert sink.inbounds == [Inbound("carrier", "+" + SENDER, US, "Hello from a phone")]
    await inbox.accept(sink, second)  # sent again by the SMSC
    assert len(sink.inbounds) == 1 and inbox.waiting == 0


async def test_inbox_single_part_concat_and_invalid_info_go_as_they_are() -> None:
    sink, inbox = Sink(), Inbox("carrier")
    await inbox.accept(sink, deliver(udh8(1, 1, 1) + b"one"))
    await inbox.accept(sink, deliver(udh8(1, 2, 3) + b"bad"))
    await inbox.accept(sink, deliver(b"\x20short"))  # a UDH of 32 octets? no: text
    assert [m.text for m in sink.inbounds] == ["one", "bad", " short"]
    assert inbox.waiting == 0


async def test_inbox_a_failing_sink_keeps_the_message_for_the_part_sent_again() -> None:
    sink, inbox = Sink(fail=1), Inbox("carrier")
    first, second = parts_of("abcdefgh")
    await inbox.accept(sink, first)
    with pytest.raises(RuntimeError):
        await inbox.accept(sink, second)  # answered with an error: the SMSC sends it again
    assert inbox.waiting == 1
    await inbox.accept(sink, second)
    assert [m.text for m in sink.inbounds] == ["abcdefgh"]


async def until(check: Callable[[], bool]) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("timed out")


async def test_inbox_timeout_and_flush_hand_over_what_came_and_log_it_masked(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="textgate")
    clock = Clock()
    sink, inbox = Sink(), Inbox("carrier", timeout=0.04, clock=clock)
    one, _, three = parts_of("Secret words 42", ref=1)
    await inbox.accept(sink, one)
    await inbox.accept(sink, three)
    sweeper = asyncio.create_task(inbox.sweep(sink))
    await asyncio.sleep(0.05)
    assert sink.inbounds == []  # the clock has not moved
    clock.now = 0.02
    await inbox.accept(sink, parts_of("Other secret", ref=2)[0])
    clock.now = 0.03
    await asyncio.sleep(0.03)
    assert sink.inbounds == []
    clock.now = 0.04
    await until(lambda: len(sink.inbounds) == 1)
    sweeper.cancel()
    assert sink.inbounds[0].text == "Secre[part 2 of 3 missing]ds 42"
    assert inbox.waiting == 1
    await inbox.flush(sink)
    assert sink.inbounds[1].text == "Other[part 2 of 3 missing][part 3 of 3 missing]"
    assert inbox.waiting == 0
    logged = [r for r in caplog.records if getattr(r, "action", "") == "smpp_concat_incomplete"]
    assert [(r.__dict__["outcome"], r.__dict__["missing"]) for r in logged] == [
        ("timed_out", 1),
        ("flushed", 2),
    ]
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "+381*******67" in text
    for secret in (SENDER, "Secre", "ds 42", "Other"):
        assert secret not in text


async def test_inbox_a_failed_hand_over_after_the_timeout_waits_again() -> None:
    clock = Clock()
    sink, inbox = Sink(fail=1), Inbox("carrier", timeout=0.04, clock=clock)
    await inbox.accept(sink, parts_of("abcdefgh")[0])
    sweeper = asyncio.create_task(inbox.sweep(sink))
    clock.now = 1.0
    await until(lambda: sink.fail == 0)
    assert sink.inbounds == [] and inbox.waiting == 1  # waits another timeout
    clock.now = 2.0
    await until(lambda: len(sink.inbounds) == 1)
    sweeper.cancel()
    assert [m.text for m in sink.inbounds] == ["abcde[part 2 of 2 missing]"]


async def test_inbox_a_failed_hand_over_while_stopping_is_logged_and_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sink, inbox = Sink(fail=1), Inbox("carrier")
    await inbox.accept(sink, parts_of("abcdefgh")[0])
    await inbox.flush(sink)
    assert sink.inbounds == [] and inbox.waiting == 0
    [lost] = [r for r in caplog.records if getattr(r, "action", "") == "smpp_concat_lost"]
    assert "RuntimeError" in lost.getMessage() and "database" not in lost.getMessage()


# -- settings ----------------------------------------------------------------------------


def test_concat_settings_have_defaults_and_limits() -> None:
    table = {"host": "h", "system_id": "s", "password": "p"}
    config = SmppConfig.from_mapping("c", table)
    assert (config.concat_timeout, config.concat_max_groups) == (60.0, 1000)
    config = SmppConfig.from_mapping("c", {**table, "concat_timeout": 5, "concat_max_groups": 3})
    assert (config.concat_timeout, config.concat_max_groups) == (5.0, 3)
    with pytest.raises(ValueError, match="concat_timeout"):
        SmppConfig.from_mapping("c", {**table, "concat_timeout": 0})
    with pytest.raises(ValueError, match="concat_max_groups"):
        SmppConfig.from_mapping("c", {**table, "concat_max_groups": 0})
