"""Delivery over HTTP APIs: Twilio and Vonage (the shared client, health and config in
`client` and `config`)."""

from __future__ import annotations

from textgate.delivery.http.twilio import TwilioConfig, TwilioProvider
from textgate.delivery.http.vonage import VonageConfig, VonageProvider

__all__ = ["TwilioConfig", "TwilioProvider", "VonageConfig", "VonageProvider"]
