"""Everything a request or a command needs, built once from Settings (see `app.build`)."""

from __future__ import annotations

from dataclasses import dataclass

from textgate.delivery.router import Router
from textgate.domain.pricing import PriceTable
from textgate.metrics import Metrics
from textgate.services.accounts import AccountService
from textgate.services.auth import Authenticator
from textgate.services.bulk import BulkService
from textgate.services.committer import Committer
from textgate.services.receipts import ReceiptIntake
from textgate.services.sending import SendService
from textgate.services.verification import VerificationService
from textgate.services.webhooks import WebhookService
from textgate.settings import Settings
from textgate.store.db import Database
from textgate.worker.dispatcher import Dispatcher
from textgate.worker.webhook_sender import WebhookSender


@dataclass
class Services:
    settings: Settings
    db: Database
    prices: PriceTable
    auth: Authenticator
    accounts: AccountService
    committer: Committer
    sender: SendService
    router: Router
    metrics: Metrics
    verifier: VerificationService
    bulk: BulkService
    webhooks: WebhookService
    dispatcher: Dispatcher | None = None
    #: The providers' receipt sink; runs with the worker.
    receipts: ReceiptIntake | None = None
    #: Delivers the webhook outbox; runs with the worker.
    webhook_sender: WebhookSender | None = None
