"""send-code and verify-code on SQLite and PostgreSQL, in-process, with a clock the test
moves: TextFlow's shapes, single use, expiry, replacement, masking, limits, storage."""

from __future__ import annotations

import logging
import re

import httpx
import pytest
import sqlalchemy as sa

from support import MakeAccount, NewAccount
from textgate import secrets
from textgate.domain.code_vault import CodeVault
from textgate.domain.states import MessageKind, MessageStatus
from textgate.logs import KeyValueFormatter
from textgate.services.container import Services
from textgate.store import messages
from textgate.store.tables import messages as messages_table
from textgate.store.tables import verification_sends, verifications
from verify_support import SERBIA, Clock, send_code, use_clock, verify_code, wrong

Client = httpx.AsyncClient
US = "+12015550123"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def clock(services: Services) -> Clock:
    return use_clock(services)


@pytest.fixture
async def user(make_account: MakeAccount) -> NewAccount:
    return await make_account("10")


async def sent_code(client: Client, user: NewAccount, phone: str = SERBIA, **fields: object) -> str:
    r = await send_code(client, user.headers, phone, **fields)
    assert r.status_code == 200, r.text
    code = r.json()["data"]["verification_code"]
    assert isinstance(code, str)
    return code


async def rows(services: Services, table: sa.Table) -> list[dict[str, object]]:
    def read(conn: sa.Connection) -> list[dict[str, object]]:
        return [dict(r._mapping) for r in conn.execute(sa.select(table))]

    return await services.db.read(read)


async def test_send_code_answers_textflow_shape(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    r = await send_code(client, user.headers, service_name="", seconds=600)
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is True and body["status"] == 200
    assert body["message"] == "Verification SMS sent. "
    data = body["data"]
    code = data["verification_code"]
    assert isinstance(code, str) and re.fullmatch(r"[0-9]{6}", code)
    assert data["expires"] == clock.now + 600_000 and isinstance(data["expires"], int)
    assert data["message_text"] == f"Your verification code is:\n{code}"
    assert data["to"] == SERBIA and data["price"] == 0.15

    # Paid and queued like any SMS, as a verification message (claimed first).
    assert await services.accounts.balance(user.account.id) == 9_850_000
    message = await services.db.read(messages.get, data["id"], account_id=user.account.id)
    assert message is not None
    assert message.kind is MessageKind.OTP and message.status is MessageStatus.QUEUED
    assert message.to_number == SERBIA and message.price_micros == 150_000
    queued = await rows(services, messages_table)
    assert [m["priority"] for m in queued] == [MessageKind.OTP.priority] == [0]


async def test_service_name_goes_in_the_text(client: Client, user: NewAccount) -> None:
    r = await send_code(client, user.headers, service_name="Guest")
    data = r.json()["data"]
    assert (
        data["message_text"] == f"Your verification code for Guest is: {data['verification_code']}"
    )


async def test_service_name_may_be_left_out(client: Client, user: NewAccount) -> None:
    # The Node client sends neither service_name nor seconds.
    r = await client.post("/api/send-code", json={"phone_number": SERBIA}, headers=user.headers)
    assert r.status_code == 200
    assert r.json()["data"]["message_text"].startswith("Your verification code is:\n")


async def test_right_code_is_valid(client: Client, user: NewAccount, clock: Clock) -> None:
    code = await sent_code(client, user, seconds=300)
    clock.advance(10)
    r = await verify_code(client, user.headers, code)
    assert r.status_code == 200
    assert r.json() == {
        "ok": True,
        "status": 200,
        "message": "The code is valid. ",
        "valid": True,
        "valid_code": code,
        "expires": clock.now - 10_000 + 300_000,
    }


async def test_wrong_code_is_invalid_and_counted(
    client: Client, user: NewAccount, clock: Clock
) -> None:
    code = await sent_code(client, user)
    r = await verify_code(client, user.headers, wrong(code))
    assert r.status_code == 400
    body = r.json()
    assert body == {
        "ok": True,
        "status": 400,
        "message": "The code is invalid. ",
        "valid": False,
        "valid_code": code,
        "expires": clock.now + 600_000,
        "attempts_left": 4,
    }
    r = await verify_code(client, user.headers, "1234")  # another length: just wrong
    assert r.json()["message"] == "The code is invalid. " and r.json()["attempts_left"] == 3
    assert (await verify_code(client, user.headers, code)).json()["valid"] is True


async def test_malformed_code(client: Client, user: NewAccount) -> None:
    code = await sent_code(client, user)
    for bad in ("abc", "12", "12345678901", "12-34-56"):
        r = await verify_code(client, user.headers, bad)
        assert r.status_code == 400
        assert r.json() == {"ok": True, "status": 400, "message": "Invalid code", "valid": False}
    # Malformed codes are not counted against the code.
    r = await verify_code(client, user.headers, f" {code} ")
    assert r.json()["valid"] is True


async def test_form_body_as_the_csharp_client_sends_it(
    client: Client, user: NewAccount, clock: Clock
) -> None:
    r = await client.post(
        "/api/send-code",
        content="phone_number=%2B381690156360&service_name=Acme+Shop&seconds=120&test=true",
        headers={**user.headers, **FORM},
    )
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    code = data["verification_code"]
    assert data["expires"] == clock.now + 120_000
    assert data["message_text"] == f"Your verification code for Acme Shop is: {code}"
    r = await client.post(
        "/api/verify-code",
        content=f"phone_number=%2B381690156360&code={code}&test=true",
        headers={**user.headers, **FORM},
    )
    assert r.status_code == 200 and r.json()["valid"] is True


async def test_seconds_as_a_string_as_the_java_client_sends_it(
    client: Client, user: NewAccount, clock: Clock
) -> None:
    r = await client.post(
        "/api/send-code",
        content=f'{{"phone_number":"{SERBIA}","service_name":"Shop","seconds":"600"}}',
        headers={**user.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["data"]["expires"] == clock.now + 600_000


async def test_code_expires(client: Client, user: NewAccount, clock: Clock) -> None:
    code = await sent_code(client, user, seconds=60)
    clock.advance(59.999)
    assert (await verify_code(client, user.headers, wrong(code))).json()["message"] == (
        "The code is invalid. "
    )
    clock.advance(0.001)
    r = await verify_code(client, user.headers, code)
    assert r.status_code == 400
    assert r.json() == {
        "ok": True,
        "status": 400,
        "message": "The code has expired. ",
        "valid": False,
        "valid_code": code,
        "expires": clock.now,
    }
    # An expired code does not come back to life, and checking it costs no attempt.
    clock.advance(3600)
    assert (await verify_code(client, user.headers, code)).json()["message"] == (
        "The code has expired. "
    )


async def test_a_code_is_good_once(client: Client, user: NewAccount) -> None:
    code = await sent_code(client, user)
    assert (await verify_code(client, user.headers, code)).json()["valid"] is True
    r = await verify_code(client, user.headers, code)
    assert r.status_code == 409
    body = r.json()
    assert body["ok"] is False and body["valid"] is False and body["status"] == 409
    assert "already used" in body["message"]


async def test_a_new_code_replaces_the_old_one(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    first = await sent_code(client, user)
    for _ in range(3):
        assert (await verify_code(client, user.headers, wrong(first))).status_code == 400
    second = first
    while second == first:  # one chance in a million that they are the same
        clock.advance(31)
        second = await sent_code(client, user)
    r = await verify_code(client, user.headers, first)
    assert r.json()["message"] == "The code is invalid. " and r.json()["valid_code"] == second
    assert r.json()["attempts_left"] == 4  # the new code starts afresh
    assert (await verify_code(client, user.headers, second)).json()["valid"] is True
    assert len(await rows(services, verifications)) == 1


async def test_masked_mode(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    await services.verifier.set_options(user.account.id, mask_codes=True)
    r = await send_code(client, user.headers)
    data = r.json()["data"]
    assert data["verification_code"] == "******"
    assert data["message_text"] == "Your verification code is:\n******"
    # The real code goes out in the SMS, sealed in the queue until the worker opens it.
    message = await services.db.read(messages.get, data["id"], account_id=user.account.id)
    assert message is not None
    vault = CodeVault(secrets.load_or_create(None, services.settings.data_dir, "code.key"))
    text = vault.open_text(SERBIA, message.body)
    assert text is not None
    code = text.rsplit("\n", 1)[1]
    assert re.fullmatch(r"[0-9]{6}", code)
    [row] = await rows(services, verifications)
    assert row["code_sealed"] is None  # nothing that could show the code is kept

    r = await verify_code(client, user.headers, wrong(code))
    assert r.json() == {
        "ok": True,
        "status": 400,
        "message": "The code is invalid. ",
        "valid": False,
        "expires": clock.now + 600_000,
        "attempts_left": 4,
    }
    r = await verify_code(client, user.headers, code)
    assert r.json() == {
        "ok": True,
        "status": 200,
        "message": "The code is valid. ",
        "valid": True,
        "expires": clock.now + 600_000,
    }


async def test_masking_turned_on_later_hides_codes_sent_before(
    client: Client, user: NewAccount, services: Services
) -> None:
    code = await sent_code(client, user)
    await services.verifier.set_options(user.account.id, mask_codes=True)
    r = await verify_code(client, user.headers, wrong(code))
    assert "valid_code" not in r.json()


async def test_code_length_per_account(
    client: Client, user: NewAccount, services: Services
) -> None:
    await services.verifier.set_options(user.account.id, code_length=8)
    code = await sent_code(client, user)
    assert re.fullmatch(r"[0-9]{8}", code)
    assert (await verify_code(client, user.headers, code)).json()["valid"] is True
    options = await services.verifier.options(user.account.id)
    assert options.code_length == 8 and options.mask_codes is False


async def test_no_code_was_sent(client: Client, user: NewAccount) -> None:
    r = await verify_code(client, user.headers, "123456")
    assert r.status_code == 404
    body = r.json()
    assert body["ok"] is False and body["valid"] is False and body["status"] == 404
    assert "No verification code was sent" in body["message"]


async def test_codes_belong_to_one_account(
    client: Client, user: NewAccount, make_account: MakeAccount
) -> None:
    code = await sent_code(client, user)
    other = await make_account("1")
    r = await verify_code(client, other.headers, code)
    assert r.status_code == 404 and r.json()["valid"] is False
    assert (await verify_code(client, user.headers, code)).json()["valid"] is True


async def test_too_many_attempts_kill_the_code(
    client: Client, user: NewAccount, clock: Clock
) -> None:
    code = await sent_code(client, user)
    left = [
        (await verify_code(client, user.headers, wrong(code))).json()["attempts_left"]
        for _ in range(5)
    ]
    assert left == [4, 3, 2, 1, 0]
    clock.advance(10)
    r = await verify_code(client, user.headers, code)
    assert r.status_code == 429
    body = r.json()
    assert body["ok"] is False and body["valid"] is False and body["status"] == 429
    assert "Too many attempts" in body["message"]
    # A new code may be sent 30 s after the last one: that is when to come back.
    assert body["retry_after"] == 20 and r.headers["retry-after"] == "20"
    clock.advance(20)
    fresh = await sent_code(client, user)
    assert (await verify_code(client, user.headers, fresh)).json()["valid"] is True


async def test_sends_to_one_number_are_limited(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    await sent_code(client, user)
    clock.advance(5)
    r = await send_code(client, user.headers)
    assert r.status_code == 429
    body = r.json()
    assert body["ok"] is False and body["status"] == 429 and "Too many" in body["message"]
    assert body["retry_after"] == 25 and r.headers["retry-after"] == "25"
    # Refused sends cost nothing.
    assert await services.accounts.balance(user.account.id) == 9_850_000
    # Another number is another matter.
    assert (await send_code(client, user.headers, "+381690156361")).status_code == 200


async def test_not_enough_credits_stores_nothing(
    client: Client, make_account: MakeAccount, services: Services
) -> None:
    poor = await make_account("0.10")  # Serbia costs 0.15
    r = await send_code(client, poor.headers)
    assert r.status_code == 402
    body = r.json()
    assert body["ok"] is False and body["status"] == 402 and "credits" in body["message"]
    assert await services.accounts.balance(poor.account.id) == 100_000
    assert await rows(services, verifications) == []
    assert await rows(services, verification_sends) == []
    assert await services.db.read(messages.count_by_status, poor.account.id) == {}
    assert (await verify_code(client, poor.headers, "123456")).status_code == 404
    # And a failed send does not count against the send limits.
    await services.accounts.add_credits(poor.account.id, 1_000_000)
    assert (await send_code(client, poor.headers)).status_code == 200


async def test_allowed_countries(client: Client, user: NewAccount, services: Services) -> None:
    await services.verifier.set_options(user.account.id, allowed_countries=frozenset({"RS"}))
    r = await send_code(client, user.headers, US)
    assert r.status_code == 403
    body = r.json()
    assert body["ok"] is False and body["status"] == 403
    assert "United States" in body["message"] and body["country"] == "US"
    assert (await send_code(client, user.headers, SERBIA)).status_code == 200
    await services.verifier.set_options(user.account.id, allowed_countries=None)
    assert (await send_code(client, user.headers, US)).status_code == 200


async def test_codes_per_calling_code_per_hour(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    await services.verifier.set_options(user.account.id, prefix_hourly=2)
    assert (await send_code(client, user.headers, "+381690156360")).status_code == 200
    clock.advance(60)
    assert (await send_code(client, user.headers, "+381690156361")).status_code == 200
    clock.advance(60)
    r = await send_code(client, user.headers, "+381690156362")
    assert r.status_code == 429
    body = r.json()
    assert "+381" in body["message"] and body["retry_after"] == 3600 - 120
    assert (await send_code(client, user.headers, US)).status_code == 200
    clock.advance(3600 - 120)
    assert (await send_code(client, user.headers, "+381690156362")).status_code == 200


async def test_bad_keys(client: Client, user: NewAccount) -> None:
    for headers in ({"Authorization": "Bearer tg_" + "x" * 43}, {}, {"Authorization": "Basic x"}):
        r = await send_code(client, headers)
        assert r.status_code == 401
        assert r.json()["message"] == "Invalid API key or user id." and r.json()["ok"] is False
        r = await verify_code(client, headers, "123456")
        assert r.status_code == 401
        assert r.json()["message"] == "Invalid API key or user id."
        assert r.json()["valid"] is False


async def test_revoked_key_is_refused_at_once(
    client: Client, user: NewAccount, services: Services, clock: Clock
) -> None:
    code = await sent_code(client, user)  # the key is now in the auth cache
    await services.accounts.revoke_key(user.key_id)
    clock.advance(60)
    r = await send_code(client, user.headers)
    assert r.status_code == 401 and r.json()["message"] == "Invalid API key or user id."
    r = await verify_code(client, user.headers, code)
    assert r.status_code == 401 and r.json()["valid"] is False
    assert len(await rows(services, verification_sends)) == 1


async def test_invalid_phone_numbers(client: Client, user: NewAccount) -> None:
    for phone in ("not a phone", "+999123", "0690156360", "+38169015636012345"):
        r = await send_code(client, user.headers, phone)
        assert r.status_code == 400
        assert r.json()["message"] == "Invalid phone number" and r.json()["ok"] is False
        r = await verify_code(client, user.headers, "123456", phone)
        assert r.status_code == 400
        assert r.json()["message"] == "Invalid phone number" and r.json()["valid"] is False


async def test_numbers_are_normalised(client: Client, user: NewAccount) -> None:
    code = await sent_code(client, user, "+381 69 015-6360")
    assert (await verify_code(client, user.headers, code, "00381690156360")).json()["valid"]


async def test_the_code_is_not_stored_in_plain_text(
    client: Client, user: NewAccount, services: Services
) -> None:
    code = await sent_code(client, user)
    [row] = await rows(services, verifications)
    for value in row.values():
        if isinstance(value, bytes):
            assert code.encode() not in value and code.encode("utf-16-le") not in value
        else:
            assert code not in str(value)
    assert len(row["code_hash"]) == 32  # type: ignore[arg-type]


async def test_logs_carry_no_code_and_no_whole_number(
    client: Client, user: NewAccount, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    code = await sent_code(client, user, service_name="Shop")
    await verify_code(client, user.headers, wrong(code))
    await verify_code(client, user.headers, code)
    await verify_code(client, user.headers, code)  # already used
    actions = {getattr(r, "action", None) for r in caplog.records}
    assert {"otp_sent", "otp_checked"} <= actions  # the log was captured
    formatter = KeyValueFormatter("%(name)s %(message)s")
    for record in caplog.records:
        line = formatter.format(record)
        assert code not in line, line
        assert wrong(code) not in line, line
        assert "381690156360" not in line, line
        if getattr(record, "action", None) in {"otp_sent", "otp_checked"}:
            assert record.to == "+381*******60"  # type: ignore[attr-defined]
