"""Webhooks: each account's URL and signing secret, and delivering signed events to it.

Delivering any event is one call, `deliver(account_id, event_type, data)`: the event
`{"type", "id", "created", "data"}` is POSTed as JSON with `X-Textgate-Event`,
`X-Textgate-Event-Id` and `X-Textgate-Signature` (see `domain.webhooks`). Redirects are not
followed, the wait is short, the answer's body is never read, and a receiver that is down
or slow comes back as a `Delivery` with an error, never as an exception. Retrying is the
caller's choice.

Secrets are sealed at rest; a new one is answered once (to be shown once) and is
otherwise never read back out of the service. Logs carry the URL's host only (a URL may
hold a token in its path or query), never the secret.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.engine import Connection

from textgate import __version__
from textgate import secrets as textgate_secrets
from textgate.domain import webhooks as rules
from textgate.errors import Conflict, InvalidRequest, NotFound
from textgate.settings import Settings
from textgate.store import webhooks as store
from textgate.store.db import Database, now_ms

log = logging.getLogger("textgate.services.webhooks")

DEFAULT_TIMEOUT = 5.0
_EVENT_TYPE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
TEST_EVENT = "test"


@dataclass(frozen=True, slots=True)
class WebhookView:
    """What the console may show of an account's webhook (never the secret)."""

    url: str | None
    has_secret: bool
    updated_at: int | None


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: str
    event_type: str
    #: The HTTP status the receiver answered; None when no answer came.
    status: int | None
    elapsed_ms: int
    #: Why no answer came (or why nothing was sent).
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def _host(url: str) -> str:
    return urlsplit(url).hostname or "?"


class WebhookService:
    def __init__(
        self,
        db: Database,
        box: rules.SecretBox,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        private_addresses: bool = False,
    ) -> None:
        self._db = db
        self._private_ok = private_addresses
        self._box = box
        self._timeout = timeout
        self._transport = transport
        self._clock = clock
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made on first use, inside the event loop that uses it
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._timeout),
                follow_redirects=False,
                headers={"User-Agent": f"textgate-webhooks/{__version__}"},
            )
        return self._client

    @property
    def longest_send(self) -> float:
        """Seconds one `send` takes at most (the whole exchange is bounded: see `_post`)."""
        return self._timeout * 2

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def webhook(self, account_id: int) -> WebhookView:
        found = await self._db.read(store.get, account_id)
        if found is None:
            return WebhookView(url=None, has_secret=False, updated_at=None)
        return WebhookView(url=found.url, has_secret=True, updated_at=found.updated_at)

    async def set_url(self, account_id: int, url: str) -> str | None:
        """Sets the URL (InvalidRequest when it is not one we send to). The first time, a
        secret is made too and answered, for showing once; later, None."""
        url = rules.check_url(url)
        secret = rules.new_secret()

        def work(conn: Connection) -> str | None:
            if not store.lock_account(conn, account_id):
                raise NotFound(f"No account {account_id}")
            at = now_ms()
            if store.set_url(conn, account_id, url, at=at):
                return None
            sealed = self._box.seal(account_id, secret)
            store.create(conn, account_id, url=url, secret_sealed=sealed, at=at)
            return secret

        made = await self._db.write(work)
        log.info(
            "webhook URL set",
            extra={"action": "webhook_url_set", "account_id": account_id, "host": _host(url)},
        )
        return made

    async def clear_url(self, account_id: int) -> None:
        """No more events are sent; the secret is kept for when a URL is set again."""
        await self._db.write(store.set_url, account_id, None, at=now_ms())
        log.info(
            "webhook URL cleared", extra={"action": "webhook_url_cleared", "account_id": account_id}
        )

    async def rotate_secret(self, account_id: int) -> str:
        """A new secret replaces the old one at once; answered for showing once."""
        secret = rules.new_secret()
        sealed = self._box.seal(account_id, secret)

        def work(conn: Connection) -> None:
            if not store.lock_account(conn, account_id):
                raise NotFound(f"No account {account_id}")
            at = now_ms()
            if not store.set_secret(conn, account_id, sealed, at=at):
                store.create(conn, account_id, url=None, secret_sealed=sealed, at=at)

        await self._db.write(work)
        log.info(
            "webhook secret rotated",
            extra={"action": "webhook_secret_rotated", "account_id": account_id},
        )
        return secret

    async def send_test(self, account_id: int) -> Delivery:
        """A `test` event to the account's URL; Conflict when it has none."""
        delivery = await self.deliver(
            account_id,
            TEST_EVENT,
            {"message": "A test event from textgate: your webhook receives events."},
        )
        if delivery is None:
            raise Conflict("Set a webhook URL first")
        return delivery

    async def deliver(
        self, account_id: int, event_type: str, data: Mapping[str, Any]
    ) -> Delivery | None:
        """POSTs one signed event to the account's webhook URL; None when it has none."""
        if not _EVENT_TYPE.fullmatch(event_type):
            raise InvalidRequest(f"Not an event type: {event_type!r}")
        found = await self._db.read(store.get, account_id)
        if found is None or found.url is None:
            return None
        event_id = rules.new_event_id()
        now = int(self._clock())
        delivery = await self.send(
            account_id,
            found.url,
            found.secret_sealed,
            event_id=event_id,
            event_type=event_type,
            created=now,
            data=data,
            signed_at=now,
        )
        log.info(
            "webhook delivered" if delivery.ok else "webhook not delivered",
            extra={
                "action": "webhook_delivered" if delivery.ok else "webhook_failed",
                "account_id": account_id,
                "event": event_type,
                "event_id": event_id,
                "host": _host(found.url),
                "status": delivery.status,
                "elapsed_ms": delivery.elapsed_ms,
            },
        )
        return delivery

    async def send(
        self,
        account_id: int,
        url: str,
        secret_sealed: bytes,
        *,
        event_id: str,
        event_type: str,
        created: int,
        data: Mapping[str, Any],
        signed_at: int | None = None,
    ) -> Delivery:
        """POSTs one signed event to `url` (no look-up, no log line): `deliver` and the
        worker's webhook sender, which claims events with their URL and sealed secret, both
        call it. `created` (unix seconds) is the event's; the signature carries the time of
        this attempt (`signed_at`, by default now), so a retry hours later still passes a
        receiver's tolerance check."""
        secret = self._box.open(account_id, secret_sealed)
        if secret is None:
            log.error(
                "a webhook secret could not be opened: is TEXTGATE_CODE_KEY the same on"
                " every process?",
                extra={"action": "webhook_unseal_failed", "account_id": account_id},
            )
            return Delivery(
                event_id,
                event_type,
                status=None,
                elapsed_ms=0,
                error="The signing secret cannot be read (was the server's code key changed?):"
                " rotate the secret.",
            )
        body = json.dumps(
            {"type": event_type, "id": event_id, "created": created, "data": dict(data)},
            separators=(",", ":"),
        ).encode()
        headers = {
            "Content-Type": "application/json",
            rules.EVENT_HEADER: event_type,
            rules.EVENT_ID_HEADER: event_id,
            rules.SIGNATURE_HEADER: rules.sign(
                secret, body, int(self._clock()) if signed_at is None else signed_at
            ),
        }
        return await self._post(url, body, headers, event_id, event_type)

    async def _post(
        self, url: str, body: bytes, headers: dict[str, str], event_id: str, event_type: str
    ) -> Delivery:
        started = time.perf_counter()

        def done(status: int | None, error: str | None = None) -> Delivery:
            elapsed = int((time.perf_counter() - started) * 1000)
            return Delivery(event_id, event_type, status=status, elapsed_ms=elapsed, error=error)

        try:
            # The client's timeout bounds each step; this bounds the whole exchange.
            async with asyncio.timeout(self.longest_send):
                target, extensions = url, dict[str, Any]()
                if not self._private_ok:
                    target, extensions = await pinned(url)
                    headers = {**headers, "Host": urlsplit(url).netloc}
                client = self._http()
                request = client.build_request(
                    "POST", target, content=body, headers=headers, extensions=extensions
                )
                response = await client.send(request, stream=True)
                await response.aclose()  # the body is not read: only the status counts
        except (TimeoutError, httpx.TimeoutException):
            return done(None, f"No answer within {self._timeout:g} seconds")
        except httpx.ConnectError as exc:
            return done(None, f"Could not connect: {exc or 'connection failed'}")
        except httpx.InvalidURL as exc:
            return done(None, f"Not a URL we can send to: {exc}")
        except PrivateAddress as exc:
            return done(None, str(exc))
        except (httpx.HTTPError, OSError) as exc:
            return done(None, f"The request failed: {type(exc).__name__}: {exc}")
        return done(response.status_code)


class PrivateAddress(Exception):
    """The webhook's host is (or resolves to) an address that is not on the public internet."""


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def _resolve(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def pinned(url: str, resolve: Resolver = _resolve) -> tuple[str, dict[str, Any]]:
    """`url` with its host replaced by the one public address it is sent to, and the
    request extensions that keep the host name for TLS (SNI and the certificate check).

    Resolving once and connecting to that very address is what stops a receiver from
    reaching the server's own network: a name checked now and resolved again at connect
    time could point inside by then (DNS rebinding). PrivateAddress when any address the
    host has is loopback, private, link-local or otherwise not global."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        addresses = sorted(set(await resolve(host, port)))
    except OSError as exc:
        raise PrivateAddress(f"Could not resolve {host}: {exc}") from None
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise PrivateAddress(
                f"{host} is a private address ({address}): webhooks go to public addresses"
                " only, unless the operator allows others (TEXTGATE_WEBHOOK_PRIVATE_ADDRESSES)"
            )
    if not addresses:
        raise PrivateAddress(f"Could not resolve {host}")
    first = ipaddress.ip_address(addresses[0])
    literal = f"[{first}]" if first.version == 6 else str(first)
    netloc = f"{literal}:{parts.port}" if parts.port else literal
    pinned = parts._replace(netloc=netloc).geturl()
    extensions: dict[str, Any] = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
    return pinned, extensions


def from_settings(settings: Settings, db: Database) -> WebhookService:
    """The service as `app.build` wires it: secrets sealed under the code key (from
    settings or the data folder)."""
    key = textgate_secrets.load_or_create(settings.code_key, settings.data_dir, "code.key")
    return WebhookService(
        db, rules.SecretBox(key), private_addresses=settings.webhook_private_addresses
    )
