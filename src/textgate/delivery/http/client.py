"""What the HTTP providers share: one pooled `httpx.AsyncClient` each, a cap on requests in
flight, the answers every HTTP API means the same way, and health.

`HttpLink.send` raises `TransientError` for what says "later" whatever the provider: no
answer (connection refused, reset, a timeout), a 5xx, a 429 (each with the `Retry-After` the
provider gave, bounded), a 401 (the credentials were refused: the provider counts as down,
so messages wait instead of failing). Any other answer goes back to the provider to read.

Health: `down_after` transport failures in a row (no answer or a 5xx) or refused
credentials take the provider down; any answer that is not a 5xx brings it up again. While
it is down the worker sends it nothing (its messages wait without spending attempts), so a
probe, an authenticated GET the provider names (its account), runs every `probe_interval`
seconds and brings it up at the first 2xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from textgate import __version__
from textgate.delivery.base import Health, TransientError
from textgate.delivery.http.config import HttpOptions
from textgate.domain.phones import mask_phone

log = logging.getLogger("textgate.delivery.http")

#: Reads a provider's error answer: its code and message (else the HTTP reason phrase),
#: for reasons and logs.
Describe = Callable[[httpx.Response], str]
#: The provider's probe: an authenticated GET that answers 2xx when all is well.
Probe = Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]

_NUMBER = re.compile(r"\+?\d{7,15}\b")
#: Reasons (stored as the message's error, logged) are cut to this many characters.
REASON_LENGTH = 200


def scrub(text: str) -> str:
    """A provider's text made safe to log and store: phone numbers masked, one line, short."""
    flat = " ".join(text.split())
    return _NUMBER.sub(lambda m: mask_phone(m.group(0)), flat)[:REASON_LENGTH]


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The answer's JSON object; {} when it is not one."""
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after(response: httpx.Response, *, cap: float, now: float | None = None) -> float | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), within
    [0, cap]; None when there is none or it cannot be read."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(seconds):
        return None
    return min(cap, max(0.0, seconds))


class HttpLink:
    """One provider's HTTP client, in-flight cap and health."""

    def __init__(
        self,
        name: str,
        options: HttpOptions,
        *,
        probe: Probe,
        describe: Describe,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.name = name
        self.options = options
        self._probe = probe
        self._describe = describe
        self._client = client
        self._owns_client = client is None
        self._slots = asyncio.Semaphore(options.max_in_flight)
        self.in_flight = 0
        self.failures_in_a_row = 0
        self.last_error: str | None = None
        self._down_since: float | None = None
        #: The error that took the provider down.
        self._cause: str | None = None
        self._prober: asyncio.Task[None] | None = None
        self._stopping = False

    # -- life -------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        if self._client is None:
            limit = self.options.max_in_flight
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.options.timeout, connect=self.options.connect_timeout),
                limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                headers={"User-Agent": f"textgate/{__version__}"},
                follow_redirects=False,
            )
            self._owns_client = True

    async def stop(self) -> None:
        self._stopping = True
        if self._prober is not None:
            self._prober.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._prober
            self._prober = None
        if self._client is not None and self._owns_client:
            await self._client.aclose()
            self._client = None

    @property
    def up(self) -> bool:
        return self._down_since is None and not self._stopping

    def health(self, detail: dict[str, str]) -> Health:
        return Health(
            name=self.name,
            up=self.up,
            in_flight=self.in_flight,
            last_error=self.last_error,
            detail={
                "api": self.options.base_url,
                "max_in_flight": str(self.options.max_in_flight),
                "failures_in_a_row": str(self.failures_in_a_row),
                **detail,
            },
        )

    # -- requests ---------------------------------------------------------------------

    async def send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """The provider's answer, unless it means "later" (see the module's docstring)."""
        if self._stopping:
            raise TransientError(f"{self.name} is stopping")
        if self._client is None:
            raise TransientError(f"{self.name} is not started")
        async with self._slots:
            self.in_flight += 1
            try:
                response = await self._client.request(method, url, **kwargs)
            except httpx.TimeoutException as exc:
                raise self._transport_failed(f"no answer in time ({type(exc).__name__})") from None
            except httpx.TransportError as exc:
                raise self._transport_failed(f"connection failed ({type(exc).__name__})") from None
            finally:
                self.in_flight -= 1
        status = response.status_code
        wait = retry_after(response, cap=self.options.max_retry_after)
        if status >= 500:
            reason = f"HTTP {status}: {self._describe(response)}"
            raise self._transport_failed(reason, retry_after=wait)
        if status == 401:
            raise self.credentials_refused(f"HTTP 401: {self._describe(response)}")
        self._answered()
        if status == 429:
            reason = f"throttled (HTTP 429): {self._describe(response)}"
            raise TransientError(reason, retry_after=wait)
        return response

    def credentials_refused(self, reason: str) -> TransientError:
        """The provider refused our credentials (or our account): down until a probe
        passes, so messages wait for the operator instead of failing."""
        self.last_error = f"credentials refused: {reason}"
        self._go_down()
        return TransientError(self.last_error)

    def _transport_failed(self, reason: str, retry_after: float | None = None) -> TransientError:
        self.failures_in_a_row += 1
        self.last_error = reason
        if self.failures_in_a_row >= self.options.down_after:
            self._go_down()
        return TransientError(reason, retry_after=retry_after)

    def _answered(self) -> None:
        self.failures_in_a_row = 0
        self._come_up()

    def _go_down(self) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            self._cause = self.last_error
            log.warning(
                "provider %s is down: %s",
                self.name,
                self.last_error,
                extra={"action": "http_provider_down", "provider": self.name},
            )
        if self._prober is None and not self._stopping:
            self._prober = asyncio.create_task(self._probe_loop(), name=f"http:{self.name}:probe")

    def _still_down(self, check: str) -> None:
        self.last_error = f"{self._cause}; last check: {check}"

    def _come_up(self) -> None:
        if self._down_since is None:
            return
        seconds = round(time.monotonic() - self._down_since, 1)
        self._down_since = None
        self.failures_in_a_row = 0
        log.info(
            "provider %s is up again after %ss",
            self.name,
            seconds,
            extra={"action": "http_provider_up", "provider": self.name},
        )

    async def _probe_loop(self) -> None:
        try:
            while self._down_since is not None and not self._stopping:
                await asyncio.sleep(self.options.probe_interval)
                if self._client is None:
                    continue
                try:
                    response = await self._probe(self._client)
                except httpx.HTTPError as exc:
                    self._still_down(f"no answer ({type(exc).__name__})")
                    continue
                if response.is_success:
                    self._come_up()
                else:
                    self._still_down(f"HTTP {response.status_code}: {self._describe(response)}")
        finally:
            self._prober = None
