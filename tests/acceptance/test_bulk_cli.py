"""`textgate bulk send` and `textgate optout` as processes, against `textgate serve`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from procs import Server, start_server, stop_server

SERBIA = "+381690156360"


def serbian(n: int) -> list[str]:  # 0.15 each
    return [f"+38169{i:07d}" for i in range(n)]


def write_csv(path: Path, numbers: list[str]) -> Path:
    path.write_text("name,phone_number\n" + "".join(f"n{i},{n}\n" for i, n in enumerate(numbers)))
    return path


def bulk_send(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return server.cli("bulk", "send", *args, "--url", server.url, "--interval", "0.1", check=False)


def get(server: Server, key: str, path: str) -> dict[str, Any]:
    r = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {key}"})
    return r.json()  # type: ignore[no-any-return]


def job(server: Server, key: str, job_id: int) -> dict[str, Any]:
    return get(server, key, f"/api/bulk/{job_id}")["data"]  # type: ignore[no-any-return]


def test_bulk_send_follows_the_job_to_the_end(server: Server, tmp_path: Path) -> None:
    key = server.create_account("bulk@example.com", "--credits", "100")
    numbers = [*serbian(300), "not a number", SERBIA, "+381 69 000 0001"]
    csv = write_csv(tmp_path / "customers.csv", numbers)
    result = bulk_send(server, str(csv), "--text", "Sale ends Sunday", "--api-key", key)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "301 of 303 number(s) accepted, 2 rejected" in out
    assert "rejected: 1 invalid, 1 duplicate" in out
    assert "number 301: 'not a number' invalid" in out
    assert "number 303: '+381 69 000 0001' duplicate" in out
    job_id = int(out.split("bulk job ", 1)[1].split(":", 1)[0])
    assert f"job {job_id} finished" in out and "submitted 301" in out
    done = job(server, key, job_id)
    assert done["state"] == "finished" and done["counts"]["submitted"] == 301
    balance = get(server, key, "/api/balance")
    assert balance["credits"] == "54.85"  # 100 - 301 x 0.15


def test_bulk_send_errors_exit_non_zero_with_a_message(server: Server, tmp_path: Path) -> None:
    key = server.create_account("poor@example.com", "--credits", "1.00")
    csv = write_csv(tmp_path / "ten.csv", serbian(10))

    bad_key = bulk_send(server, str(csv), "--text", "hi", "--api-key", "tg_nope")
    assert bad_key.returncode == 1 and "Invalid API key" in bad_key.stderr

    poor = bulk_send(server, str(csv), "--text", "hi", "--api-key", key)
    assert poor.returncode == 1
    assert "Not enough credits" in poor.stderr and "0.50 missing" in poor.stderr

    missing = bulk_send(server, str(tmp_path / "nope.csv"), "--text", "hi", "--api-key", key)
    assert missing.returncode == 2 and "does not exist" in missing.stderr

    empty = tmp_path / "empty.csv"
    empty.write_text("phone_number\n\n")
    nothing = bulk_send(server, str(empty), "--text", "hi", "--api-key", key)
    assert nothing.returncode == 1 and "no phone numbers" in nothing.stderr

    junk = write_csv(tmp_path / "junk.csv", ["abc", "+1"])
    invalid = bulk_send(server, str(junk), "--text", "hi", "--api-key", key)
    assert invalid.returncode == 1 and "No valid phone number" in invalid.stderr

    down = server.cli(
        "bulk",
        "send",
        str(csv),
        "--text",
        "hi",
        "--api-key",
        key,
        "--url",
        "http://127.0.0.1:9",
        check=False,
    )
    assert down.returncode == 1 and "cannot reach textgate" in down.stderr
    assert get(server, key, "/api/balance")["credits"] == "1.00"


def test_optout_commands_and_bulk_skips_the_number(server: Server, tmp_path: Path) -> None:
    key = server.create_account("shop@example.com", "--credits", "10")
    added = server.cli("optout", "add", "shop@example.com", "+381 69 015 6360")
    assert f"{SERBIA} opted out" in added.stdout
    again = server.cli("optout", "add", "shop@example.com", SERBIA)
    assert "already" in again.stdout
    assert server.cli("optout", "list", "shop@example.com").stdout.split() == [SERBIA]
    bad = server.cli("optout", "add", "shop@example.com", "12345", check=False)
    assert bad.returncode == 1 and "international format" in bad.stderr

    csv = write_csv(tmp_path / "list.csv", [SERBIA, "+381690156361"])
    sent = bulk_send(server, str(csv), "--text", "hi", "--api-key", key)
    assert sent.returncode == 0, sent.stderr
    assert "1 of 2 number(s) accepted" in sent.stdout and "1 opted out" in sent.stdout

    removed = server.cli("optout", "remove", "shop@example.com", SERBIA)
    assert "again" in removed.stdout
    gone = server.cli("optout", "remove", "shop@example.com", SERBIA, check=False)
    assert gone.returncode == 1 and "has not opted out" in gone.stderr
    assert server.cli("optout", "list", "shop@example.com").stdout.strip() == ""


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[Server]:
    """A server whose console provider sends 50 messages a second."""
    config = tmp_path / "textgate.toml"
    config.write_text('[providers.console]\ntype = "console"\nthroughput = 50\n')
    s = start_server(tmp_path, env={"TEXTGATE_CONFIG": str(config)})
    yield s
    stop_server(s)


def test_ctrl_c_offers_to_cancel_and_credits_back(slow_server: Server, tmp_path: Path) -> None:
    server = slow_server
    key = server.create_account("impatient@example.com", "--credits", "1000")
    csv = write_csv(tmp_path / "many.csv", serbian(2_000))  # 40 s at 50/s
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "textgate.cli", "bulk", "send", str(csv), "--text", "hi"),
            *("--api-key", key, "--url", server.url, "--interval", "0.1"),
        ],
        env=server.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdin is not None
    first = process.stdout.readline()
    assert first.startswith("bulk job "), first
    job_id = int(first.removeprefix("bulk job ").split(":", 1)[0])
    deadline = time.monotonic() + 30
    while job(server, key, job_id)["counts"]["submitted"] == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate("y\n", timeout=60)
    assert process.returncode == 130, (out, err)
    assert "Cancel bulk job" in out
    assert "credits back" in err
    assert f"job {job_id} cancelled" in out
    # Messages a worker held when the job was cancelled finish their attempt (at most a
    # second of the provider's cap).
    deadline = time.monotonic() + 30
    while (after := job(server, key, job_id))["pending"]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert after["state"] == "cancelled"
    counts = after["counts"]
    assert counts["cancelled"] > 1_000 and counts["submitted"] + counts["cancelled"] == 2_000
    spent = Decimal("0.15") * counts["submitted"]
    assert get(server, key, "/api/balance")["credits"] == str(Decimal(1000) - spent)
    assert Decimal(str(after["refunded"])) == Decimal("0.15") * counts["cancelled"]
