"""One typed Settings object, read from `TEXTGATE_*` variables and an optional TOML file.

`Settings.load(environ)` takes a mapping (pass `os.environ` in production, a dict in tests)
and checks everything at start-up: a bad value stops the process with a message naming the
setting, never later in the middle of a request.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from textgate.domain import money

DEFAULT_DATA_DIR = "./var"
MIN_PEPPER_BYTES = 32


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it."""


@dataclass(frozen=True)
class Settings:
    #: SQLAlchemy-style URL: sqlite:///path or postgresql://user@host/db
    database_url: str
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    host: str = "127.0.0.1"
    port: int = 8000
    #: Pepper for API key hashes; None means "the file under data_dir" (made on first run).
    pepper: bytes | None = None
    #: Key for the encrypted copies of OTP codes; None means "the file under data_dir".
    code_key: bytes | None = None
    price_file: Path | None = None
    #: Credit a new account starts with; None means "two SMS at the default price".
    signup_credit_micros: int | None = None
    #: SQLite `synchronous`: FULL (default, every acknowledged message is on disk) or NORMAL
    #: (faster; a power cut may lose the last acknowledged messages).
    sqlite_synchronous: str = "FULL"
    max_body_bytes: int = 1024 * 1024
    bulk_max_body_bytes: int = 16 * 1024 * 1024
    #: Numbers one bulk-sms request may carry.
    bulk_max_recipients: int = 100_000
    #: Processes that parse a big bulk list's numbers side by side (0: a thread instead).
    bulk_parse_processes: int = 2
    #: Group commit: how many accepted messages one transaction may carry at most.
    commit_batch: int = 512
    #: Group commit: how long (seconds) the first waiting message waits for others to join.
    commit_linger: float = 0.0005
    worker_batch: int = 500
    worker_concurrency: int = 2000
    worker_poll_interval: float = 0.2
    #: Under load, the least time (seconds) between two claims: new messages gather into
    #: fewer, bigger batches (fewer transactions) at the cost of this much more latency.
    worker_linger: float = 0.01
    #: Webhooks may go to loopback and private addresses (off: public addresses only, so an
    #: account cannot use the server to reach into its network).
    webhook_private_addresses: bool = False
    #: Attempts per webhook event (the first included), spread over about a day by default.
    webhook_max_attempts: int = 15
    #: Days delivered and failed webhook events are kept (the console shows them).
    webhook_retention_days: int = 7
    #: Webhook deliveries in flight at once per worker process.
    webhook_concurrency: int = 20
    lease_seconds: float = 60.0
    retry_max_attempts: int = 8
    retry_base_delay: float = 2.0
    retry_max_delay: float = 600.0
    log_level: str = "INFO"
    #: Verification codes (send-code, verify-code); an account may tighten them.
    otp_code_length: int = 6
    #: Wrong checks a code survives; then it is dead.
    otp_max_attempts: int = 5
    #: Codes per number per account within `otp_send_window` seconds.
    otp_max_sends: int = 5
    otp_send_window: int = 600
    #: Seconds between two codes to the same number.
    otp_min_gap: int = 30
    #: Codes per account per country calling code per hour (SMS-pumping brake).
    otp_prefix_hourly: int = 100
    #: Providers and routes from the TOML file ([providers.NAME] tables, [[routes]]).
    providers: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    routes: tuple[Mapping[str, Any], ...] = ()

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        config: dict[str, Any] = {}
        config_path = env.get("TEXTGATE_CONFIG")
        if config_path is None and Path("textgate.toml").is_file():
            config_path = "textgate.toml"
        if config_path:
            try:
                config = tomllib.loads(Path(config_path).read_text(encoding="utf-8"))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise SettingsError(f"cannot read config file {config_path}: {exc}") from exc
        return cls.from_sources(env, config)

    @classmethod
    def from_sources(cls, env: Mapping[str, str], config: Mapping[str, Any]) -> Settings:
        server = dict(config.get("server", {}))

        def pick(name: str, default: Any = None) -> Any:
            value = env.get(f"TEXTGATE_{name.upper()}")
            return value if value is not None else server.get(name, default)

        data_dir = Path(str(pick("data_dir", DEFAULT_DATA_DIR)))
        database_url = str(pick("database_url", "") or f"sqlite:///{data_dir / 'textgate.db'}")
        if not database_url.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise SettingsError("TEXTGATE_DATABASE_URL must start with sqlite:/// or postgresql://")
        synchronous = str(pick("sqlite_synchronous", "FULL")).upper()
        if synchronous not in {"FULL", "NORMAL", "EXTRA"}:
            raise SettingsError("TEXTGATE_SQLITE_SYNCHRONOUS must be FULL, EXTRA or NORMAL")
        price_file = pick("price_file")
        signup = pick("signup_credit")
        providers = config.get("providers", {})
        routes = config.get("routes", [])
        if not isinstance(providers, dict) or not isinstance(routes, list):
            raise SettingsError("config: [providers.NAME] must be tables and [[routes]] a list")
        return cls(
            database_url=database_url,
            data_dir=data_dir,
            host=str(pick("host", "127.0.0.1")),
            port=_int("port", pick("port", 8000), 0, 65535),
            pepper=_secret("pepper", pick("pepper")),
            code_key=_secret("code_key", pick("code_key")),
            price_file=Path(price_file) if price_file else None,
            signup_credit_micros=_credits("signup_credit", signup) if signup is not None else None,
            sqlite_synchronous=synchronous,
            max_body_bytes=_int("max_body_bytes", pick("max_body_bytes", 1 << 20), 1024, 1 << 30),
            bulk_max_body_bytes=_int(
                "bulk_max_body_bytes", pick("bulk_max_body_bytes", 16 << 20), 1024, 1 << 31
            ),
            bulk_max_recipients=_int(
                "bulk_max_recipients", pick("bulk_max_recipients", 100_000), 1, 10_000_000
            ),
            bulk_parse_processes=_int(
                "bulk_parse_processes", pick("bulk_parse_processes", 2), 0, 64
            ),
            commit_batch=_int("commit_batch", pick("commit_batch", 512), 1, 100_000),
            commit_linger=_float("commit_linger", pick("commit_linger", 0.0005)),
            worker_batch=_int("worker_batch", pick("worker_batch", 500), 1, 100_000),
            worker_concurrency=_int(
                "worker_concurrency", pick("worker_concurrency", 2000), 1, 100_000
            ),
            worker_poll_interval=_float("worker_poll_interval", pick("worker_poll_interval", 0.2)),
            worker_linger=_float("worker_linger", pick("worker_linger", 0.01)),
            webhook_private_addresses=_bool(
                "webhook_private_addresses", pick("webhook_private_addresses", False)
            ),
            webhook_max_attempts=_int(
                "webhook_max_attempts", pick("webhook_max_attempts", 15), 1, 100
            ),
            webhook_retention_days=_int(
                "webhook_retention_days", pick("webhook_retention_days", 7), 1, 3650
            ),
            webhook_concurrency=_int(
                "webhook_concurrency", pick("webhook_concurrency", 20), 1, 1000
            ),
            lease_seconds=_float("lease_seconds", pick("lease_seconds", 60.0)),
            retry_max_attempts=_int("retry_max_attempts", pick("retry_max_attempts", 8), 1, 100),
            retry_base_delay=_float("retry_base_delay", pick("retry_base_delay", 2.0)),
            retry_max_delay=_float("retry_max_delay", pick("retry_max_delay", 600.0)),
            log_level=str(pick("log_level", "INFO")).upper(),
            otp_code_length=_int("otp_code_length", pick("otp_code_length", 6), 4, 10),
            otp_max_attempts=_int("otp_max_attempts", pick("otp_max_attempts", 5), 1, 100),
            otp_max_sends=_int("otp_max_sends", pick("otp_max_sends", 5), 1, 1000),
            otp_send_window=_int("otp_send_window", pick("otp_send_window", 600), 1, 86_400),
            otp_min_gap=_int("otp_min_gap", pick("otp_min_gap", 30), 0, 86_400),
            otp_prefix_hourly=_int(
                "otp_prefix_hourly", pick("otp_prefix_hourly", 100), 1, 10_000_000
            ),
            providers={str(k): dict(v) for k, v in providers.items()},
            routes=tuple(dict(r) for r in routes),
        )


def _int(name: str, value: Any, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise SettingsError(f"TEXTGATE_{name.upper()} must be an integer, got {value!r}") from None
    if not low <= number <= high:
        raise SettingsError(f"TEXTGATE_{name.upper()} must be between {low} and {high}")
    return number


def _float(name: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SettingsError(f"TEXTGATE_{name.upper()} must be a number, got {value!r}") from None
    if number < 0:
        raise SettingsError(f"TEXTGATE_{name.upper()} must not be negative")
    return number


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise SettingsError(f"TEXTGATE_{name.upper()} must be true or false, got {value!r}")


def _credits(name: str, value: Any) -> int:
    try:
        return money.to_micros(Decimal(str(value)))
    except (InvalidOperation, ValueError, TypeError) as exc:
        raise SettingsError(f"TEXTGATE_{name.upper()}: {exc}") from None


def _secret(name: str, value: Any) -> bytes | None:
    """Secrets are given as hex (64 characters for 32 bytes); short ones are refused."""
    if value in (None, ""):
        return None
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raise SettingsError(
            f"TEXTGATE_{name.upper()} must be hex (e.g. `openssl rand -hex 32`)"
        ) from None
    if len(raw) < MIN_PEPPER_BYTES:
        raise SettingsError(f"TEXTGATE_{name.upper()} must hold at least 32 bytes (64 hex digits)")
    return raw
