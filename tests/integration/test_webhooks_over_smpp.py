"""Status webhooks over the full SMPP path (SQLite and PostgreSQL): send-sms through the API,
the worker submits to the node-smpp peer, its receipts and a handset's reply come back, and
a real HTTP receiver on 127.0.0.1 gets message.sent, message.delivered, message.failed and
message.received, each signed with the account's secret."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from smsc import SmscControl, SmscProcess

from support import hook_receiver
from textgate.app import build, create_app, running
from textgate.domain import webhooks as signing
from textgate.settings import Settings

DELIVERED_TO = "+381640000001"
UNDELIVERED_TO = "+381640000002"
REFUSED_TO = "+381640000003"


async def test_sent_delivered_failed_and_a_reply_reach_the_webhook(
    database_url: str,
    settings_for: Callable[..., Settings],
    smsc_peer: SmscProcess,
    smsc: SmscControl,
) -> None:
    await smsc.rules(receipt_stat={UNDELIVERED_TO: "UNDELIV"}, reject={REFUSED_TO: 11})
    settings = settings_for(
        database_url,
        providers={"carrier": smsc_peer.provider_table(bind_wait=0.5)},
        routes=({"prefix": "+", "providers": ["carrier"]},),
        worker_poll_interval=0.02,
    )
    svc = build(settings)
    async with running(svc, worker=True):
        account, key = await svc.accounts.create("smpp@example.com", credits_micros=10_000_000)
        with hook_receiver() as receiver:
            secret = await svc.webhooks.set_url(account.id, receiver.url)
            assert secret is not None
            transport = httpx.ASGITransport(app=create_app(settings, services=svc))
            ids: dict[str, int] = {}
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
                for to in (DELIVERED_TO, UNDELIVERED_TO, REFUSED_TO):
                    r = await http.post(
                        "/api/send-sms",
                        json={"phone_number": to, "text": "Reply YES"},
                        headers={"Authorization": f"Bearer {key.secret}"},
                    )
                    assert r.status_code == 200, r.text
                    ids[to] = r.json()["data"]["id"]

            def types() -> list[tuple[str, Any]]:
                return sorted((h.event["type"], h.event["data"]["id"]) for h in receiver.got)

            await until(lambda: len(receiver.got) >= 5)
            await smsc.inbound(DELIVERED_TO, "TextGate", "YES")
            await until(lambda: len(receiver.got) >= 6)
            await asyncio.sleep(0.2)  # nothing more comes

            events = {}
            for hook in receiver.got:
                signing.verify(
                    secret, hook.body, hook.headers["x-textgate-signature"], now=time.time()
                )
                events[(hook.event["type"], hook.event["data"].get("to"))] = hook.event["data"]
            assert len(receiver.got) == 6, types()

    assert set(events) == {
        ("message.sent", DELIVERED_TO),
        ("message.sent", UNDELIVERED_TO),
        ("message.delivered", DELIVERED_TO),
        ("message.failed", UNDELIVERED_TO),
        ("message.failed", REFUSED_TO),
        ("message.received", "TextGate"),
    }
    assert events[("message.delivered", DELIVERED_TO)]["status"] == "delivered"
    assert events[("message.failed", UNDELIVERED_TO)]["status"] == "undelivered"
    refused = events[("message.failed", REFUSED_TO)]
    assert refused["status"] == "failed" and refused["provider"] == "carrier"
    assert refused["error"] and refused["submitted_at"] is None
    reply = events[("message.received", "TextGate")]
    assert reply["from"] == DELIVERED_TO and reply["text"] == "YES"
    assert reply["in_reply_to"] == ids[DELIVERED_TO]


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)
