"""SmppProvider against a real SMSC peer (node-smpp, tests/peers/smsc/server.js)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from smsc import PASSWORD, SmscControl, SmscProcess, eventually

from textgate.delivery.base import (
    Inbound,
    Outgoing,
    PermanentError,
    Receipt,
    ReceiptState,
    Submitted,
    TransientError,
)
from textgate.delivery.smpp import SmppConfig, SmppProvider
from textgate.domain import text as sms_text

SERBIA = "+381690156360"


class RecordingSink:
    def __init__(self) -> None:
        self.receipts: list[Receipt] = []
        self.inbounds: list[Inbound] = []

    async def receipt(self, receipt: Receipt) -> None:
        self.receipts.append(receipt)

    async def inbound(self, message: Inbound) -> None:
        self.inbounds.append(message)

    def receipt_for(self, provider_message_id: str) -> Receipt | None:
        return next(
            (r for r in self.receipts if r.provider_message_id == provider_message_id), None
        )


def outgoing(to: str = SERBIA, text: str = "Your code is 123456", message_id: int = 1) -> Outgoing:
    info = sms_text.analyze(text)
    return Outgoing(
        message_id=message_id, to=to, text=text, encoding=info.encoding, segments=info.segments
    )


Start = Callable[..., Awaitable[tuple[SmppProvider, RecordingSink]]]


@pytest.fixture
async def start(smsc_peer: SmscProcess, smsc: SmscControl) -> AsyncIterator[Start]:
    started: list[SmppProvider] = []

    async def start(
        wait_bound: bool = True, **overrides: Any
    ) -> tuple[SmppProvider, RecordingSink]:
        defaults = {
            "window": 10,
            "reconnect_max": 0.5,
            "submit_timeout": 10.0,
            "response_timeout": 5.0,
        }
        table: dict[str, Any] = smsc_peer.provider_table(**(defaults | overrides))
        provider = SmppProvider(SmppConfig.from_mapping("carrier", table))
        sink = RecordingSink()
        await provider.start(sink)
        started.append(provider)
        if wait_bound:
            await eventually(lambda: provider.health().up, what="the bind")
        return provider, sink

    yield start
    for provider in started:
        await provider.stop()


async def test_bind_submit_and_receipt(start: Start, smsc: SmscControl) -> None:
    provider, sink = await start()
    health = provider.health()
    assert health.up and health.detail["binds"] == "1/1" and health.name == "carrier"

    submitted = await provider.submit(outgoing())

    assert submitted.part_ids == ()
    [record] = await smsc.submits()
    assert record["message_id"] == submitted.provider_message_id
    assert record["destination_addr"] == SERBIA[1:]
    assert (record["dest_addr_ton"], record["dest_addr_npi"]) == (1, 1)
    assert record["source_addr"] == "TextGate"
    assert (record["source_addr_ton"], record["source_addr_npi"]) == (5, 0)
    assert (record["data_coding"], record["esm_class"], record["udh"]) == (0, 0, None)
    assert record["registered_delivery"] == 1
    assert record["text"] == "Your code is 123456"
    await eventually(lambda: sink.receipts != [], what="the receipt")
    [receipt] = sink.receipts
    assert receipt.provider == "carrier"
    assert receipt.provider_message_id == submitted.provider_message_id
    assert receipt.state is ReceiptState.DELIVERED
    assert receipt.error_code is None
    assert receipt.raw["stat"] == "DELIVRD"


async def test_thousand_submits_through_a_window_of_ten(start: Start, smsc: SmscControl) -> None:
    provider, sink = await start(window=10)
    numbers = [f"+38164{n:07d}" for n in range(1000)]

    results = await asyncio.gather(
        *(provider.submit(outgoing(to, message_id=i)) for i, to in enumerate(numbers))
    )

    ids = {result.provider_message_id for result in results}
    assert len(ids) == 1000
    await eventually(lambda: len(sink.receipts) >= 1000, what="1,000 receipts")
    assert {receipt.provider_message_id for receipt in sink.receipts} == ids
    records = await smsc.submits()
    assert sorted(record["destination_addr"] for record in records) == [n[1:] for n in numbers]
    stats = await smsc.wait_stats(lambda s: s["receipts_acked"] == 1000)
    assert stats["submits"] == 1000 and stats["binds_ok"] == 1
    assert provider.health().in_flight == 0


async def test_window_caps_unanswered_submits(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(window=10, binds=2)
    await smsc.rules(hold=True)

    pending = [
        asyncio.create_task(provider.submit(outgoing(f"+38164100{n:04d}", message_id=n)))
        for n in range(30)
    ]
    await smsc.wait_stats(lambda s: s["held"] == 20)
    await asyncio.sleep(0.2)
    assert (await smsc.stats())["submits"] == 20  # two binds, ten each
    assert provider.health().in_flight == 30
    await smsc.rules(hold=False)

    results = await asyncio.gather(*pending)
    assert len({r.provider_message_id for r in results}) == 30
    connections = {r["connection"] for r in await smsc.submits()}
    assert len(connections) == 2


async def test_long_ucs2_message_goes_as_three_numbered_parts(
    start: Start, smsc: SmscControl
) -> None:
    provider, sink = await start()
    text = "您的验证码是123456请勿告诉他人。 " * 8  # 152 UTF-16 units: 67 + 67 + 18
    assert sms_text.analyze(text).segments == 3

    submitted = await provider.submit(outgoing(text=text))

    assert len(submitted.part_ids) == 3 and len(set(submitted.part_ids)) == 3
    assert submitted.provider_message_id == submitted.part_ids[0]
    records = await smsc.submits()
    assert [r["message_id"] for r in records] == list(submitted.part_ids)
    assert {(r["data_coding"], r["esm_class"]) for r in records} == {(8, 0x40)}
    assert len({r["udh"]["ref"] for r in records}) == 1
    assert [(r["udh"]["total"], r["udh"]["seq"]) for r in records] == [(3, 1), (3, 2), (3, 3)]
    assert all(r["short_message"].startswith("050003") for r in records)
    assert "".join(r["text"] for r in records) == text
    await eventually(lambda: len(sink.receipts) == 3, what="a receipt per part")
    assert {r.provider_message_id for r in sink.receipts} == set(submitted.part_ids)


async def test_long_gsm_message_with_extension_characters(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start()
    text = "Price: 5€ [promo] {code} ~ " * 8  # the peer decodes GSM 03.38 itself

    submitted = await provider.submit(outgoing(text=text))

    records = await smsc.submits()
    assert len(records) == len(submitted.part_ids) == sms_text.analyze(text).segments
    assert {r["data_coding"] for r in records} == {0}
    assert "".join(r["text"] for r in records) == text


async def test_message_payload_sends_one_pdu(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(use_message_payload=True)
    text = "您的验证码是123456请勿告诉他人。 " * 8

    submitted = await provider.submit(outgoing(text=text))

    assert submitted.part_ids == ()
    [record] = await smsc.submits()
    assert record["message_id"] == submitted.provider_message_id
    assert (record["esm_class"], record["data_coding"], record["short_message"]) == (0, 8, "")
    assert record["message_payload"] == text.encode("utf-16-be").hex()
    assert record["text"] == text


async def test_throttled_is_transient_and_bad_destination_permanent(
    start: Start, smsc: SmscControl
) -> None:
    provider, _ = await start()
    throttled, invalid = "+381641000001", "+381641000002"
    await smsc.rules(throttle={throttled: 2}, reject={invalid: 0x0B})

    for _ in range(2):
        with pytest.raises(TransientError) as transient:
            await provider.submit(outgoing(throttled))
        assert transient.value.reason == "ESME_RTHROTTLED"
        assert transient.value.retry_after is not None and transient.value.retry_after > 0
    assert isinstance(await provider.submit(outgoing(throttled)), Submitted)
    with pytest.raises(PermanentError) as permanent:
        await provider.submit(outgoing(invalid))
    assert permanent.value.reason == "ESME_RINVDSTADR"
    assert provider.health().up


async def test_receipt_before_submit_resp_still_reaches_the_sink(
    start: Start, smsc: SmscControl
) -> None:
    provider, sink = await start()
    await smsc.rules(receipt_first=True, receipt_delay_ms=200)

    submitted = await provider.submit(outgoing())

    # The receipt came 200 ms before the submit_sm_resp: it is already in the sink.
    receipt = sink.receipt_for(submitted.provider_message_id)
    assert receipt is not None and receipt.state is ReceiptState.DELIVERED


async def test_receipt_states_and_text_only_receipts(start: Start, smsc: SmscControl) -> None:
    provider, sink = await start()
    undelivered, expired = "+381641000003", "+381641000004"
    await smsc.rules(receipt_stat={undelivered: "UNDELIV", expired: "EXPIRED"}, receipt_tlvs=False)

    first = await provider.submit(outgoing(undelivered))
    second = await provider.submit(outgoing(expired))

    await eventually(lambda: len(sink.receipts) == 2, what="two receipts")
    by_id = {r.provider_message_id: r for r in sink.receipts}
    assert by_id[first.provider_message_id].state is ReceiptState.UNDELIVERED
    assert by_id[first.provider_message_id].error_code == "001"
    assert by_id[second.provider_message_id].state is ReceiptState.EXPIRED
    assert "message_state" not in by_id[first.provider_message_id].raw


async def test_dropped_link_fails_in_flight_submits_then_reconnects(
    start: Start, smsc: SmscControl
) -> None:
    provider, _ = await start(window=10)
    await smsc.rules(hold=True)
    in_flight = [
        asyncio.create_task(provider.submit(outgoing(f"+38164200{n:04d}", message_id=n)))
        for n in range(10)
    ]
    await smsc.wait_stats(lambda s: s["held"] == 10)

    assert await smsc.drop() == 1
    results = await asyncio.gather(*in_flight, return_exceptions=True)

    assert all(isinstance(r, TransientError) for r in results), results
    assert all("link lost" in r.reason for r in results if isinstance(r, TransientError))
    await smsc.rules(hold=False)
    await eventually(lambda: provider.health().up, what="the rebind")
    assert provider.health().in_flight == 0
    submitted = await provider.submit(outgoing())
    assert submitted.provider_message_id
    stats = await smsc.stats()
    assert stats["binds_ok"] == 2 and stats["submits"] == 11


async def test_unanswered_submit_times_out_and_frees_its_slot(
    start: Start, smsc: SmscControl
) -> None:
    provider, _ = await start(window=1, submit_timeout=0.3)
    await smsc.rules(hold=True)

    with pytest.raises(TransientError) as error:
        await provider.submit(outgoing())

    assert error.value.reason == "smpp submit_sm_resp timed out"
    await eventually(lambda: provider.health().in_flight == 0, what="the slot freed")
    await smsc.rules(hold=False)  # the late submit_sm_resp is ignored
    assert (await provider.submit(outgoing())).provider_message_id
    assert provider.health().up


async def test_failing_sink_gets_a_temporary_error_resp(start: Start, smsc: SmscControl) -> None:
    class FailingSink(RecordingSink):
        async def receipt(self, receipt: Receipt) -> None:
            raise RuntimeError("database is down")

    provider, _ = await start()
    await provider.stop()
    await provider.start(FailingSink())
    await eventually(lambda: provider.health().up, what="the bind")

    await provider.submit(outgoing())

    await smsc.wait_stats(lambda s: s["receipts_nacked"] == 1 and s["receipts_acked"] == 0)
    assert provider.health().up


async def test_wrong_password_is_down_and_transient(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(wait_bound=False, password="wrong", bind_wait=0.2)
    await smsc.wait_stats(lambda s: s["binds_refused"] >= 2)

    health = provider.health()
    assert not health.up and health.detail["binds"] == "0/1"
    assert health.last_error == "bind refused: ESME_RINVPASWD"
    with pytest.raises(TransientError) as error:
        await provider.submit(outgoing())
    assert "ESME_RINVPASWD" in error.value.reason
    assert (await smsc.stats())["submits"] == 0


async def test_throughput_cap_holds_across_binds(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(throughput=20, binds=2)
    await eventually(lambda: provider.health().detail["binds"] == "2/2", what="both binds")

    await asyncio.gather(
        *(provider.submit(outgoing(f"+38164300{n:04d}", message_id=n)) for n in range(40))
    )

    stamps = sorted(r["at_ms"] for r in await smsc.submits())
    rate = (len(stamps) - 1) / ((stamps[-1] - stamps[0]) / 1000)
    assert 10 < rate < 25, rate  # 20/s asked; generous for a busy machine
    assert len({r["connection"] for r in await smsc.submits()}) == 2


async def test_inbound_messages_reach_the_sink(start: Start, smsc: SmscControl) -> None:
    _, sink = await start()

    await smsc.inbound("+381641234567", "TextGate", "STOP please {now}")
    await smsc.inbound("+381641234568", "TextGate", "你好 👋")
    await eventually(lambda: len(sink.inbounds) == 2, what="two inbound messages")

    first, second = sink.inbounds
    assert first == Inbound("carrier", "+381641234567", "TextGate", "STOP please {now}")
    assert second.from_number == "+381641234568" and second.text == "你好 👋"
    assert sink.receipts == []


async def test_transmitter_and_receiver_binds(start: Start, smsc: SmscControl) -> None:
    provider, sink = await start(bind_mode="transmitter_receiver")
    await eventually(lambda: provider.health().detail["binds"] == "2/2", what="both sessions")

    submitted = await provider.submit(outgoing())

    await eventually(lambda: sink.receipts != [], what="the receipt over the receiver")
    assert sink.receipts[0].provider_message_id == submitted.provider_message_id
    [record] = await smsc.submits()
    assert record["bind"] == "bind_transmitter"
    stats = await smsc.stats()
    assert stats["bound"] == {"bind_transceiver": 0, "bind_transmitter": 1, "bind_receiver": 1}


async def test_enquire_link_keeps_an_idle_link(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(enquire_link_interval=0.1)
    await smsc.wait_stats(lambda s: s["enquire_links"] >= 3, timeout=5)
    assert provider.health().up


async def test_stop_unbinds(start: Start, smsc: SmscControl) -> None:
    provider, _ = await start(binds=2)
    await eventually(lambda: provider.health().detail["binds"] == "2/2", what="both binds")

    await provider.stop()

    await smsc.wait_stats(lambda s: s["unbinds"] == 2 and s["connections"] == 0)
    assert not provider.health().up
    with pytest.raises(TransientError):
        await provider.submit(outgoing())


async def test_logs_hold_no_password_and_no_whole_number(
    start: Start, smsc: SmscControl, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="textgate.delivery.smpp")
    bad, _ = await start(wait_bound=False, password="wrong", bind_wait=0.1)
    provider, _ = await start()
    await smsc.rules(reject={SERBIA: 0x0B})
    with pytest.raises(TransientError):
        await bad.submit(outgoing())
    with pytest.raises(PermanentError):
        await provider.submit(outgoing())
    await smsc.rules(hold=True)
    task = asyncio.create_task(provider.submit(outgoing("+381641234567")))
    await smsc.wait_stats(lambda s: s["held"] == 1)
    await smsc.drop()
    with pytest.raises(TransientError):
        await task

    def actions() -> set[str | None]:
        return {getattr(record, "action", None) for record in caplog.records}

    await eventually(lambda: "smpp_link_lost" in actions(), what="the link_lost log")
    assert {"smpp_bound", "smpp_bind_failed", "smpp_submit_failed"} <= actions()
    text = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    for secret in (PASSWORD, "wrong", SERBIA[1:], "381641234567"):
        assert secret not in text
