"""Inbound webhooks of the HTTP providers without a network: reading Twilio's and Vonage's
parameters into messages, and the parts inbox that joins a long Vonage message (told the
time; a sink that records what it was given)."""

from __future__ import annotations

import pytest

from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.http import TwilioConfig, TwilioProvider, VonageConfig, VonageProvider
from textgate.delivery.http.inbound import twilio_message, vonage_message
from textgate.delivery.http.inbox import PartsInbox
from textgate.delivery.smpp.concat import Concat

FROM = "+381690156360"
OURS = "+381601234567"


class Sink:
    def __init__(self, *, fail: bool = False) -> None:
        self.messages: list[Inbound] = []
        self.fail = fail

    async def receipt(self, receipt: Receipt) -> None:
        raise AssertionError("no receipts here")

    async def inbound(self, message: Inbound) -> None:
        if self.fail:
            raise RuntimeError("database down")
        self.messages.append(message)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def twilio() -> TwilioProvider:
    table = {"account_sid": "AC" + "0" * 32, "auth_token": "t", "from": "+15005550006"}
    return TwilioProvider(TwilioConfig.from_mapping("tw", table))


def vonage() -> VonageProvider:
    table = {"api_key": "a1b2c3d4", "api_secret": "s", "from": "TextGate"}
    return VonageProvider(VonageConfig.from_mapping("vg", table))


def test_twilio_parameters_become_a_message_unless_they_are_another_accounts() -> None:
    provider = twilio()
    params = {"From": FROM, "To": OURS, "Body": "hi", "AccountSid": "AC" + "0" * 32}
    assert twilio_message(provider, params) == Inbound("tw", FROM, OURS, "hi")
    assert twilio_message(provider, {**params, "AccountSid": "AC" + "1" * 32}) is None
    assert twilio_message(provider, {"To": OURS, "Body": "hi"}) is None
    no_to = twilio_message(provider, {"From": FROM, "Body": ""})
    assert no_to == Inbound("tw", FROM, "+15005550006", "")


@pytest.mark.parametrize(
    ("concat", "expected"),
    [
        ({"concat": "true", "concat-ref": "7", "concat-total": "3", "concat-part": "2"}, (7, 3, 2)),
        ({"concat": "true", "concat-ref": "7", "concat-total": "3", "concat-part": "4"}, None),
        ({"concat": "true", "concat-ref": "x", "concat-total": "3", "concat-part": "1"}, None),
        ({"concat": "true", "concat-ref": "7", "concat-total": "0", "concat-part": "0"}, None),
        ({"concat": "false", "concat-ref": "7", "concat-total": "3", "concat-part": "1"}, None),
        ({}, None),
    ],
)
def test_vonage_parameters_say_which_part_they_are(
    concat: dict[str, str], expected: tuple[int, int, int] | None
) -> None:
    params = {"msisdn": FROM[1:], "to": OURS[1:], "text": "hi", "type": "text", **concat}
    found = vonage_message(vonage(), params)
    assert found is not None
    assert found.message == Inbound("vg", FROM, OURS, "hi")
    assert found.part == (Concat(*expected) if expected else None)


def test_vonage_binary_messages_and_other_api_keys_are_not_read() -> None:
    params = {"msisdn": FROM[1:], "to": OURS[1:], "text": "hi", "type": "text"}
    assert vonage_message(vonage(), {**params, "type": "binary"}) is None
    assert vonage_message(vonage(), {**params, "api-key": "other"}) is None
    assert vonage_message(vonage(), {**params, "msisdn": ""}) is None
    short = vonage_message(vonage(), {**params, "to": "12345"})
    assert short is not None and short.message.to == "12345"


async def test_parts_out_of_order_and_again_make_one_message() -> None:
    inbox, sink = PartsInbox("vg", clock=Clock()), Sink()
    texts = ["a" * 10, "😀 b", "c"]
    for seq in (3, 1, 1, 2):
        await inbox.accept(sink, Inbound("vg", FROM, OURS, texts[seq - 1]), Concat(9, 3, seq))
    assert sink.messages == [Inbound("vg", FROM, OURS, "".join(texts))]
    assert inbox.waiting == 0
    await inbox.accept(sink, Inbound("vg", FROM, OURS, "c"), Concat(9, 3, 3))  # late again
    assert len(sink.messages) == 1


async def test_parts_that_never_complete_go_after_the_timeout_with_markers() -> None:
    clock = Clock()
    inbox, sink = PartsInbox("vg", timeout=30, clock=clock), Sink()
    await inbox.accept(sink, Inbound("vg", FROM, OURS, "first "), Concat(1, 3, 1))
    await inbox.accept(sink, Inbound("vg", FROM, OURS, " last"), Concat(1, 3, 3))
    clock.now += 29
    await inbox.expire(sink)
    assert sink.messages == []
    clock.now += 1
    # Any webhook checks the timeout first; a message of its own goes at once.
    await inbox.accept(sink, Inbound("vg", OURS, OURS, "single"), None)
    assert [m.text for m in sink.messages] == ["first [part 2 of 3 missing] last", "single"]


async def test_a_completing_part_the_sink_refuses_waits_again_and_stopping_flushes() -> None:
    clock = Clock()
    inbox, sink = PartsInbox("vg", clock=clock), Sink(fail=True)
    await inbox.accept(sink, Inbound("vg", FROM, OURS, "one "), Concat(5, 2, 1))
    with pytest.raises(RuntimeError):
        await inbox.accept(sink, Inbound("vg", FROM, OURS, "two"), Concat(5, 2, 2))
    assert inbox.waiting == 1
    sink.fail = False
    await inbox.accept(sink, Inbound("vg", FROM, OURS, "two"), Concat(5, 2, 2))
    assert [m.text for m in sink.messages] == ["one two"]

    await inbox.accept(sink, Inbound("vg", FROM, OURS, "half"), Concat(6, 2, 1))
    await inbox.flush(sink)
    assert sink.messages[-1].text == "half[part 2 of 2 missing]"
    assert inbox.waiting == 0
