"""Where webhooks may go: public addresses only (unless allowed), pinned once resolved."""

from __future__ import annotations

import pytest

from textgate.services.webhooks import PrivateAddress, Resolver, pinned


def resolver(*addresses: str) -> Resolver:
    async def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "172.16.5.5",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fd00::1",
        "0.0.0.0",
        "100.64.0.1",
        "224.0.0.1",
    ],
)
async def test_private_loopback_link_local_and_multicast_are_refused(address: str) -> None:
    with pytest.raises(PrivateAddress, match="private address"):
        await pinned("https://hooks.example.com/x", resolver(address))


async def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(PrivateAddress):
        await pinned("http://hooks.example.com/x", resolver("93.184.216.34", "10.0.0.1"))


async def test_a_public_host_is_pinned_to_its_address_keeping_the_name_for_tls() -> None:
    url, extensions = await pinned(
        "https://hooks.example.com:8443/in?token=abc", resolver("93.184.216.34")
    )
    assert url == "https://93.184.216.34:8443/in?token=abc"
    assert extensions == {"sni_hostname": "hooks.example.com"}
    url, extensions = await pinned("http://hooks.example.com/in", resolver("2606:2800:220:1::1"))
    assert url == "http://[2606:2800:220:1::1]/in" and extensions == {}


async def test_a_name_that_does_not_resolve_is_refused_with_the_reason() -> None:
    async def fails(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(PrivateAddress, match="Could not resolve"):
        await pinned("https://nowhere.invalid/x", fails)
