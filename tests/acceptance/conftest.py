"""Fixtures of the acceptance tests: the server and CLI as real processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from procs import Server, start_server, stop_server


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = start_server(tmp_path)
    yield s
    stop_server(s)
