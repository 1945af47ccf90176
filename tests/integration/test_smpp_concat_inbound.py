"""Long replies from handsets over SMPP, sent in parts by the node-smpp peer
(tests/peers/smsc): the provider joins them into one inbound message, whether the parts say
so in a UDH (8- or 16-bit reference) or in the SAR TLVs, and answers every part. Then the
whole path on SQLite and PostgreSQL: one inbound row and one `message.received` webhook."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from smsc import SmscControl, SmscProcess, eventually

from support import hook_receiver
from textgate.app import build, create_app, running
from textgate.delivery.base import Inbound, Receipt
from textgate.delivery.smpp import SmppConfig, SmppProvider
from textgate.settings import Settings
from textgate.store import inbound as inbound_store

HANDSET = "+381641234567"
LONG_REPLY = (
    "Thanks for the reminder. I can come on Tuesday at ten, but not before, because the "
    "bus from the village only leaves at eight and takes almost two hours to get to town. "
    "If Tuesday does not suit you, Thursday afternoon would work as well. Please send me "
    "the address again and tell me whether I should bring the papers from last year. Bye!"
)


def parts(text: str, size: int = 153) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


def udh8(ref: int, total: int, seq: int) -> bytes:
    return bytes((5, 0x00, 3, ref, total, seq))


def udh16(ref: int, total: int, seq: int) -> bytes:
    return bytes((6, 0x08, 4, ref >> 8, ref & 0xFF, total, seq))


class RecordingSink:
    def __init__(self) -> None:
        self.inbounds: list[Inbound] = []

    async def receipt(self, receipt: Receipt) -> None:
        pass

    async def inbound(self, message: Inbound) -> None:
        self.inbounds.append(message)


Start = Callable[..., Awaitable[tuple[SmppProvider, RecordingSink]]]


@pytest.fixture
async def start(smsc_peer: SmscProcess, smsc: SmscControl) -> AsyncIterator[Start]:
    started: list[SmppProvider] = []

    async def start(**overrides: Any) -> tuple[SmppProvider, RecordingSink]:
        table: dict[str, Any] = smsc_peer.provider_table(**({"response_timeout": 5.0} | overrides))
        provider = SmppProvider(SmppConfig.from_mapping("carrier", table))
        sink = RecordingSink()
        await provider.start(sink)
        started.append(provider)
        await eventually(lambda: provider.health().up, what="the bind")
        return provider, sink

    yield start
    for provider in started:
        await provider.stop()


async def test_shuffled_udh_parts_make_one_message_and_each_part_is_answered(
    start: Start, smsc: SmscControl
) -> None:
    _, sink = await start()
    chunks = parts(LONG_REPLY)
    assert len(chunks) == 3
    for seq in (3, 1, 3, 2):  # part 3 twice, as an SMSC that sends again
        await smsc.inbound(HANDSET, "TextGate", chunks[seq - 1], udh=udh8(200, 3, seq))

    await eventually(lambda: len(sink.inbounds) == 1, what="the whole message")
    await smsc.wait_stats(lambda s: s["inbound_acked"] == 4)
    await asyncio.sleep(0.1)  # nothing more comes
    assert sink.inbounds == [Inbound("carrier", HANDSET, "TextGate", LONG_REPLY)]
    assert (await smsc.stats())["inbound_nacked"] == 0


async def test_sar_parts_and_16_bit_ucs2_parts_with_an_emoji_cut_in_two(
    start: Start, smsc: SmscControl
) -> None:
    _, sink = await start()
    for seq, chunk in ((2, "and the rest"), (1, "First half, ")):
        await smsc.inbound(HANDSET, "38160123", chunk, sar=(0x1234, 2, seq))
    await eventually(lambda: len(sink.inbounds) == 1, what="the SAR message")
    assert sink.inbounds[0].text == "First half, and the rest"
    assert sink.inbounds[0].to == "38160123"

    text = "Здраво 👋 " * 8
    raw = text.encode("utf-16-be")
    cut = raw.index("👋".encode("utf-16-be")) + 2  # between the emoji's two surrogates
    pieces = [raw[:cut], raw[cut : cut + 60], raw[cut + 60 :]]
    for seq in (2, 3, 1):
        await smsc.inbound(
            HANDSET,
            "TextGate",
            "",
            "ucs2",
            udh=udh16(0xABCD, 3, seq),
            raw=pieces[seq - 1],
        )
    await eventually(lambda: len(sink.inbounds) == 2, what="the UCS-2 message")
    assert sink.inbounds[1].text == text
    await smsc.wait_stats(lambda s: s["inbound_acked"] == 5)


async def test_a_missing_part_times_out_into_a_message_with_a_marker(
    start: Start, smsc: SmscControl
) -> None:
    _, sink = await start(concat_timeout=0.3)
    chunks = parts(LONG_REPLY)
    began = time.monotonic()
    await smsc.inbound(HANDSET, "TextGate", chunks[2], udh=udh8(9, 3, 3))
    await smsc.inbound(HANDSET, "TextGate", chunks[0], udh=udh8(9, 3, 1))
    await smsc.wait_stats(lambda s: s["inbound_acked"] == 2)
    assert sink.inbounds == []

    await eventually(lambda: len(sink.inbounds) == 1, what="the timed-out message")
    assert time.monotonic() - began >= 0.3
    assert sink.inbounds[0].text == f"{chunks[0]}[part 2 of 3 missing]{chunks[2]}"


async def test_stopping_hands_over_parts_still_waiting(start: Start, smsc: SmscControl) -> None:
    provider, sink = await start()
    await smsc.inbound(HANDSET, "TextGate", "Only the first", udh=udh8(1, 2, 1))
    await smsc.wait_stats(lambda s: s["inbound_acked"] == 1)

    await provider.stop()

    assert [m.text for m in sink.inbounds] == ["Only the first[part 2 of 2 missing]"]


async def test_bad_concat_info_makes_plain_messages_and_the_link_stays_up(
    start: Start, smsc: SmscControl
) -> None:
    provider, sink = await start()
    await smsc.inbound(HANDSET, "TextGate", "zero parts", udh=udh8(1, 0, 1))
    await smsc.inbound(HANDSET, "TextGate", "part 4 of 3", udh=udh8(1, 3, 4))
    await smsc.inbound(HANDSET, "TextGate", "Hello", udh=bytes((0x40, 0x00, 0x03, 1, 2)))
    await smsc.inbound(HANDSET, "TextGate", "bad SAR", sar=(5, 2, 0))

    await eventually(lambda: len(sink.inbounds) == 4, what="four plain messages")
    assert [m.text for m in sink.inbounds] == [
        "zero parts",
        "part 4 of 3",
        "¡@¥£$Hello",  # a UDH of 64 octets in 10: all of it is GSM text
        "bad SAR",
    ]
    assert provider.health().up
    stats = await smsc.wait_stats(lambda s: s["inbound_acked"] == 4)
    assert stats["binds_ok"] == 1 and stats["inbound_nacked"] == 0


async def test_a_long_reply_is_one_inbound_row_and_one_received_webhook(
    database_url: str,
    settings_for: Callable[..., Settings],
    smsc_peer: SmscProcess,
    smsc: SmscControl,
) -> None:
    settings = settings_for(
        database_url,
        providers={"carrier": smsc_peer.provider_table(bind_wait=0.5)},
        routes=({"prefix": "+", "providers": ["carrier"]},),
        worker_poll_interval=0.02,
    )
    svc = build(settings)
    async with running(svc, worker=True):
        account, key = await svc.accounts.create("concat@example.com", credits_micros=10_000_000)
        with hook_receiver() as receiver:
            await svc.webhooks.set_url(account.id, receiver.url)
            transport = httpx.ASGITransport(app=create_app(settings, services=svc))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                r = await http.post(
                    "/api/send-sms",
                    json={"phone_number": HANDSET, "text": "Can you come on Monday?"},
                    headers={"Authorization": f"Bearer {key.secret}"},
                )
            assert r.status_code == 200, r.text
            sent_id = r.json()["data"]["id"]
            await until(lambda: receiver.events("message.sent") != [])

            chunks = parts(LONG_REPLY)
            for seq in (2, 3, 1):
                await smsc.inbound(HANDSET, "TextGate", chunks[seq - 1], udh=udh8(77, 3, seq))
            await until(lambda: receiver.events("message.received") != [])
            await smsc.wait_stats(lambda s: s["inbound_acked"] == 3)
            await asyncio.sleep(0.3)  # nothing more comes

            [received] = receiver.events("message.received")
            stored = await svc.db.read(inbound_store.recent)

    assert [(m.from_number, m.to_number, m.text, m.account_id) for m in stored] == [
        (HANDSET, "TextGate", LONG_REPLY, account.id)
    ]
    assert received["data"]["text"] == LONG_REPLY
    assert received["data"]["from"] == HANDSET
    assert received["data"]["in_reply_to"] == sent_id


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
