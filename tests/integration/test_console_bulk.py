"""The console's bulk pages over ASGI (SQLite and PostgreSQL): a CSV upload and its preview,
starting a job (paid as the API's bulk-sms is), its progress as JSON, cancelling it,
ownership, CSRF, and bad files answered with HTML 4xx pages."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable

import httpx
import pytest

from console_forms import csrf_in, csrf_of, open_account
from support import MakeAccount
from textgate.console.bulk_pages import ConsoleSender
from textgate.delivery.console import ConsoleProvider
from textgate.delivery.router import Route, Router
from textgate.domain import money
from textgate.domain.bulk import Reason
from textgate.domain.retry import RetryPolicy
from textgate.services import opt_outs
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store.records import Account
from textgate.worker.dispatcher import Dispatcher

Client = httpx.AsyncClient
HIDDEN = re.compile(r'<input type="hidden" name="(numbers|text|start_token)" value="([^"]*)">')
MAX_FILE = 64 * 1024
MAX_NUMBERS = 100
OPTED_OUT = "+381690000007"
#: name, number: 3 to send (RS 0.15, US 0.01, RS 0.15), then invalid, duplicate, opted out.
MIXED_CSV = (
    "Name,Phone Number,City\r\n"
    "Ana,+381 69 015 6360,Belgrade\r\n"
    "Bob,+12015550123,Newark\r\n"
    "Cid,not a number,Nowhere\r\n"
    "Dan,+381690156360,Novi Sad\r\n"
    "Eve,+381690000001,Nis\r\n"
    f"Fay,{OPTED_OUT},Subotica\r\n"
    "Gus,,Kragujevac\r\n"
)
MIXED_PRICE = money.to_micros("0.31")


@pytest.fixture
def settings(database_url: str, settings_for: Callable[..., Settings]) -> Settings:
    """Small limits, so the tests can go past them."""
    return settings_for(database_url, bulk_max_body_bytes=MAX_FILE, bulk_max_recipients=MAX_NUMBERS)


async def signed_up(client: Client, services: Services, credits: str = "10") -> Account:
    """A console account, signed in, with `credits` on top of the sign-up credit; OPTED_OUT
    opted out of its bulk messages."""
    email = "bulk@example.com"
    await open_account(client, email)
    account = await services.accounts.find(email)
    await services.accounts.add_credits(account.id, money.to_micros(credits))
    await opt_outs.add(services.db, account.id, OPTED_OUT)
    return await services.accounts.get(account.id)


async def upload(
    client: Client,
    content: bytes | str,
    text: str = "Sale!\r\nToday only",
    *,
    filename: str = "numbers.csv",
    csrf: str | None = None,
) -> httpx.Response:
    token = await csrf_of(client, "/console/bulk") if csrf is None else csrf
    data = content.encode() if isinstance(content, str) else content
    return await client.post(
        "/console/bulk/preview",
        data={"csrf": token, "text": text} if token else {"text": text},
        files={"file": (filename, data, "text/csv")},
    )


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in HIDDEN.findall(page)}


def stat(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}"[^>]*>([^<]*)<', page)
    assert found is not None, element_id
    return found.group(1).strip()


async def start_from(client: Client, preview: httpx.Response) -> int:
    fields = hidden_fields(preview.text)
    assert set(fields) == {"numbers", "text", "start_token"}
    r = await client.post("/console/bulk/start", data={"csrf": csrf_in(preview), **fields})
    assert r.status_code == 303, r.text
    found = re.fullmatch(r"/console/bulk/(\d+)", r.headers["location"])
    assert found is not None
    return int(found.group(1))


def is_html(r: httpx.Response) -> bool:
    return r.headers["content-type"].startswith("text/html")


async def test_preview_counts_and_prices_a_mixed_csv(client: Client, services: Services) -> None:
    account = await signed_up(client, services)
    r = await upload(client, MIXED_CSV)
    assert r.status_code == 200, r.text
    page = r.text
    assert stat(page, "accepted") == "3"
    assert stat(page, "rejected") == "3"
    assert stat(page, "price") == "0.31"
    balance = account.credits_micros
    assert stat(page, "balance") == money.format_credits(balance)
    assert stat(page, "balance-after") == money.format_credits(balance - MIXED_PRICE)
    assert "6 from column 2 (“Phone Number”)" in html.unescape(page)
    assert "1 (gsm7, 16 characters)" in stat(page, "segments")  # "Sale!\nToday only"
    reasons = re.findall(r"<li>([a-z ]+): <strong>(\d+)</strong></li>", page)
    assert reasons == [("invalid", "1"), ("duplicate", "1"), ("opted out", "1")]
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", page)
    assert [(row, number) for row, number, _ in rows] == [
        ("4", "not a number"),
        ("5", "+381690156360"),
        ("7", OPTED_OUT),
    ]
    assert rows[1][2] == "duplicate" and rows[2][2] == "opted out"
    regions = re.findall(r"<tr><td>([A-Z]{2})</td><td>(\d+)</td><td>([\d.]+)</td>", page)
    assert regions == [("RS", "2", "0.15"), ("US", "1", "0.01")]
    # A preview charges and stores nothing.
    assert await services.accounts.balance(account.id) == balance
    assert "No bulk jobs yet" in (await client.get("/console/bulk")).text


async def test_start_charges_the_job_and_checks_everything_again(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services)
    preview = await upload(client, MIXED_CSV)
    balance = account.credits_micros
    job_id = await start_from(client, preview)
    assert await services.accounts.balance(account.id) == balance - MIXED_PRICE
    job = await services.bulk.job(account.id, job_id)
    assert job.recipients == 3 and job.pending == 3
    assert job.price_micros == MIXED_PRICE
    assert job.body == "Sale!\nToday only"  # the browser's CR LF, as typed
    assert job.rejected == {Reason.INVALID: 1, Reason.DUPLICATE: 1, Reason.OPTED_OUT: 1}
    page = await client.get(f"/console/bulk/{job_id}")
    assert page.status_code == 200
    assert stat(page.text, "count-pending") == "3" and stat(page.text, "state") == "running"
    listing = (await client.get("/console/bulk")).text
    assert f'href="/console/bulk/{job_id}"' in listing and "Sale!" in listing

    # The preview is not trusted: a number that opted out since is skipped at the start,
    # and the job costs what the server finds.
    again = await upload(client, MIXED_CSV)
    await opt_outs.add(services.db, account.id, "+12015550123")
    second = await start_from(client, again)
    job2 = await services.bulk.job(account.id, second)
    assert job2.recipients == 2 and job2.price_micros == money.to_micros("0.30")
    assert job2.rejected[Reason.OPTED_OUT] == 2
    assert await services.accounts.balance(account.id) == balance - MIXED_PRICE - job2.price_micros


async def test_start_refuses_what_the_account_cannot_pay_and_tampered_numbers(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services, credits="0")
    many = "\n".join(f"+38169{i:07d}" for i in range(10))  # 1.50, the balance is 0.10
    preview = await upload(client, many)
    assert preview.status_code == 200
    assert "Not enough credits" in preview.text and 'id="start"' not in preview.text
    token = await csrf_of(client, "/console/bulk")
    numbers = '["' + '","'.join(many.split("\n")) + '"]'
    once = "t" * 32
    r = await client.post(
        "/console/bulk/start",
        data={"csrf": token, "numbers": numbers, "text": "Hi", "start_token": once},
    )
    assert r.status_code == 402 and is_html(r) and "Not enough credits" in r.text
    tampered = await client.post(
        "/console/bulk/start",
        data={"csrf": token, "numbers": "[1, 2]", "text": "Hi", "start_token": once},
    )
    assert tampered.status_code == 400 and is_html(tampered)
    assert "upload the file again" in tampered.text
    assert await services.accounts.balance(account.id) == account.credits_micros
    assert "No bulk jobs yet" in (await client.get("/console/bulk")).text


async def test_progress_json_follows_the_worker_to_the_end(
    client: Client, services: Services
) -> None:
    await signed_up(client, services)
    job_id = await start_from(client, await upload(client, MIXED_CSV))
    r = await client.get(f"/console/bulk/{job_id}/progress")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    assert r.headers["cache-control"] == "no-store"
    before = r.json()
    assert before["state"] == "running"
    assert (before["recipients"], before["done"], before["pending"]) == (3, 0, 3)
    assert before["percent"] == 0 and before["price"] == "0.31"

    provider = ConsoleProvider(stream=io.StringIO())
    router = Router({provider.name: provider}, [Route(providers=(provider.name,), prefix="+")])
    worker = Dispatcher(services.db, router, policy=RetryPolicy(max_attempts=3), rand=lambda: 0.5)
    assert await worker.run_once() == 3
    after = (await client.get(f"/console/bulk/{job_id}/progress")).json()
    assert after["state"] == "finished"
    assert (after["done"], after["pending"], after["submitted"], after["percent"]) == (3, 0, 3, 100)
    # Without JavaScript the page shows the same counts.
    page = (await client.get(f"/console/bulk/{job_id}")).text
    assert stat(page, "count-submitted") == "3" and stat(page, "state") == "finished"
    assert 'id="cancel-form"' not in page
    listed = (await client.get("/console/bulk")).text
    assert re.search(rf'id="job-{job_id}">.*?finished', listed, re.S)


async def test_cancel_credits_back_and_cannot_happen_twice(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services)
    job_id = await start_from(client, await upload(client, MIXED_CSV))
    assert await services.accounts.balance(account.id) == account.credits_micros - MIXED_PRICE
    token = await csrf_of(client, f"/console/bulk/{job_id}")
    r = await client.post(f"/console/bulk/{job_id}/cancel", data={"csrf": token})
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/bulk/{job_id}?done=cancelled"
    page = await client.get(r.headers["location"])
    assert "Job cancelled: 3 recipients taken out of the queue, 0.31 credits back" in page.text
    assert stat(page.text, "count-cancelled") == "3" and stat(page.text, "refunded") == "0.31"
    assert await services.accounts.balance(account.id) == account.credits_micros
    progress = (await client.get(f"/console/bulk/{job_id}/progress")).json()
    assert progress["state"] == "cancelled" and progress["cancelled"] == 3
    again = await client.post(f"/console/bulk/{job_id}/cancel", data={"csrf": token})
    assert again.status_code == 409 and is_html(again) and "already cancelled" in again.text
    assert await services.accounts.balance(account.id) == account.credits_micros


async def test_another_accounts_job_answers_404(
    client: Client, services: Services, make_account: MakeAccount
) -> None:
    other = await make_account()
    r = await client.post(
        "/api/bulk-sms",
        json={"phone_numbers": ["+381690156360"], "text": "theirs"},
        headers=other.headers,
    )
    assert r.status_code == 200, r.text
    theirs = int(r.json()["job_id"])
    await signed_up(client, services)
    token = await csrf_of(client, "/console/bulk")
    for path in (f"/console/bulk/{theirs}", f"/console/bulk/{theirs}/progress"):
        r = await client.get(path)
        assert r.status_code == 404 and is_html(r), path
    cancel = await client.post(f"/console/bulk/{theirs}/cancel", data={"csrf": token})
    assert cancel.status_code == 404 and is_html(cancel)
    job = await services.bulk.job(other.account.id, theirs)
    assert job.cancelled_at is None and job.pending == 1
    assert "theirs" not in (await client.get("/console/bulk")).text
    assert (await client.get("/console/bulk/99999999999999999999")).status_code == 404


async def test_posts_without_csrf_are_refused(client: Client, services: Services) -> None:
    account = await signed_up(client, services)
    preview = await upload(client, MIXED_CSV, csrf="")
    assert preview.status_code == 403 and is_html(preview)
    forged = await upload(client, MIXED_CSV, csrf="made-up")
    assert forged.status_code == 403
    good = await upload(client, MIXED_CSV)
    fields = hidden_fields(good.text)
    start = await client.post("/console/bulk/start", data=fields)
    assert start.status_code == 403 and is_html(start)
    assert "No bulk jobs yet" in (await client.get("/console/bulk")).text
    job_id = await start_from(client, good)
    cancel = await client.post(f"/console/bulk/{job_id}/cancel", data={"csrf": "made-up"})
    assert cancel.status_code == 403
    assert (await services.bulk.job(account.id, job_id)).cancelled_at is None


async def test_bad_files_answer_html_4xx(client: Client, services: Services) -> None:
    account = await signed_up(client, services)
    cases: list[tuple[bytes | str, int, str]] = [
        (b"", 400, "The file is empty"),
        (b"\n \n", 400, "The file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 400, "not a CSV text file"),
        (b"PK\x03\x04\x14\x00\x06\x00", 400, "not a CSV text file"),
        (b"+381690156360\n" * (MAX_FILE // 14 + 1), 413, "too large: at most 0.0625 MB"),
        ("\n".join(f"+38169{i:07d}" for i in range(MAX_NUMBERS + 1)), 400, "more than 100"),
        ("hello\nworld\nfoo\n", 400, "Nothing to send"),
    ]
    for content, status, says in cases:
        r = await upload(client, content)
        assert r.status_code == status, (content[:20], r.text)
        assert is_html(r) and says in html.unescape(r.text), (content[:20], r.text)
    # Over the request's own limit: refused before it is read.
    huge = await upload(client, b"x" * (MAX_FILE + 2 * 1024 * 1024))
    assert huge.status_code == 413 and is_html(huge) and "too large" in huge.text
    no_file = await upload(client, "+381690156360\n", filename="")
    assert no_file.status_code == 400 and "Choose a CSV file" in no_file.text
    no_text = await upload(client, "+381690156360\n", text="")
    assert no_text.status_code == 400 and "text is empty" in no_text.text
    assert 'name="file"' in no_text.text  # the upload form again
    token = await csrf_of(client, "/console/bulk")
    boundary = "b0undary"
    raw = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n{token}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\n'
        ).encode()
        + b"\xff\xfe not UTF-8\r\n"
        + f"--{boundary}--\r\n".encode()
    )
    not_utf8 = await client.post(
        "/console/bulk/preview",
        content=raw,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert not_utf8.status_code == 400 and is_html(not_utf8), not_utf8.text
    assert await services.accounts.balance(account.id) == account.credits_micros


async def test_jobs_are_listed_newest_first_a_page_at_a_time(
    client: Client, services: Services
) -> None:
    account = await signed_up(client, services)
    sender = ConsoleSender(account.id)
    ids = [
        (await services.bulk.start(sender, [f"+1201{2_000_000 + i}"], f"job {i}")).job_id
        for i in range(26)
    ]
    first = (await client.get("/console/bulk")).text
    shown = [int(i) for i in re.findall(r'<tr id="job-(\d+)">', first)]
    assert shown == sorted(ids, reverse=True)[:25]
    assert 'href="/console/bulk?page=2"' in first
    second = (await client.get("/console/bulk?page=2")).text
    assert re.findall(r'<tr id="job-(\d+)">', second) == [str(min(ids))]
    assert 'rel="next"' not in second
