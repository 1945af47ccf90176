"""Property-based fuzzing of the HTTP API against its own OpenAPI document (schemathesis).

For each operation the document describes, schemathesis makes requests from the document:
its coverage cases (boundary values, wrong types, missing fields, other methods and content
types, no key), then Hypothesis-generated ones: valid, invalid, valid but with real phone
numbers (so that texts reach the database), with the ids of real objects, and with a
missing or garbage API key. The rule they back: bad input gets a clear error in the
TextFlow shape and a 4xx, never a 500, a stack trace or an HTML page.

The app runs in-process on the test's event loop (its database and committer live there);
Hypothesis generates from a worker thread and hands each request to that loop. Generation
is derandomized, so every run sends the same requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from support import MakeAccount, NewAccount
from textgate.domain import keys, otp

BASE = "http://textgate"
SCHEMA_PATH = "/schema/openapi.json"

#: Every operation of the document that is fuzzed; `test_every_operation_is_fuzzed` keeps
#: this list and the document in step.
OPERATIONS = [
    "POST /api/send-sms",
    "GET /api/balance",
    "POST /api/send-code",
    "POST /api/verify-code",
    "POST /api/bulk-sms",
    "GET /api/bulk-count",
    "POST /api/bulk-count",
    "GET /api/bulk/{job_id}",
    "POST /api/bulk/{job_id}/cancel",
    "GET /api/messages/{message_id}",
    "GET /health",
    "GET /ready",
]
#: Prometheus text by design, not the TextFlow shape.
NOT_FUZZED = {"GET /metrics"}

#: Hypothesis examples per operation, by kind (the coverage cases come on top, 3 to 55 an
#: operation): bounded so that the file runs in seconds.
EXAMPLES = {"valid": 25, "invalid": 40, "real_numbers": 50, "real_ids": 5, "bad_key": 10}

#: Valid numbers in a few countries; the real-number cases put them in generated bodies.
PHONES = ["+381690156360", "+12015550123", "+4915123456789", "+447400123456"]

#: verify-code answers a wrong, expired or malformed code as TextFlow does: ok true, 400.
VERIFY_ANSWERS_OK_400 = {otp.INVALID, otp.EXPIRED, otp.MALFORMED}


def textflow_shape(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """Every answer is a JSON object with `ok`, `status` and `message`; `status` is the HTTP
    status; a 4xx is `ok: false` (but for verify-code's TextFlow answers to a wrong code);
    verify-code answers `valid` every time."""
    if case.method == "OPTIONS" and response.status_code == 204:
        # The framework's answer to OPTIONS (no body, an Allow header): not an error.
        assert response.headers.get("allow"), response.headers
        return
    ctype = response.headers.get("content-type", [""])[0]
    assert ctype.startswith("application/json"), f"not JSON: {ctype!r} {response.text[:200]!r}"
    assert "Traceback (most recent call last)" not in response.text, response.text[:500]
    body = response.json()
    assert isinstance(body, dict), f"not a JSON object: {response.text[:200]!r}"
    assert isinstance(body.get("ok"), bool), f"`ok` missing or not a bool: {body}"
    assert isinstance(body.get("message"), str) and body["message"], f"no `message`: {body}"
    assert body.get("status") == response.status_code, (
        f"`status` {body.get('status')!r} is not the HTTP status {response.status_code}: {body}"
    )
    # The route's own method: another one is answered 405 before the route is known.
    verify = case.operation.label == "POST /api/verify-code" and case.method == "POST"
    if verify:
        assert isinstance(body.get("valid"), bool), f"verify-code without `valid`: {body}"
    if 400 <= response.status_code < 500:
        textflow_400 = verify and response.status_code == 400
        if not (textflow_400 and body["message"] in VERIFY_ANSWERS_OK_400):
            assert body["ok"] is False, f"a {response.status_code} with ok true: {body}"
        if verify:
            assert body["valid"] is False, body
    if response.status_code == 200:
        assert body["ok"] is True, body


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    textflow_shape,
]


@dataclass(frozen=True)
class Known:
    """Real objects the real-id cases point at."""

    user: NewAccount
    message_id: int
    job_id: int
    #: A verification code sent to PHONES[1].
    code: str


@pytest.fixture
async def schema(client: httpx.AsyncClient) -> schemathesis.BaseSchema:
    """The document as the running app serves it."""
    r = await client.get(SCHEMA_PATH)
    assert r.status_code == 200, r.text
    return schemathesis.openapi.from_dict(r.json())


def operations(schema: schemathesis.BaseSchema) -> dict[str, schemathesis.APIOperation]:
    return {result.ok().label: result.ok() for result in schema.get_all_operations()}


async def test_every_operation_is_fuzzed(schema: schemathesis.BaseSchema) -> None:
    assert set(operations(schema)) == set(OPERATIONS) | NOT_FUZZED


async def _known(client: httpx.AsyncClient, make_account: MakeAccount) -> Known:
    user = await make_account("100000")
    sms = await client.post(
        "/api/send-sms", json={"phone_number": PHONES[0], "text": "hello"}, headers=user.headers
    )
    bulk = await client.post(
        "/api/bulk-sms", json={"phone_numbers": PHONES, "text": "hi all"}, headers=user.headers
    )
    code = await client.post(
        "/api/send-code", json={"phone_number": PHONES[1]}, headers=user.headers
    )
    for r in (sms, bulk, code):
        assert r.status_code == 200, r.text
    return Known(
        user,
        message_id=sms.json()["data"]["id"],
        job_id=bulk.json()["job_id"],
        code=code.json()["data"]["verification_code"],
    )


# --- what is sent ----------------------------------------------------------------------


def _with_auth(case: schemathesis.Case, authorization: str | None) -> schemathesis.Case:
    case.headers = {k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"}
    if authorization is not None:
        case.headers["Authorization"] = authorization
    return case


def _bad_keys(user: NewAccount) -> st.SearchStrategy[str | None]:
    printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
    return st.one_of(
        st.none(),  # no Authorization header
        printable,
        printable.map(lambda s: f"Bearer {s}"),
        st.builds(lambda: f"Bearer {keys.generate_api_key()}"),  # well formed, unknown
        st.just(f"Basic {user.key}"),
        st.just(user.key),  # the key without its scheme
    )


def _with_numbers(
    case: schemathesis.Case, numbers: list[str], code: str | None
) -> schemathesis.Case:
    """The case with real phone numbers where its body has phone fields (and, given one,
    a code that was sent)."""
    if isinstance(case.body, dict):
        body = dict(case.body)
        if "phone_number" in body:
            body["phone_number"] = numbers[0]
        if isinstance(body.get("phone_numbers"), list):
            body["phone_numbers"] = [*numbers, *body["phone_numbers"]]
        if "code" in body and code is not None:
            body["code"] = code
        case.body = body
    return case


def _strategies(
    operation: schemathesis.APIOperation, known: Known
) -> Iterator[tuple[str, st.SearchStrategy[schemathesis.Case]]]:
    raw = operation.definition.raw
    secured = bool(raw.get("security"))
    auth = {"Authorization": f"Bearer {known.user.key}"} if secured else None
    body = raw.get("requestBody")
    path_names = {p["name"] for p in raw.get("parameters", []) if p["in"] == "path"}
    yield "valid", operation.as_strategy(GenerationMode.POSITIVE, headers=auth)
    if raw.get("parameters") or body:  # else nothing can be made invalid
        yield "invalid", operation.as_strategy(GenerationMode.NEGATIVE, headers=auth)
    if body:
        yield (
            "real_numbers",
            st.builds(
                _with_numbers,
                operation.as_strategy(GenerationMode.POSITIVE, headers=auth),
                st.lists(st.sampled_from(PHONES), min_size=1, max_size=3),
                st.one_of(st.none(), st.just(known.code)),
            ),
        )
    if path_names:
        ids = {"job_id": known.job_id, "message_id": known.message_id}
        fixed = {name: ids[name] for name in path_names}
        yield "real_ids", operation.as_strategy(headers=auth, path_parameters=fixed)
    if secured:
        yield (
            "bad_key",
            st.builds(_with_auth, operation.as_strategy(), _bad_keys(known.user)),
        )


def _coverage(
    schema: schemathesis.BaseSchema, operation: schemathesis.APIOperation, known: Known
) -> Iterator[schemathesis.Case]:
    """schemathesis' coverage cases, with our key where they carry one (their own is empty)."""
    modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
    config = schema.config.generation_for(operation=operation)
    for case in schema.iter_coverage_cases(
        operation, generation_modes=modes, generation_config=config
    ):
        if any(k.lower() == "authorization" for k in case.headers or {}):
            _with_auth(case, f"Bearer {known.user.key}")
        yield case


def _hypothesis(strategy: st.SearchStrategy[Any], n: int, test: Callable[[Any], None]) -> None:
    @hypothesis.settings(
        max_examples=n,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def run(case: Any) -> None:
        test(case)

    run()


def _check_bad_key(response: httpx.Response) -> None:
    """A request without a usable key is refused as such, whatever else it holds."""
    assert response.status_code in (400, 401), response.text
    assert "API key" in response.json()["message"], response.text


@pytest.mark.parametrize("label", OPERATIONS)
async def test_fuzz(
    label: str,
    schema: schemathesis.BaseSchema,
    client: httpx.AsyncClient,
    make_account: MakeAccount,
) -> None:
    known = await _known(client, make_account)
    operation = operations(schema)[label]
    loop = asyncio.get_running_loop()
    sent: dict[str, int] = {}

    async def call(case: schemathesis.Case) -> httpx.Response:
        # The bytes schemathesis would send over `requests`, sent to the app over ASGI.
        prepared = requests.Request(**case.as_transport_kwargs(base_url=BASE)).prepare()
        return await client.request(
            prepared.method or "GET",
            prepared.url or BASE,
            headers=dict(prepared.headers),
            content=prepared.body,
        )

    def send(kind: str, case: schemathesis.Case) -> None:
        response = asyncio.run_coroutine_threadsafe(call(case), loop).result(timeout=60)
        sent[kind] = sent.get(kind, 0) + 1
        case.validate_response(response, checks=CHECKS)
        if kind == "bad_key":
            _check_bad_key(response)

    def fuzz() -> None:
        for case in _coverage(schema, operation, known):
            send("coverage", case)
        for kind, strategy in _strategies(operation, known):
            _hypothesis(strategy, EXAMPLES[kind], lambda case, kind=kind: send(kind, case))

    await asyncio.to_thread(fuzz)  # the loop stays free to serve the requests
    assert sent["coverage"] > 0 and sent["valid"] > 0, sent
