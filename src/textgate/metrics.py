"""Prometheus metrics, one registry per app (no module-level singletons)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.accepted = Counter(
            "textgate_messages_accepted",
            "Messages paid for and queued",
            ["kind"],
            registry=self.registry,
        )
        #: Bound once: `labels()` on every request costs more than the count itself.
        self.accepted_sms = self.accepted.labels("sms")
        self.rejected = Counter(
            "textgate_messages_rejected",
            "Messages refused at the API",
            ["reason"],
            registry=self.registry,
        )
        self.submitted = Counter(
            "textgate_messages_submitted",
            "Messages handed to a provider",
            ["provider"],
            registry=self.registry,
        )
        self.retried = Counter(
            "textgate_messages_retried", "Transient provider errors", registry=self.registry
        )
        self.failed = Counter(
            "textgate_messages_failed", "Messages failed for good", registry=self.registry
        )
        self.provider_up = Gauge(
            "textgate_provider_up",
            "1 when the provider is connected",
            ["provider"],
            registry=self.registry,
        )
        self.receipts = Counter(
            "textgate_receipts",
            "Delivery receipts received",
            ["state"],
            registry=self.registry,
        )
        self.inbound = Counter(
            "textgate_inbound_messages", "Inbound messages received", registry=self.registry
        )
        self.webhook_delivered = Counter(
            "textgate_webhook_events_delivered",
            "Webhook events a receiver answered with a 2xx",
            registry=self.registry,
        )
        self.webhook_retried = Counter(
            "textgate_webhook_events_retried",
            "Webhook attempts that failed and will be tried again",
            registry=self.registry,
        )
        self.webhook_failed = Counter(
            "textgate_webhook_events_failed",
            "Webhook events given up on (attempts used up)",
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
