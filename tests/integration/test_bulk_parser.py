"""The parser processes of big bulk lists: same answers as one thread, and they end with
their parent, even one killed outright."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from textgate.domain import bulk
from textgate.services.bulk import PARALLEL_FROM, NumberParser


def mixed(n: int) -> list[str]:
    numbers = [f"+38169{i:07d}" for i in range(n)]
    numbers[::7] = [f"junk {i}" for i in range(len(numbers[::7]))]
    numbers[::11] = [f"+1201{2_000_000 + i}" for i in range(len(numbers[::11]))]
    return numbers


def test_processes_answer_as_one_thread_does() -> None:
    numbers = mixed(PARALLEL_FROM + 5)
    parser = NumberParser(2)
    try:
        answers = parser.parse(numbers)
        children = multiprocessing.active_children()
        assert len(children) == 2
        assert answers == bulk.parse_many(numbers)
        assert parser.parse(numbers[:10]) == bulk.parse_many(numbers[:10])  # small: no processes
    finally:
        parser.close()
    for child in children:
        child.join(timeout=10)
        assert not child.is_alive()


def gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited; waiting for init to reap it


def test_processes_end_when_their_parent_is_killed() -> None:
    script = (
        "import multiprocessing, sys, time\n"
        "from textgate.services.bulk import NumberParser\n"
        "parser = NumberParser(2)\n"
        f"parser.parse([f'+38169{{i:07d}}' for i in range({PARALLEL_FROM})])\n"
        "print(*(c.pid for c in multiprocessing.active_children()), flush=True)\n"
        "time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    children = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(children) == 2 and all(not gone(pid) for pid in children)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in children):
        assert time.monotonic() < deadline, "parser processes outlived their parent"
        time.sleep(0.1)
