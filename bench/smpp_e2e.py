"""End to end over SMPP: messages accepted, queued, claimed, submitted to the node SMSC
peer, their receipts matched and applied, until every one is delivered.

    .venv/bin/python bench/smpp_e2e.py [--messages 100000] [--database URL]
        [--window 50] [--binds 1] [--batch 500] [--receipt-delay-ms 50] [--profile FILE]

Starts the peer (tests/peers/smsc: `npm ci --prefix tests/peers/smsc` first) and textgate's
services in this process with the worker running (the same `build` + `running` that
`textgate serve` uses), on a fresh SQLite file unless --database names a PostgreSQL
database (its tables are emptied first). Messages are accepted through the send service
(what POST /api/send-sms calls after parsing and authenticating) from 256 concurrent
senders while the worker is already sending; the clock runs from the first accept to the
last delivered receipt. The peer's counters then confirm one submit and one acknowledged
receipt per message. With --profile FILE, cProfile's statistics of the whole run go to
FILE (or record it from outside: `.venv/bin/py-spy record -o out.svg -- <this command>`).
Loopback only; ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import pstats
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

import smsc  # noqa: E402  (the peer helpers the integration tests use)

from textgate.app import build, running  # noqa: E402
from textgate.domain.states import MessageKind  # noqa: E402
from textgate.services.container import Services  # noqa: E402
from textgate.settings import Settings  # noqa: E402
from textgate.store import messages, migrate  # noqa: E402
from textgate.store.records import Caller  # noqa: E402

SENDERS = 256
TABLES = "message_parts, pending_receipts, inbound_messages, message_events, messages"


def settings_for(args: argparse.Namespace, peer: smsc.SmscProcess, tmp: Path) -> Settings:
    env = {
        "TEXTGATE_DATA_DIR": str(tmp),
        "TEXTGATE_DATABASE_URL": args.database or f"sqlite:///{tmp / 'textgate.db'}",
        "TEXTGATE_PEPPER": "ab" * 32,
        "TEXTGATE_LOG_LEVEL": "WARNING",
        "TEXTGATE_WORKER_BATCH": str(args.batch),
        "TEXTGATE_WORKER_CONCURRENCY": str(args.concurrency),
        "TEXTGATE_SQLITE_SYNCHRONOUS": args.synchronous,
    }
    config = {
        "providers": {
            "carrier": {
                "type": "smpp",
                "host": "127.0.0.1",
                "port": peer.smpp_port,
                "system_id": smsc.SYSTEM_ID,
                "password": smsc.PASSWORD,
                "source_addr": "TextGate",
                "window": args.window,
                "binds": args.binds,
            }
        },
        "routes": [{"prefix": "+", "providers": ["carrier"]}],
    }
    return Settings.from_sources(env, config)


async def empty_postgres(svc: Services) -> None:
    def truncate(conn: object) -> None:
        conn.exec_driver_sql(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")  # type: ignore[attr-defined]

    await svc.db.write(truncate)


async def run(args: argparse.Namespace, peer: smsc.SmscProcess, tmp: Path) -> dict[str, object]:
    control = smsc.SmscControl(peer.control_port)
    await control.reset()
    settings = settings_for(args, peer, tmp)
    svc = build(settings)
    if not settings.is_sqlite:
        await empty_postgres(svc)
    async with running(svc, worker=True):
        account, key = await svc.accounts.create(
            f"bench{time.time_ns()}@example.com", credits_micros=10**15
        )
        caller = Caller(account_id=account.id, key_id=key.key.id)
        provider = svc.router.providers["carrier"]
        await smsc.eventually(lambda: provider.health().up, what="the bind")
        numbers = iter(range(args.messages))

        async def sender() -> None:
            for n in numbers:
                await svc.sender.send(
                    caller, f"+3816{n % 10_000_000:08d}", f"Your code is {n:06d}", MessageKind.SMS
                )

        intake = svc.receipts
        assert intake is not None
        cpu = cpu_seconds(peer)
        started = time.perf_counter()
        await asyncio.gather(*(sender() for _ in range(SENDERS)))
        accepted = time.perf_counter() - started
        while True:
            # Counting rows scans the table: only once every receipt has been written.
            if intake.receipts >= args.messages:
                counts = await svc.db.read(messages.count_by_status, account.id)
                if counts.get("delivered", 0) >= args.messages:
                    break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        used = [round(b - a, 1) for a, b in zip(cpu, cpu_seconds(peer), strict=True)]
        kept = intake.kept
    stats = await control.stats()
    await control.aclose()
    assert counts == {"delivered": args.messages}, counts
    assert stats["submits"] == args.messages, stats
    assert stats["receipts_acked"] == args.messages, stats
    return {
        "messages": args.messages,
        "database": "sqlite" if settings.is_sqlite else "postgresql",
        "window": args.window,
        "binds": args.binds,
        "worker_batch": args.batch,
        "worker_concurrency": args.concurrency,
        "accept_seconds": round(accepted, 2),
        "accept_per_second": round(args.messages / accepted),
        "end_to_end_seconds": round(elapsed, 2),
        "end_to_end_per_second": round(args.messages / elapsed),
        "receipts_before_their_submit_was_recorded": kept,
        "cpu_seconds_textgate": used[0],
        "cpu_us_per_message_textgate": round(used[0] / args.messages * 1e6),
        "cpu_seconds_peer": used[1],
    }


def cpu_seconds(peer: smsc.SmscProcess) -> tuple[float, float]:
    """CPU time (user + system) used so far by this process and by the peer."""
    ours = resource.getrusage(resource.RUSAGE_SELF)
    fields = Path(f"/proc/{peer.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return ours.ru_utime + ours.ru_stime, (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", default="", help="postgresql://... (default: SQLite)")
    parser.add_argument("--synchronous", default="FULL", help="SQLite synchronous")
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--binds", type=int, default=1)
    parser.add_argument("--batch", type=int, default=500, help="worker batch")
    parser.add_argument("--concurrency", type=int, default=2000, help="worker concurrency")
    parser.add_argument("--receipt-delay-ms", type=int, default=50)
    parser.add_argument("--profile", default="", help="write cProfile statistics here")
    args = parser.parse_args()
    # As `textgate serve` runs (cli/asgi.py): short GIL switch interval, frozen start-up
    # objects, fewer young collections.
    sys.setswitchinterval(0.0005)
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.database:
            migrate.upgrade(args.database)
        else:
            migrate.upgrade(f"sqlite:///{tmp / 'textgate.db'}")
        peer = smsc.start_process(tmp / "smsc.log", receipt_delay_ms=args.receipt_delay_ms)
        try:
            import uvloop

            profile = cProfile.Profile() if args.profile else None
            if profile is not None:
                profile.enable()
            result = uvloop.run(run(args, peer, tmp))
            if profile is not None:
                profile.disable()
                with open(args.profile, "w") as out:
                    pstats.Stats(profile, stream=out).sort_stats("cumulative").print_stats(60)
        finally:
            peer.stop()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
