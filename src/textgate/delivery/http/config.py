"""What every HTTP provider's `[providers.NAME]` table holds, and typed reads of such a table
whose errors name the table and the key (never echoing a secret)."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from textgate.settings import SettingsError

#: Keys every HTTP provider takes (besides its own); `throughput` is read by the worker.
COMMON_KEYS = frozenset(
    {
        "type",
        "base_url",
        "timeout",
        "connect_timeout",
        "max_in_flight",
        "down_after",
        "probe_interval",
        "max_retry_after",
        "callback_base_url",
        "throughput",
    }
)


@dataclass(frozen=True, slots=True)
class HttpOptions:
    """How a provider talks HTTP and decides it is down."""

    #: The API's scheme and host (and a path prefix, if any); no trailing slash.
    base_url: str
    #: Seconds a request may take in all (read, write, pool wait).
    timeout: float = 10.0
    #: Seconds to open a connection.
    connect_timeout: float = 5.0
    #: Requests in flight at once (and pooled connections), per worker process.
    max_in_flight: int = 50
    #: Transport failures (no answer, a timeout, a 5xx) in a row after which it is down.
    down_after: int = 3
    #: Seconds between the checks that bring a provider that is down up again.
    probe_interval: float = 10.0
    #: The longest Retry-After we honour, in seconds.
    max_retry_after: float = 3600.0
    #: textgate's public URL as the provider reaches it (behind a proxy: the proxy's), no
    #: trailing slash; callbacks are `{callback_base_url}/callbacks/...`. "" = not set.
    callback_base_url: str = ""


class Table:
    """Typed reads of one `[providers.NAME]` table."""

    def __init__(
        self,
        name: str,
        data: Mapping[str, object],
        *,
        kind: str,
        keys: Collection[str],
        secrets: Collection[str] = (),
    ) -> None:
        self.where = f"[providers.{name}]"
        self._data = data
        self._secrets = frozenset(secrets)
        known = COMMON_KEYS | set(keys)
        unknown = sorted(str(key) for key in set(data) - known)
        if unknown:
            raise SettingsError(
                f"{self.where}: unknown key(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        if data.get("type", kind) != kind:
            raise SettingsError(f"{self.where}: type must be {kind!r}, not {data['type']!r}")

    def has(self, key: str) -> bool:
        return key in self._data

    def fail(self, message: str) -> SettingsError:
        return SettingsError(f"{self.where}: {message}")

    def _wrong(self, key: str, wants: str) -> SettingsError:
        shown = "the value given" if key in self._secrets else repr(self._data[key])
        return self.fail(f"{key} must be {wants}, not {shown}")

    def text(
        self, key: str, *, required: bool = False, max_length: int = 255, ascii_only: bool = True
    ) -> str:
        if key not in self._data:
            if required:
                raise self.fail(f"{key} is required")
            return ""
        value = self._data[key]
        if (
            not isinstance(value, str)
            or not 1 <= len(value) <= max_length
            or value != value.strip()
            or (ascii_only and not (value.isascii() and value.isprintable()))
        ):
            wants = f"a string of 1 to {max_length} {'printable ASCII ' if ascii_only else ''}"
            raise self._wrong(key, f"{wants}characters without spaces around it")
        return value

    def url(self, key: str, default: str = "") -> str:
        """An http(s) URL without query, fragment or user name; the trailing "/" dropped."""
        if key not in self._data:
            return default
        value = self.text(key, max_length=2000)
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - checks the port
        except ValueError:
            raise self._wrong(key, "an http:// or https:// URL") from None
        if (
            parts.scheme not in ("http", "https")
            or not parts.hostname
            or parts.query
            or parts.fragment
            or parts.username is not None
            or value.endswith("?")
        ):
            raise self._wrong(key, "an http:// or https:// URL without user, query or fragment")
        return value.rstrip("/")

    def integer(self, key: str, default: int, *, low: int, high: int) -> int:
        value = self._data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self._wrong(key, f"an integer from {low} to {high}")
        return value

    def number(self, key: str, default: float, *, low: float, high: float = math.inf) -> float:
        value = self._data.get(key, default)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or not low <= value <= high
        ):
            limit = f"from {low} to {high}" if math.isfinite(high) else f"of at least {low}"
            raise self._wrong(key, f"a number {limit}")
        return float(value)

    def choice(self, key: str, options: Collection[str], default: str) -> str:
        value = self._data.get(key, default)
        if not isinstance(value, str) or value not in options:
            raise self._wrong(key, " or ".join(repr(option) for option in sorted(options)))
        return value

    def http_options(self, default_base_url: str) -> HttpOptions:
        return HttpOptions(
            base_url=self.url("base_url", default_base_url),
            timeout=self.number("timeout", 10.0, low=0.01, high=600.0),
            connect_timeout=self.number("connect_timeout", 5.0, low=0.01, high=600.0),
            max_in_flight=self.integer("max_in_flight", 50, low=1, high=10_000),
            down_after=self.integer("down_after", 3, low=1, high=1000),
            probe_interval=self.number("probe_interval", 10.0, low=0.01, high=3600.0),
            max_retry_after=self.number("max_retry_after", 3600.0, low=0.0, high=86_400.0),
            callback_base_url=self.url("callback_base_url"),
        )
