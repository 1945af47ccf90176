"""The send-sms workload: wrk, 64 connections, against `textgate serve` (SQLite, worker on)
and, in the same run, against a bare Litestar route served the same way.

    .venv/bin/python bench/send_sms.py [--seconds 30] [--connections 64] [--synchronous FULL]

Prints a JSON summary and a Markdown table row for bench/RESULTS.md. Afterwards it checks
that every send-sms answered 200 is a row in the database (durability) and how many the
worker has handed to the console provider."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(url: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def wrk(url: str, seconds: int, connections: int, key: str) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(ROOT / "bench" / "send_sms.lua"),
            url + "/api/send-sms",
        ],
        env={**os.environ, "TEXTGATE_KEY": key},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(x for x in out.splitlines() if x.startswith("JSON "))
    return dict(json.loads(line[5:]))


def pending(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(
            conn.execute(
                "SELECT count(*) FROM messages WHERE status IN ('queued', 'sending')"
            ).fetchone()[0]
        )


def combine(runs: list[dict[str, float]]) -> dict[str, float]:
    """Rounds added up: total requests over total time; latency figures are the worst round's
    (p50 the median of the rounds')."""
    requests = sum(r["requests"] for r in runs)
    seconds = sum(r["seconds"] for r in runs)
    p50s = sorted(r["p50_ms"] for r in runs)
    return {
        "requests": requests,
        "seconds": round(seconds, 3),
        "rps": round(requests / seconds, 1),
        "p50_ms": p50s[len(p50s) // 2],
        "p99_ms": max(r["p99_ms"] for r in runs),
        "max_ms": max(r["max_ms"] for r in runs),
        "errors": sum(
            r["errors_connect"]
            + r["errors_read"]
            + r["errors_write"]
            + r["errors_status"]
            + r["errors_timeout"]
            for r in runs
        ),
        "non_2xx": sum(r["errors_status"] for r in runs),
        "rounds": [round(r["rps"]) for r in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30, help="total per target")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--synchronous", default="FULL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    per_round = max(1, args.seconds // args.rounds)

    tmp = Path(tempfile.mkdtemp(prefix="textgate-bench-"))
    db = tmp / "textgate.db"
    env = {
        **os.environ,
        "TEXTGATE_DATA_DIR": str(tmp),
        "TEXTGATE_DATABASE_URL": f"sqlite:///{db}",
        "TEXTGATE_SQLITE_SYNCHRONOUS": args.synchronous,
        "TEXTGATE_LOG_LEVEL": "WARNING",
    }
    key = (
        subprocess.run(
            [
                PY,
                "-m",
                "textgate.cli",
                "accounts",
                "create",
                "bench@example.com",
                "--credits",
                "100000000",
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )

    port, bare_port = free_port(), free_port()
    server = subprocess.Popen(
        [PY, "-m", "textgate.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("w"),
    )
    bare = subprocess.Popen(
        [
            PY,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--loop",
            "uvloop",
            "--port",
            str(bare_port),
            "--no-log",
            "--backlog",
            "2048",
            "bench.bare:app",
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    targets = {"textgate": f"http://127.0.0.1:{port}", "bare": f"http://127.0.0.1:{bare_port}"}
    runs: dict[str, list[dict[str, float]]] = {"textgate": [], "bare": []}
    try:
        wait_up(targets["textgate"] + "/health", server)
        wait_up(targets["bare"] + "/", bare)
        warm = {name: wrk(url, 2, args.connections, key) for name, url in targets.items()}
        for _ in range(args.rounds):
            for name, url in targets.items():
                while pending(db):  # the worker drains before the next round is timed
                    time.sleep(0.2)
                runs[name].append(wrk(url, per_round, args.connections, key))
        while pending(db):
            time.sleep(0.2)
    finally:
        for proc in (server, bare):
            proc.terminate()
            proc.wait(timeout=30)

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        by_status = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    t, b = combine(runs["textgate"]), combine(runs["bare"])
    warmup = int(warm["textgate"]["requests"] - warm["textgate"]["errors_status"])
    summary = {
        "synchronous": args.synchronous,
        "seconds_per_target": per_round * args.rounds,
        "connections": args.connections,
        "textgate": t,
        "bare": b,
        "ratio": round(t["rps"] / b["rps"], 3),
        "rows_in_database": rows,
        "by_status": by_status,
    }
    print(json.dumps(summary, indent=2))
    print(
        f"| send-sms, SQLite {args.synchronous}, worker on | {t['rps']:.0f} | {t['p50_ms']:.1f} |"
        f" {t['p99_ms']:.1f} | {t['errors']} | {b['rps']:.0f} | {b['p99_ms']:.1f} |"
        f" {summary['ratio']:.2f} |"
    )
    accepted = int(t["requests"] - t["non_2xx"])
    print(
        f"answered 200: {accepted} timed + {warmup} warm-up = {accepted + warmup}; "
        f"rows in the database: {rows} ({by_status}); "
        f"every acknowledged message durable: {rows >= accepted + warmup} "
        f"({rows - accepted - warmup} more were in flight when wrk stopped counting)"
    )
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
