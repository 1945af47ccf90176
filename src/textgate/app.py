"""Wiring: Settings in, the Litestar app (and the worker) out. No module-level state."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from importlib import resources
from pathlib import Path

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from textgate import __version__, secrets
from textgate.api import bulk as bulk_api
from textgate.api import callbacks, errors, health, messages, textflow, verify
from textgate.console import routes as console_routes
from textgate.delivery.registry import build_router
from textgate.domain import webhook_events as webhook_rules
from textgate.domain.pricing import PriceTable, load_price_table
from textgate.domain.retry import RetryPolicy
from textgate.metrics import Metrics
from textgate.services.accounts import AccountService
from textgate.services.auth import Authenticator
from textgate.services.bulk import BulkService
from textgate.services.committer import Committer
from textgate.services.container import Services
from textgate.services.receipts import ReceiptIntake
from textgate.services.sending import SendService
from textgate.services.verification import from_settings as verifier_from
from textgate.services.webhooks import from_settings as webhooks_from
from textgate.settings import Settings
from textgate.store.db import Database
from textgate.worker.dispatcher import Dispatcher
from textgate.worker.throttle import Throttle, caps_from
from textgate.worker.webhook_sender import WebhookSender

log = logging.getLogger("textgate")


def load_prices(settings: Settings) -> PriceTable:
    if settings.price_file is not None:
        return load_price_table(settings.price_file)
    with resources.as_file(resources.files("textgate") / "data" / "prices.toml") as path:
        return load_price_table(Path(path))


def build(settings: Settings) -> Services:
    """Everything but the running tasks; call inside the event loop that will use it."""
    db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
    prices = load_prices(settings)
    pepper = secrets.load_or_create(settings.pepper, settings.data_dir, "pepper.key")
    signup = (
        settings.signup_credit_micros
        if settings.signup_credit_micros is not None
        else prices.signup_credit_micros()
    )
    metrics = Metrics()
    committer = Committer(db, max_batch=settings.commit_batch, linger=settings.commit_linger)
    return Services(
        settings=settings,
        db=db,
        prices=prices,
        auth=Authenticator(db, pepper),
        accounts=AccountService(db, pepper, signup),
        committer=committer,
        sender=SendService(committer, prices),
        router=build_router(settings.providers, settings.routes),
        metrics=metrics,
        verifier=verifier_from(settings, db, prices, committer),
        bulk=BulkService(
            db,
            prices,
            max_recipients=settings.bulk_max_recipients,
            parse_processes=settings.bulk_parse_processes,
        ),
        webhooks=webhooks_from(settings, db),
    )


@contextlib.asynccontextmanager
async def running(svc: Services, *, worker: bool) -> AsyncIterator[Services]:
    """Starts the committer, the providers and (with `worker`) the dispatch loop."""
    settings = svc.settings
    stop = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []
    svc.db.start()
    svc.committer.start()
    if worker:
        svc.receipts = ReceiptIntake(svc.db, metrics=svc.metrics)
        svc.receipts.start()
        for provider in svc.router.providers.values():
            await provider.start(svc.receipts)
        svc.dispatcher = Dispatcher(
            svc.db,
            svc.router,
            policy=RetryPolicy(
                max_attempts=settings.retry_max_attempts,
                base_delay=settings.retry_base_delay,
                max_delay=settings.retry_max_delay,
            ),
            batch=settings.worker_batch,
            concurrency=settings.worker_concurrency,
            lease_seconds=settings.lease_seconds,
            poll_interval=settings.worker_poll_interval,
            linger=settings.worker_linger,
            metrics=svc.metrics,
            throttle=Throttle(caps_from(settings.providers)),
            reveal=svc.verifier.reveal,
        )
        svc.committer.on_commit = svc.dispatcher.wake
        tasks.append(asyncio.create_task(svc.dispatcher.run(stop), name="textgate-worker"))
        svc.webhook_sender = WebhookSender(
            svc.db,
            svc.webhooks,
            policy=webhook_rules.retry_policy(settings.webhook_max_attempts),
            concurrency=settings.webhook_concurrency,
            retention_days=settings.webhook_retention_days,
            poll_interval=settings.worker_poll_interval,
            metrics=svc.metrics,
        )
        tasks.append(
            asyncio.create_task(svc.webhook_sender.run(stop), name="textgate-webhook-sender")
        )
    try:
        yield svc
    finally:
        stop.set()
        await svc.committer.stop()
        if svc.dispatcher is not None:
            svc.dispatcher.wake()
        if svc.webhook_sender is not None:
            svc.webhook_sender.wake()
        for task in tasks:
            await task
        if worker:
            for provider in svc.router.providers.values():
                await provider.stop()
        if svc.receipts is not None:
            await svc.receipts.stop()  # after the providers: they hand over their last ones
        svc.bulk.close()
        await svc.webhooks.aclose()
        await svc.db.dispose()


def create_app(
    settings: Settings, *, worker: bool = True, services: Services | None = None
) -> Litestar:
    """The ASGI app. Migrations are not run here: `textgate serve` runs them first.

    With `services` (already running), the app uses them and starts nothing itself."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if services is not None:
            yield
            return
        svc = build(settings)
        app.state.services = svc
        async with running(svc, worker=worker):
            yield

    return Litestar(
        route_handlers=[
            textflow.send_sms,
            textflow.balance,
            verify.send_code,
            verify.verify_code,
            *bulk_api.handlers(settings),
            *console_routes.handlers(settings),
            messages.get_message,
            *callbacks.handlers(),
            health.health,
            health.ready,
            health.metrics,
        ],
        lifespan=[lifespan],
        exception_handlers={Exception: console_routes.with_console_errors(errors.handle)},
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="textgate",
            version=__version__,
            description="Self-hosted SMS and phone verification, speaking the TextFlow API.",
            components=Components(
                security_schemes={"BearerAuth": SecurityScheme(type="http", scheme="bearer")}
            ),
        ),
        debug=False,
        logging_config=None,
        state=State({"services": services} if services is not None else {}),
    )
