"""The scripted SMSC peer (tests/peers/smsc/server.js, node-smpp) as a subprocess, and a
small client for its control API. See server.js for the rules it understands."""

from __future__ import annotations

import asyncio
import json
import select
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PEER_DIR = Path(__file__).resolve().parents[1] / "peers" / "smsc"
SYSTEM_ID = "textgate"
PASSWORD = "secret"


@dataclass
class SmscProcess:
    smpp_port: int
    control_port: int
    process: subprocess.Popen[str]
    log_path: Path

    def provider_table(self, **overrides: Any) -> dict[str, Any]:
        """The `[providers.NAME]` table of an SMPP provider bound to this peer, quick to
        reconnect; `overrides` change or add keys."""
        return {
            "type": "smpp",
            "host": "127.0.0.1",
            "port": self.smpp_port,
            "system_id": SYSTEM_ID,
            "password": PASSWORD,
            "source_addr": "TextGate",
            "reconnect_initial": 0.05,
            **overrides,
        }

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_process(log_path: Path, *, receipt_delay_ms: int = 50) -> SmscProcess:
    """Start the peer on free ports; fails (never skips) when node or its packages are
    missing, since the SMPP tests are worth nothing without it."""
    node = shutil.which("node")
    if node is None:
        raise RuntimeError("node is not installed; the SMPP tests need it")
    if not (PEER_DIR / "node_modules" / "smpp").is_dir():
        raise RuntimeError(f"the SMSC peer's packages are missing: npm ci --prefix {PEER_DIR}")
    command = [
        node,
        str(PEER_DIR / "server.js"),
        "--port",
        "0",
        "--control-port",
        "0",
        "--system-id",
        SYSTEM_ID,
        "--password",
        PASSWORD,
        "--receipt-delay-ms",
        str(receipt_delay_ms),
    ]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=log, text=True)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], 15)
    line = process.stdout.readline() if ready else ""
    if not line:
        process.kill()
        process.wait(5)
        raise RuntimeError(f"the SMSC peer did not start: {log_path.read_text()[-2000:]}")
    ports = json.loads(line)
    return SmscProcess(ports["smpp_port"], ports["control_port"], process, log_path)


class SmscControl:
    """The peer's control API: records, rules, drops, inbound messages, counters."""

    def __init__(self, control_port: int) -> None:
        self.http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}", timeout=10)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = await self.http.post(path, json=body or {})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def submits(self) -> list[dict[str, Any]]:
        response = await self.http.get("/submits")
        response.raise_for_status()
        records: list[dict[str, Any]] = response.json()["submits"]
        return records

    async def stats(self) -> dict[str, Any]:
        response = await self.http.get("/stats")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def rules(self, **rules: Any) -> None:
        await self._post("/rules", rules)

    async def drop(self) -> int:
        return int((await self._post("/drop"))["dropped"])

    async def reset(self) -> None:
        await self._post("/reset")

    async def inbound(
        self,
        sender: str,
        to: str,
        text: str,
        encoding: str | None = None,
        *,
        udh: bytes | None = None,
        sar: tuple[int, int, int] | None = None,
        raw: bytes | None = None,
    ) -> None:
        """One deliver_sm from a handset. A part of a long message carries `udh` (put before
        the text) or `sar` (reference, total, number: the sar_* TLVs); `raw` is the text's
        bytes as they go (give `encoding` with it)."""
        body: dict[str, Any] = {"from": sender, "to": to, "text": text}
        if encoding is not None:
            body["encoding"] = encoding
        if udh is not None:
            body["udh"] = udh.hex()
        if sar is not None:
            body["sar"] = dict(zip(("ref", "total", "seq"), sar, strict=True))
        if raw is not None:
            body["hex"] = raw.hex()
        await self._post("/inbound", body)

    async def wait_stats(
        self, check: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Poll /stats until `check` holds; AssertionError with the last stats if not."""
        deadline = time.monotonic() + timeout
        while True:
            stats = await self.stats()
            if check(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"peer stats never matched: {stats}")
            await asyncio.sleep(0.02)


async def eventually(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait until `check()` is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.01)
