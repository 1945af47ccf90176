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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--synchronous", default="FULL")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")

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

    results: dict[str, dict[str, float]] = {}
    port = free_port()
    server = subprocess.Popen(
        [PY, "-m", "textgate.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp / "serve.log").open("w"),
    )
    try:
        wait_up(f"http://127.0.0.1:{port}/health", server)
        wrk(f"http://127.0.0.1:{port}", 3, args.connections, key)  # warm-up
        results["textgate"] = wrk(f"http://127.0.0.1:{port}", args.seconds, args.connections, key)
        time.sleep(3)
    finally:
        server.terminate()
        server.wait(timeout=30)

    bare_port = free_port()
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
    try:
        wait_up(f"http://127.0.0.1:{bare_port}/", bare)
        wrk(f"http://127.0.0.1:{bare_port}", 3, args.connections, key)
        results["bare"] = wrk(f"http://127.0.0.1:{bare_port}", args.seconds, args.connections, key)
    finally:
        bare.terminate()
        bare.wait(timeout=30)

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
        by_status = dict(conn.execute("SELECT status, count(*) FROM messages GROUP BY status"))
    t, b = results["textgate"], results["bare"]
    accepted = t["requests"] - t["errors_status"]
    summary = {
        "synchronous": args.synchronous,
        "seconds": args.seconds,
        "connections": args.connections,
        "textgate": t,
        "bare": b,
        "ratio": round(t["rps"] / b["rps"], 3),
        "rows_in_database": rows,
        "answered_200_including_warmup": None,
        "by_status": by_status,
    }
    print(json.dumps(summary, indent=2))
    print(
        f"| send-sms, SQLite {args.synchronous}, worker on | {t['rps']:.0f} | {t['p50_ms']:.1f} |"
        f" {t['p99_ms']:.1f} | {int(t['errors_status'] + t['errors_timeout'])} |"
        f" {b['rps']:.0f} | {b['p99_ms']:.1f} | {summary['ratio']:.2f} |"
    )
    print(f"accepted in the measured run: {accepted:.0f}; rows in the database: {rows}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
