"""A verification SMS waits in the queue sealed; the worker opens it for the provider."""

from __future__ import annotations

import dataclasses

import httpx
import sqlalchemy as sa

from support import MakeAccount
from textgate import secrets
from textgate.delivery.base import Health, Outgoing, ReceiptSink, Submitted
from textgate.delivery.router import Route, Router
from textgate.domain.code_vault import TEXT_PREFIX, CodeVault
from textgate.domain.retry import RetryPolicy
from textgate.services.container import Services
from textgate.services.verification import from_settings
from textgate.store import messages
from textgate.store.tables import messages as messages_table
from textgate.store.tables import verification_sends, verifications
from textgate.worker.dispatcher import Dispatcher
from verify_support import SERBIA, send_code

Client = httpx.AsyncClient


class Recording:
    """A provider that takes every message and remembers it."""

    name = "recording"

    def __init__(self) -> None:
        self.calls: list[Outgoing] = []

    async def start(self, sink: ReceiptSink) -> None:
        return None

    async def submit(self, message: Outgoing) -> Submitted:
        self.calls.append(message)
        return Submitted(provider_message_id=f"r-{message.message_id}")

    async def stop(self) -> None:
        return None

    def health(self) -> Health:
        return Health(name=self.name, up=True)


def dispatcher(services: Services, provider: Recording, revealing: Services) -> Dispatcher:
    router = Router({"p": provider}, [Route(providers=("p",), prefix="+")])  # type: ignore[dict-item]
    return Dispatcher(
        services.db,
        router,
        policy=RetryPolicy(max_attempts=3, base_delay=10, jitter=0),
        reveal=revealing.verifier.reveal,
    )


async def everything_stored(services: Services) -> str:
    def read(conn: sa.Connection) -> str:
        tables = (messages_table, verifications, verification_sends)
        return repr([list(conn.execute(sa.select(t))) for t in tables])

    return await services.db.read(read)


async def test_the_code_waits_sealed_and_goes_out_in_clear(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("1")
    r = await send_code(client, user.headers, service_name="Shop")
    data = r.json()["data"]
    code = data["verification_code"]

    # In no table, in no form: not the code, not the text that carries it.
    stored = await everything_stored(services)
    assert code not in stored and "Your verification code" not in stored
    message = await services.db.read(messages.get, data["id"], account_id=user.account.id)
    assert message is not None and message.body.startswith(TEXT_PREFIX)
    # Sealed with the code key made in the data folder on first use (mode 0600).
    key_file = services.settings.data_dir / "code.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    vault = CodeVault(secrets.load_or_create(None, services.settings.data_dir, "code.key"))
    assert vault.open_text(SERBIA, message.body) == data["message_text"]
    assert vault.open_text("+381690156361", message.body) is None  # bound to its number
    # What the API shows of it.
    shown = await client.get(f"/api/messages/{data['id']}", headers=user.headers)
    assert shown.json()["data"]["content"] == "<verification code withheld>"
    assert shown.json()["data"]["segments"] == 1 and shown.json()["data"]["encoding"] == "gsm7"

    provider = Recording()
    assert await dispatcher(services, provider, services).run_once() == 1
    [outgoing] = provider.calls
    assert outgoing.text == f"Your verification code for Shop is: {code}"
    assert outgoing.secret is True and outgoing.to == SERBIA
    after = await services.db.read(messages.get, data["id"], account_id=user.account.id)
    assert after is not None and after.status.value == "submitted"
    assert after.body == message.body  # still sealed at rest


async def test_a_worker_with_another_code_key_fails_the_message_and_refunds(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    user = await make_account("1")
    data = (await send_code(client, user.headers)).json()["data"]
    assert await services.accounts.balance(user.account.id) == 850_000

    other_key = services.settings.with_overrides(code_key=bytes(range(32)))
    elsewhere = dataclasses.replace(
        services,
        verifier=from_settings(other_key, services.db, services.prices, services.committer),
    )
    provider = Recording()
    assert await dispatcher(services, provider, elsewhere).run_once() == 1
    assert provider.calls == []  # nothing unreadable is sent
    failed = await services.db.read(messages.get, data["id"], account_id=user.account.id)
    assert failed is not None and failed.status.value == "failed"
    assert failed.error is not None and "decrypted" in failed.error
    assert await services.accounts.balance(user.account.id) == 1_000_000
