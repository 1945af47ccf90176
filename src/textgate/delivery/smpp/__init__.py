"""Delivery over SMPP 3.4: our own small asyncio client (pdu, session) and the provider."""

from __future__ import annotations

from textgate.delivery.smpp.config import BindMode, SmppConfig
from textgate.delivery.smpp.provider import SmppProvider

__all__ = ["BindMode", "SmppConfig", "SmppProvider"]
