"""Fixtures of the integration tests that talk to the SMPP peer (tests/peers/smsc)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from smsc import SmscControl, SmscProcess, start_process


@pytest.fixture(scope="module")
def smsc_peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmscProcess]:
    peer = start_process(tmp_path_factory.mktemp("smsc") / "smsc.log")
    yield peer
    peer.stop()


@pytest.fixture
async def smsc(smsc_peer: SmscProcess) -> AsyncIterator[SmscControl]:
    control = SmscControl(smsc_peer.control_port)
    await control.reset()
    yield control
    stats = await control.stats()
    await control.aclose()
    assert stats["protocol_errors"] == 0, "the peer could not parse a PDU we sent"
