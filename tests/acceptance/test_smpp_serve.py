"""`textgate serve` with an SMPP provider from its TOML config file (TEXTGATE_CONFIG),
against the node-smpp peer: a wrong password leaves the provider down and the messages
waiting; once the password is fixed and textgate restarted, every message is delivered."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from procs import Server, start_server, stop_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))
from smsc import PASSWORD, SYSTEM_ID, SmscProcess, start_process

BAD_PASSWORD = "Xq7-pw9z"
NUMBERS = [f"+38164555{n:04d}" for n in range(20)]


@pytest.fixture
def peer(tmp_path: Path) -> Iterator[SmscProcess]:
    process = start_process(tmp_path / "smsc.log")
    yield process
    process.stop()


def write_config(path: Path, peer: SmscProcess, password: str) -> None:
    path.write_text(
        f"""
[providers.carrier]
type = "smpp"
host = "127.0.0.1"
port = {peer.smpp_port}
system_id = "{SYSTEM_ID}"
password = "{password}"
source_addr = "TextGate"
window = 10
throughput = 0
binds = 1
reconnect_initial = 0.1
reconnect_max = 0.5

[[routes]]
prefix = "+"
providers = ["carrier"]
""",
        encoding="utf-8",
    )


def control(peer: SmscProcess, path: str) -> Any:
    return httpx.get(f"http://127.0.0.1:{peer.control_port}{path}", timeout=10).json()


def wait_for(check: Any, what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def statuses(server: Server, key: str, ids: list[int]) -> list[tuple[str, int]]:
    headers = {"Authorization": f"Bearer {key}"}
    found = []
    for message_id in ids:
        data = httpx.get(f"{server.url}/api/messages/{message_id}", headers=headers).json()["data"]
        found.append((data["status"], data["attempts"]))
    return found


def test_wrong_password_then_fixed_and_restarted(tmp_path: Path, peer: SmscProcess) -> None:
    config = tmp_path / "textgate.toml"
    write_config(config, peer, BAD_PASSWORD)
    env = {"TEXTGATE_CONFIG": str(config)}
    server = start_server(tmp_path, env=env)
    try:
        key = server.create_account("smpp@example.com", "--credits", "100")
        headers = {"Authorization": f"Bearer {key}"}
        ids = []
        for number in NUMBERS:
            r = httpx.post(
                f"{server.url}/api/send-sms",
                json={"phone_number": number, "text": "Your order has shipped"},
                headers=headers,
            )
            assert r.status_code == 200, r.text
            ids.append(r.json()["data"]["id"])
        wait_for(lambda: control(peer, "/stats")["binds_refused"] >= 3, "refused binds")

        ready = httpx.get(f"{server.url}/ready")
        assert ready.status_code == 503
        [carrier] = ready.json()["providers"]
        assert carrier["up"] is False
        assert carrier["last_error"] == "bind refused: ESME_RINVPASWD"
        assert statuses(server, key, ids) == [("queued", 0)] * len(ids)
        assert control(peer, "/stats")["submits"] == 0
    finally:
        stop_server(server)
    assert BAD_PASSWORD not in server.log.read_text()  # the password is never logged

    write_config(config, peer, PASSWORD)
    server = start_server(tmp_path, env=env)
    try:
        wait_for(
            lambda: all(s == "delivered" for s, _ in statuses(server, key, ids)),
            "every message delivered",
        )
        assert {attempts for _, attempts in statuses(server, key, ids)} == {1}
        ready = httpx.get(f"{server.url}/ready").json()
        assert ready["providers"][0]["up"] is True and ready["providers"][0]["in_flight"] == 0
        submits = control(peer, "/submits")["submits"]
        assert sorted(s["destination_addr"] for s in submits) == sorted(n[1:] for n in NUMBERS)
        assert all(s["message_id"] for s in submits)
    finally:
        stop_server(server)
