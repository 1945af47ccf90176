"""Accepting one bulk-sms of 100,000 numbers: seconds from request to answer, and memory.

    .venv/bin/python bench/bulk_accept.py [--recipients 100000] [--rounds 3]
        [--database-url postgresql://postgres@127.0.0.1:5432/bench] [--processes 2] [--probe]

The request goes through the real route in-process (JSON body, auth, parse, dedupe, price,
one transaction that debits and inserts every message), on a fresh SQLite file by default
(synchronous=FULL). The numbers are distinct valid ones from two countries; each round
sends another list. Nothing else runs meanwhile: no worker claims the messages. The first
round also starts the parser processes.

With --probe, /health is asked every 10 ms meanwhile, on the same event loop: the longest
answer says how long the API was kept waiting (the probing costs the accept some time).
Prints each round's seconds, then the peak RSS of this process (before the first request
and at the end) and the memory of the parser processes, as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import resource
import tempfile
import time
from pathlib import Path

import httpx

from textgate.app import build, create_app, running
from textgate.settings import Settings
from textgate.store import migrate


def numbers(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    serbia = {f"+38169{x:07d}" for x in rng.sample(range(10**7), n // 2)}
    usa = {f"+1201{rng.randrange(2, 10)}{x:06d}" for x in rng.sample(range(10**6), n - n // 2)}
    out = list(serbia | usa)
    rng.shuffle(out)
    return out


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def parser_memory_mb() -> list[dict[str, float]]:
    """Each parser process's RSS and the part of it that is its own (the rest it shares
    with this process, which it was forked from)."""
    found = []
    for child in multiprocessing.active_children():
        fields = {}
        for line in Path(f"/proc/{child.pid}/smaps_rollup").read_text().splitlines()[1:]:
            name, value, *_ = line.split()
            fields[name.rstrip(":")] = int(value) / 1024
        private = fields["Private_Clean"] + fields["Private_Dirty"]
        found.append({"rss_mb": round(fields["Rss"], 1), "private_mb": round(private, 1)})
    return found


async def health_latencies(
    client: httpx.AsyncClient, done: asyncio.Event, probe: bool
) -> list[float]:
    """GET /health every 10 ms until `done`: how long the event loop kept it waiting."""
    waits: list[float] = []
    while probe and not done.is_set():
        started = time.perf_counter()
        await client.get("/health")
        waits.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return waits


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="textgate-bulk-"))
    url = args.database_url or f"sqlite:///{tmp / 'textgate.db'}"
    await asyncio.to_thread(migrate.upgrade, url)
    settings = Settings.from_sources(
        {
            "TEXTGATE_DATABASE_URL": url,
            "TEXTGATE_DATA_DIR": str(tmp),
            "TEXTGATE_PEPPER": "ab" * 32,
            "TEXTGATE_BULK_PARSE_PROCESSES": str(args.processes),
        },
        {},
    )
    svc = build(settings)
    bodies = [
        json.dumps({"phone_numbers": numbers(args.recipients, seed), "text": "Sale ends Sunday"})
        for seed in range(args.rounds)
    ]
    async with running(svc, worker=False):
        _, key = await svc.accounts.create(
            f"bench{time.time_ns()}@example.com", credits_micros=10**15
        )
        app = create_app(settings, services=svc)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {key.secret}", "Content-Type": "application/json"}
        rss_before = peak_rss_mb()
        rounds = []
        async with httpx.AsyncClient(transport=transport, base_url="http://t", timeout=60) as c:
            for body in bodies:
                done = asyncio.Event()
                probe = asyncio.create_task(health_latencies(c, done, args.probe))
                started = time.perf_counter()
                r = await c.post("/api/bulk-sms", content=body, headers=headers)
                seconds = time.perf_counter() - started
                done.set()
                waits = sorted(await probe)
                reply = r.json()
                assert r.status_code == 200, reply
                rounds.append(
                    {
                        "seconds": round(seconds, 3),
                        "accepted": reply["accepted"],
                        "rejected": reply["rejected"],
                        "health_checks": len(waits),
                        "health_max_ms": round(waits[-1] * 1000, 1) if waits else None,
                    }
                )
                print(f"round {len(rounds)}: {seconds:.3f} s, {reply['accepted']} accepted")
        parsers = parser_memory_mb()
    print(
        json.dumps(
            {
                "database": "sqlite" if url.startswith("sqlite") else "postgresql",
                "recipients": args.recipients,
                "processes": args.processes,
                "rounds": rounds,
                "peak_rss_mb_before_first_request": round(rss_before, 1),
                "peak_rss_mb": round(peak_rss_mb(), 1),
                "parser_processes": parsers,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--probe", action="store_true", help="time /health meanwhile")
    asyncio.run(main(parser.parse_args()))
