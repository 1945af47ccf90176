"""A worker process killed (SIGKILL) in the middle of a bulk job loses nothing: once it is
started again, every recipient ends submitted. The leases do it: rows the dead worker held
are claimed again when their lease runs out."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from procs import Server, start_server, stop_server

from support import truncate_postgres

RECIPIENTS = 3_000
#: The worker sends 500 a second and holds at most a second's worth (see worker.throttle).
THROUGHPUT = 500


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The SQLite file of `start_server`, or the PostgreSQL test database."""
    if request.param == "sqlite":
        return {}
    url: str = request.getfixturevalue("postgres_database")
    await truncate_postgres(url)
    return {"TEXTGATE_DATABASE_URL": url}


@pytest.fixture
def api_only(tmp_path: Path, database_env: dict[str, str]) -> Iterator[Server]:
    s = start_server(tmp_path, "--no-worker", env=database_env)
    yield s
    stop_server(s)


def start_worker(server: Server, tmp: Path, name: str) -> tuple[subprocess.Popen[bytes], Path]:
    config = tmp / "worker.toml"
    config.write_text(f'[providers.console]\ntype = "console"\nthroughput = {THROUGHPUT}\n')
    env = {
        **server.env,
        "TEXTGATE_CONFIG": str(config),
        "TEXTGATE_LEASE_SECONDS": "2",
        "TEXTGATE_WORKER_BATCH": "100",
    }
    out, log = tmp / f"{name}.out", tmp / f"{name}.log"
    process = subprocess.Popen(
        [sys.executable, "-m", "textgate.cli", "worker"],
        env=env,
        stdout=out.open("w"),
        stderr=log.open("w"),
    )
    deadline = time.monotonic() + 30
    while "worker started" not in log.read_text():
        assert process.poll() is None, log.read_text()
        assert time.monotonic() < deadline, "the worker did not start"
        time.sleep(0.05)
    return process, out


def wait_for(check: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_worker_killed_mid_job_then_restarted_sends_every_recipient(
    api_only: Server, tmp_path: Path
) -> None:
    server = api_only
    key = server.create_account("big@example.com", "--credits", "1000")
    headers = {"Authorization": f"Bearer {key}"}
    numbers = [f"+38169{i:07d}" for i in range(RECIPIENTS)]
    r = httpx.post(
        f"{server.url}/api/bulk-sms",
        json={"phone_numbers": numbers, "text": "Sale ends Sunday"},
        headers=headers,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]

    def job() -> dict[str, Any]:
        reply = httpx.get(f"{server.url}/api/bulk/{job_id}", headers=headers, timeout=10).json()
        return reply["data"]  # type: ignore[no-any-return]

    first, first_out = start_worker(server, tmp_path, "first")
    try:
        wait_for(lambda: job()["counts"]["submitted"] >= 500)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    at_kill = job()
    assert at_kill["counts"]["submitted"] < RECIPIENTS, "the job ended before the kill"
    assert at_kill["counts"]["sending"] > 0, "the dead worker held no messages"

    second, second_out = start_worker(server, tmp_path, "second")
    try:
        wait_for(lambda: job()["state"] == "finished")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    done = job()
    assert done["counts"]["submitted"] == RECIPIENTS
    assert done["pending"] == 0 and done["counts"]["failed"] == 0
    assert httpx.post(f"{server.url}/api/bulk-count", headers=headers).json()["count"] == 0

    # At least once: every message was handed to the provider; the ones handed over twice
    # are at most those the dead worker held (a second of sends).
    printed = Counter(
        mid
        for out in (first_out, second_out)
        for mid in re.findall(r"message (\d+) to", out.read_text())
    )
    assert len(printed) == RECIPIENTS
    twice = sum(n - 1 for n in printed.values())
    assert twice <= THROUGHPUT, twice
