"""Builds the configured providers and routes from settings."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from textgate.delivery.base import Provider
from textgate.delivery.console import ConsoleProvider
from textgate.delivery.router import Route, Router


def build_provider(name: str, config: Mapping[str, Any]) -> Provider:
    kind = config.get("type")
    if kind == "console":
        return ConsoleProvider(name)
    if kind == "smpp":
        from textgate.delivery.smpp import SmppConfig, SmppProvider

        return SmppProvider(SmppConfig.from_mapping(name, config))
    if kind == "twilio":
        from textgate.delivery.http import TwilioConfig, TwilioProvider

        return TwilioProvider(TwilioConfig.from_mapping(name, config))
    if kind == "vonage":
        from textgate.delivery.http import VonageConfig, VonageProvider

        return VonageProvider(VonageConfig.from_mapping(name, config))
    if kind == "android":
        from textgate.delivery.http.android import AndroidConfig, AndroidProvider

        return AndroidProvider(AndroidConfig.from_mapping(name, config))
    raise ValueError(
        f"provider {name!r}: unknown type {kind!r} (known: console, smpp, twilio, vonage, android)"
    )


def build_router(
    providers: Mapping[str, Mapping[str, Any]], routes: Sequence[Mapping[str, Any]]
) -> Router:
    """With no providers configured, everything goes to the console provider."""
    if not providers:
        return Router({"console": ConsoleProvider()}, [Route(providers=("console",), prefix="+")])
    built = {name: build_provider(name, config) for name, config in providers.items()}
    parsed = [Route.from_mapping(route) for route in routes]
    if not parsed:
        parsed = [Route(providers=tuple(built), prefix="+")]
    return Router(built, parsed)
