"""How many submits (each with its delivery receipt) a second one SMPP bind carries.

    .venv/bin/python bench/smpp_provider.py [--messages 20000] [--windows 10,50]

Starts the node SMSC peer (tests/peers/smsc, `npm ci --prefix tests/peers/smsc` first),
binds one transceiver through SmppProvider and pushes the messages through it from enough
concurrent submitters to keep the window full. A message counts when its submit_sm_resp and
its receipt have both arrived. Loopback only; ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import smsc  # noqa: E402  (the peer helpers the integration tests use)

from textgate.delivery.base import Inbound, Outgoing, Receipt  # noqa: E402
from textgate.delivery.smpp import SmppConfig, SmppProvider  # noqa: E402
from textgate.domain.text import Encoding  # noqa: E402


class CountingSink:
    def __init__(self, expected: int) -> None:
        self.receipts = 0
        self._expected = expected
        self.all_in = asyncio.Event()

    async def receipt(self, receipt: Receipt) -> None:
        self.receipts += 1
        if self.receipts >= self._expected:
            self.all_in.set()

    async def inbound(self, message: Inbound) -> None:
        pass


async def run(peer: smsc.SmscProcess, messages: int, window: int) -> float:
    control = smsc.SmscControl(peer.control_port)
    await control.reset()
    config = SmppConfig.from_mapping(
        "bench",
        {
            "host": "127.0.0.1",
            "port": peer.smpp_port,
            "system_id": smsc.SYSTEM_ID,
            "password": smsc.PASSWORD,
            "source_addr": "TextGate",
            "window": window,
        },
    )
    provider = SmppProvider(config)
    sink = CountingSink(messages)
    await provider.start(sink)
    await smsc.eventually(lambda: provider.health().up, what="the bind")
    numbers = iter(range(messages))

    async def submitter() -> None:
        for n in numbers:
            await provider.submit(
                Outgoing(
                    message_id=n,
                    to=f"+3816{n:08d}",
                    text=f"Your code is {n % 1000000:06d}",
                    encoding=Encoding.GSM7,
                    segments=1,
                )
            )

    started = time.perf_counter()
    await asyncio.gather(*(submitter() for _ in range(window * 2)))
    submitted = time.perf_counter() - started
    await asyncio.wait_for(sink.all_in.wait(), 120)
    elapsed = time.perf_counter() - started
    await provider.stop()
    stats = await control.stats()
    await control.aclose()
    assert stats["submits"] == messages and stats["receipts_acked"] == messages, stats
    print(
        f"window {window:>3}: {messages} submits in {submitted:.2f}s "
        f"({messages / submitted:,.0f}/s); with all receipts in {elapsed:.2f}s "
        f"({messages / elapsed:,.0f} messages/s)"
    )
    return messages / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--windows", default="10,50")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        peer = smsc.start_process(Path(tmp) / "smsc.log")
        try:
            for window in (int(w) for w in args.windows.split(",")):
                asyncio.run(run(peer, args.messages, window))
        finally:
            peer.stop()


if __name__ == "__main__":
    main()
