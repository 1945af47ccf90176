"""Phone verification: send-code and verify-code, and each account's options for them.

Sending a code is one write transaction: the account is locked, its options and the send
limits (per number, per calling code, allowed countries) are checked, the SMS is paid for
and queued like any other (`messages.accept`, kind OTP, claimed first), and the code
replaces the number's previous one. Checking a code is one write transaction on the code's
row, locked: a wrong code is counted, the right one spends the code. So no race can send
more codes or try more guesses than the limits allow.

Codes are never stored or logged in plain text (see `domain.code_vault`); logs carry the
masked number only. `clock` (ms) is every rule's notion of now, so tests can move time.
"""

from __future__ import annotations

import enum
import logging
import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from sqlalchemy.engine import Connection

from textgate import secrets as textgate_secrets
from textgate.domain import otp, phones
from textgate.domain.code_vault import CodeVault
from textgate.domain.pricing import PriceTable
from textgate.domain.states import MessageKind
from textgate.errors import (
    AuthError,
    Conflict,
    Forbidden,
    InsufficientCredits,
    NotFound,
    RateLimited,
)
from textgate.services.committer import Committer
from textgate.services.sending import SendService
from textgate.settings import Settings
from textgate.store import accounts as accounts_store
from textgate.store import messages
from textgate.store import verifications as store
from textgate.store.db import Database, now_ms
from textgate.store.records import Caller, Claimed

log = logging.getLogger("textgate.services.verification")

#: TextFlow's answer to a bad key on send-code and verify-code.
AUTH_ERROR = "Invalid API key or user id."


class Keep(enum.Enum):
    """An option left as it is."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class SentCode:
    #: The code, or as many stars when the account masks its codes.
    verification_code: str
    #: The SMS text, masked the same way.
    message_text: str
    expires: int
    message_id: int
    to: str
    price_micros: int


@dataclass(frozen=True, slots=True)
class CodeCheck:
    outcome: otp.Check  #: VALID, INVALID, EXPIRED or MALFORMED (the rest are raised)
    #: The right code, for TextFlow's `valid_code`; None when masked or malformed.
    valid_code: str | None = None
    expires: int | None = None
    attempts_left: int | None = None


class VerificationService:
    def __init__(
        self,
        db: Database,
        sender: SendService,
        vault: CodeVault,
        limits: otp.Limits,
        *,
        committer: Committer | None = None,
        clock: Callable[[], int] = now_ms,
        randbelow: Callable[[int], int] = secrets.randbelow,
    ) -> None:
        self._db = db
        self._sender = sender
        self._vault = vault
        self._limits = limits
        self._committer = committer
        self._clock = clock
        self._randbelow = randbelow

    async def send_code(
        self,
        caller: Caller,
        phone_number: str,
        *,
        service_name: str = "",
        seconds: int = otp.DEFAULT_SECONDS,
    ) -> SentCode:
        """Sends a new code to the number (InvalidPhone, Forbidden, RateLimited,
        InsufficientCredits, AuthError when it cannot)."""
        phone = phones.parse_phone(phone_number)
        sent = await self._db.write(self._send, caller, phone, service_name, seconds)
        log.info(
            "verification code sent",
            extra={
                "action": "otp_sent",
                "account_id": caller.account_id,
                "to": phones.mask_phone(phone.e164),
                "message_id": sent.message_id,
            },
        )
        if self._committer is not None and self._committer.on_commit is not None:
            self._committer.on_commit()  # wake the worker: codes go first
        return sent

    def _send(
        self, conn: Connection, caller: Caller, phone: phones.Phone, service_name: str, seconds: int
    ) -> SentCode:
        account_id = caller.account_id
        if not store.lock_account(conn, account_id):
            raise AuthError(AUTH_ERROR, reason="the account no longer exists")
        if not accounts_store.live_key_ids(conn, {caller.key_id}):
            raise AuthError(AUTH_ERROR, reason="the API key was revoked")
        now = self._clock()
        rules = otp.policy(self._limits, store.get_options(conn, account_id))
        if not rules.allows(phone.region):
            raise Forbidden(
                f"This account may not send verification codes to {phone.country_name}.",
                country=phone.region,
            )
        latest = store.latest_sends(conn, account_id, phone.e164, rules.max_sends)
        wait = otp.send_wait(latest, now, rules)
        if wait:
            raise RateLimited(
                "Too many verification codes to this phone number: try again later.",
                retry_after=math.ceil(wait / 1000),
            )
        nth = store.nth_latest_to_prefix(conn, account_id, phone.calling_code, rules.prefix_hourly)
        wait = otp.window_wait(nth, now, otp.HOUR_MS)
        if wait:
            raise RateLimited(
                f"Too many verification codes to +{phone.calling_code} numbers this hour"
                f" (at most {rules.prefix_hourly}): try again later.",
                retry_after=math.ceil(wait / 1000),
            )

        code = otp.generate_code(rules.code_length, randbelow=self._randbelow)
        text = otp.message_text(code, service_name)
        item, _, _ = self._sender.prepare(caller, phone.e164, text, MessageKind.OTP)
        # Priced and measured on the text; queued sealed (the worker opens it: `reveal`).
        item = replace(item, body=self._vault.seal_text(phone.e164, text))
        # The queue runs on the real clock, whatever the rules' clock says.
        [outcome] = messages.accept(conn, [item], now=now_ms())
        if outcome is messages.Rejected.KEY_REVOKED:
            raise AuthError(AUTH_ERROR, reason="the API key was revoked")
        if outcome is messages.Rejected.NO_CREDITS:
            raise InsufficientCredits(
                "Not enough credits to send the verification SMS",
                price=item.price_micros / 1_000_000,
            )
        assert not isinstance(outcome, messages.Rejected)

        expires = now + seconds * 1000
        store.replace(
            conn,
            store.NewVerification(
                account_id=account_id,
                phone=phone.e164,
                code_hash=self._vault.digest(account_id, phone.e164, code),
                code_sealed=(
                    None if rules.mask_codes else self._vault.seal(account_id, phone.e164, code)
                ),
                message_id=outcome.message_id,
                created_at=now,
                expires_at=expires,
            ),
        )
        store.record_send(conn, account_id, phone.e164, phone.calling_code, now)
        store.forget_sends(conn, account_id, now - max(rules.window_ms, otp.HOUR_MS))
        shown = otp.mask(code) if rules.mask_codes else code
        return SentCode(
            verification_code=shown,
            message_text=otp.message_text(shown, service_name),
            expires=expires,
            message_id=outcome.message_id,
            to=phone.e164,
            price_micros=item.price_micros,
        )

    async def verify_code(self, caller: Caller, phone_number: str, code: str) -> CodeCheck:
        """Checks a code (InvalidPhone; NotFound, Conflict, RateLimited for a number with no
        code, a used code, a code with no attempts left)."""
        phone = phones.parse_phone(phone_number)
        code = code.strip()
        if not otp.is_well_formed(code):
            return CodeCheck(otp.Check.MALFORMED)
        try:
            result = await self._db.write(self._check, caller.account_id, phone.e164, code)
        except (NotFound, Conflict, RateLimited) as exc:
            self._log_check(caller, phone, type(exc).__name__)
            raise
        self._log_check(caller, phone, result.outcome.value)
        return result

    def _log_check(self, caller: Caller, phone: phones.Phone, outcome: str) -> None:
        log.info(
            "verification code checked",
            extra={
                "action": "otp_checked",
                "account_id": caller.account_id,
                "to": phones.mask_phone(phone.e164),
                "outcome": outcome,
            },
        )

    def _check(self, conn: Connection, account_id: int, phone: str, code: str) -> CodeCheck:
        row = store.get_for_update(conn, account_id, phone)
        if row is None:
            raise NotFound("No verification code was sent to this phone number: send one first.")
        now = self._clock()
        rules = otp.policy(self._limits, store.get_options(conn, account_id))
        outcome = otp.judge(
            now=now,
            expires_at=row.expires_at,
            verified_at=row.verified_at,
            attempts=row.attempts,
            max_attempts=rules.max_attempts,
            matches=self._vault.matches(row.code_hash, account_id, phone, code),
        )
        if outcome is otp.Check.USED:
            raise Conflict("This code was already used: a code is good once. Send a new one.")
        if outcome is otp.Check.TOO_MANY:
            wait = otp.send_wait(
                store.latest_sends(conn, account_id, phone, rules.max_sends), now, rules
            )
            raise RateLimited(
                "Too many attempts: this code can no longer be verified. Send a new code.",
                retry_after=math.ceil(wait / 1000),
            )
        attempts = row.attempts
        if outcome is otp.Check.VALID:
            store.mark_verified(conn, row.id, now)
        elif outcome is otp.Check.INVALID:
            attempts = store.count_wrong(conn, row.id)
        shown = None
        if not rules.mask_codes and row.code_sealed is not None:
            shown = self._vault.open(row.code_sealed, account_id, phone)
            if shown is None:
                log.warning(
                    "a sealed code could not be opened (was the code key changed?)",
                    extra={"action": "otp_unseal_failed", "account_id": account_id},
                )
        return CodeCheck(
            outcome,
            valid_code=shown,
            expires=row.expires_at,
            attempts_left=max(0, rules.max_attempts - attempts),
        )

    def reveal(self, message: Claimed) -> Claimed | None:
        """A claimed verification SMS with its text opened, for the worker to hand to a
        provider; None when it cannot be opened (the code key is not the one it was
        sealed with)."""
        text = self._vault.open_text(message.to_number, message.body)
        if text is None:
            log.error(
                "a verification SMS could not be opened: is TEXTGATE_CODE_KEY the same on"
                " every process?",
                extra={"action": "otp_unseal_failed", "message_id": message.id},
            )
            return None
        return replace(message, body=text)

    async def options(self, account_id: int) -> otp.AccountOptions:
        return await self._db.read(store.get_options, account_id)

    async def set_options(
        self,
        account_id: int,
        *,
        code_length: int | Literal[Keep.KEEP] | None = KEEP,
        mask_codes: bool | Literal[Keep.KEEP] = KEEP,
        allowed_countries: frozenset[str] | Literal[Keep.KEEP] | None = KEEP,
        prefix_hourly: int | Literal[Keep.KEEP] | None = KEEP,
    ) -> otp.AccountOptions:
        """Changes some of an account's options (None: back to the server's default)."""

        def work(conn: Connection) -> otp.AccountOptions:
            if not store.lock_account(conn, account_id):
                raise NotFound(f"No account {account_id}")
            options = store.get_options(conn, account_id)
            if code_length is not KEEP:
                options = replace(options, code_length=code_length)
            if mask_codes is not KEEP:
                options = replace(options, mask_codes=mask_codes)
            if allowed_countries is not KEEP:
                options = replace(options, allowed_countries=allowed_countries)
            if prefix_hourly is not KEEP:
                options = replace(options, prefix_hourly=prefix_hourly)
            store.put_options(conn, account_id, options, now_ms())
            return options

        return await self._db.write(work)

    def policy(self, options: otp.AccountOptions) -> otp.Policy:
        """The rules in force for an account with `options`."""
        return otp.policy(self._limits, options)


def from_settings(
    settings: Settings,
    db: Database,
    prices: PriceTable,
    committer: Committer,
    *,
    clock: Callable[[], int] = now_ms,
) -> VerificationService:
    """The service as `app.build` wires it: limits from settings, the code key from settings
    or the data folder."""
    key = textgate_secrets.load_or_create(settings.code_key, settings.data_dir, "code.key")
    limits = otp.Limits(
        code_length=settings.otp_code_length,
        max_attempts=settings.otp_max_attempts,
        max_sends=settings.otp_max_sends,
        window_ms=settings.otp_send_window * 1000,
        min_gap_ms=settings.otp_min_gap * 1000,
        prefix_hourly=settings.otp_prefix_hourly,
    )
    return VerificationService(
        db, SendService(committer, prices), CodeVault(key), limits, committer=committer, clock=clock
    )
