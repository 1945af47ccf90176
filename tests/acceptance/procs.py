"""Helpers: `textgate` started as real processes, on a SQLite file in a temporary folder."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

PEPPER = "cd" * 32


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path
    out: Path

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "textgate.cli", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"textgate {' '.join(args)}: {result.stderr}")
        return result

    def create_account(self, email: str, *extra: str) -> str:
        """The new account's API key: the last line of standard output."""
        return self.cli("accounts", "create", email, *extra).stdout.strip().splitlines()[-1]


def start_server(tmp: Path, *args: str, env: dict[str, str] | None = None) -> Server:
    port = free_port()
    full_env = {
        **os.environ,
        "TEXTGATE_DATA_DIR": str(tmp / "var"),
        "TEXTGATE_DATABASE_URL": f"sqlite:///{tmp / 'var' / 'textgate.db'}",
        "TEXTGATE_PEPPER": PEPPER,
        "TEXTGATE_WORKER_POLL_INTERVAL": "0.05",
        "TEXTGATE_WEBHOOK_PRIVATE_ADDRESSES": "true",  # the receivers are on 127.0.0.1
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    log, out = tmp / "server.log", tmp / "server.out"
    process = subprocess.Popen(
        [sys.executable, "-m", "textgate.cli", "serve", "--port", str(port), *args],
        env=full_env,
        stdout=out.open("w"),
        stderr=log.open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"textgate serve did not start: {log.read_text()}")
        time.sleep(0.1)
    return Server(url=url, env=full_env, process=process, log=log, out=out)


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
