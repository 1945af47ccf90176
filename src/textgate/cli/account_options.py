"""`textgate accounts set`: an account's verification options."""

from __future__ import annotations

import typer

from textgate.domain import otp
from textgate.services.container import Services
from textgate.services.verification import KEEP, Keep

_EVERY_COUNTRY = {"all", "*", ""}


async def apply(
    svc: Services,
    email: str,
    code_length: int | None,
    mask_codes: bool | None,
    allowed_countries: str | None,
    prefix_hourly: int | None,
) -> None:
    """Changes the options given (None: left as they are) and prints the result."""
    account = await svc.accounts.find(email)
    countries: frozenset[str] | Keep | None = KEEP
    if allowed_countries is not None:
        everywhere = allowed_countries.strip().lower() in _EVERY_COUNTRY
        countries = None if everywhere else otp.parse_countries(allowed_countries)
    options = await svc.verifier.set_options(
        account.id,
        code_length=KEEP if code_length is None else code_length,
        mask_codes=KEEP if mask_codes is None else mask_codes,
        allowed_countries=countries,
        prefix_hourly=KEEP if prefix_hourly is None else prefix_hourly,
    )
    rules = svc.verifier.policy(options)
    allowed = ",".join(sorted(rules.allowed_countries)) if rules.allowed_countries else "all"
    typer.echo(
        f"{account.email}: code length {rules.code_length}, "
        f"codes {'masked' if rules.mask_codes else 'answered back'}, "
        f"countries {allowed}, at most {rules.prefix_hourly} codes per calling code per hour"
    )
