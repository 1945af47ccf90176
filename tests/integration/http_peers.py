"""HTTP servers on 127.0.0.1 that speak Twilio's and Vonage's SMS APIs: the protocol peers of
the HTTP providers, as the node-smpp server is the SMPP provider's.

Each peer checks credentials and required fields the way the real API does, records every
request, answers as the API documents (or as a test scripts it), and builds the signed
callbacks the real service would send. Signing is written here on its own, from the
providers' documentation, not taken from textgate.

A peer can go down (its listening socket and every open connection closed) and come up
again on the same port, to test outages.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

ACCOUNT_SID = "AC" + "0123456789abcdef" * 2
AUTH_TOKEN = "twilio-auth-token-0123456789abcd"
API_KEY_SID = "SK" + "fedcba9876543210" * 2
API_KEY_SECRET = "twilio-api-key-secret"
VONAGE_KEY = "a1b2c3d4"
VONAGE_SECRET = "VonageSecret123"


@dataclass(frozen=True)
class Seen:
    """One request a peer got."""

    method: str
    path: str
    query: dict[str, str]
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes
    #: time.monotonic() when it came.
    at: float = field(default_factory=time.monotonic)

    @property
    def form(self) -> dict[str, str]:
        if self.headers.get("content-type", "").startswith("application/json"):
            return {k: str(v) for k, v in json.loads(self.body).items()}
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    @property
    def basic_auth(self) -> tuple[str, str] | None:
        value = self.headers.get("authorization", "")
        if not value.lower().startswith("basic "):
            return None
        user, _, password = base64.b64decode(value[6:]).decode().partition(":")
        return user, password


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class HttpPeer:
    """A threaded HTTP/1.1 server (keep-alive, so clients pool connections) whose requests
    go to `answer`."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        #: Answers given to the next submits, in order, before the peer's own rules.
        self.script: list[Answer] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, request: Seen) -> Answer:
        raise NotImplementedError

    def submits(self) -> list[Seen]:
        raise NotImplementedError

    def up(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with peer._lock:
                    peer._connections.add(self.connection)

            def finish(self) -> None:
                with peer._lock:
                    peer._connections.discard(self.connection)
                try:
                    super().finish()
                except OSError:
                    pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    method=self.command,
                    path=parts.path,
                    query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with peer._lock:
                    peer.seen.append(seen)
                    answer = peer.answer(seen)
                data = json.dumps(answer.body).encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        """Stops listening and closes every open connection (as a crashed server would)."""
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
            self._connections.clear()
        if self._thread is not None:
            self._thread.join(5)
        self._server = None

    def __enter__(self) -> Self:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def _scripted(self) -> Answer | None:
        return self.script.pop(0) if self.script else None


# --- Twilio ------------------------------------------------------------------------------


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's documented request signature: HMAC-SHA1 over the URL and the POST
    parameters sorted by name, each name followed by its value; base64."""
    payload = url
    for name, value in sorted(params):
        payload += name + value
    mac = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


class TwilioPeer(HttpPeer):
    def __init__(self) -> None:
        super().__init__()
        self.account_sid = ACCOUNT_SID
        self.auth_token = AUTH_TOKEN
        self.api_keys = {API_KEY_SID: API_KEY_SECRET}
        #: `To` -> (HTTP status, Twilio error code, message) refusing every message to it.
        self.refuse: dict[str, tuple[int, int, str]] = {}
        self._sids = (f"SM{n:032x}" for n in itertools.count(0xA000))
        #: sid -> the form of the message it was given for.
        self.messages: dict[str, dict[str, str]] = {}

    def provider_table(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "twilio",
            "account_sid": self.account_sid,
            "auth_token": self.auth_token,
            "from": "+15005550006",
            "base_url": self.url,
            "timeout": 2.0,
            "probe_interval": 0.05,
            **overrides,
        }

    def submits(self) -> list[Seen]:
        with self._lock:
            return [
                s for s in self.seen if s.method == "POST" and s.path.endswith("/Messages.json")
            ]

    def _authorized(self, request: Seen) -> bool:
        auth = request.basic_auth
        if auth is None:
            return False
        user, password = auth
        if user == self.account_sid:
            return hmac.compare_digest(password, self.auth_token)
        return user in self.api_keys and hmac.compare_digest(password, self.api_keys[user])

    def answer(self, request: Seen) -> Answer:
        base = f"/2010-04-01/Accounts/{self.account_sid}"
        if not self._authorized(request):
            return _twilio_error(401, 20003, "Authenticate")
        if request.method == "GET" and request.path == f"{base}.json":
            return Answer(200, {"sid": self.account_sid, "status": "active"})
        if request.method != "POST" or request.path != f"{base}/Messages.json":
            return _twilio_error(404, 20404, "The requested resource was not found")
        form = request.form
        if not form.get("To"):
            return _twilio_error(400, 21604, "A 'To' phone number is required.")
        if not form.get("Body"):
            return _twilio_error(400, 21602, "Message body is required.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        if form["To"] in self.refuse:
            status, code, message = self.refuse[form["To"]]
            return _twilio_error(status, code, message)
        sid = next(self._sids)
        self.messages[sid] = form
        return Answer(
            201,
            {
                "sid": sid,
                "account_sid": self.account_sid,
                "to": form["To"],
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "body": form["Body"],
                "status": "accepted" if form.get("MessagingServiceSid") else "queued",
                "num_segments": "1",
                "direction": "outbound-api",
                "api_version": "2010-04-01",
                "error_code": None,
                "error_message": None,
                "uri": f"{base}/Messages/{sid}.json",
            },
        )

    def status_callback(
        self, sid: str, status: str, *, error_code: str | None = None, token: str | None = None
    ) -> tuple[str, list[tuple[str, str]], dict[str, str]]:
        """The status callback Twilio would POST for `sid`: (URL, form, headers), signed
        with `token` (default: the account's auth token)."""
        with self._lock:
            form = self.messages[sid]
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", "2010-04-01"),
            ("From", form.get("From", "")),
            ("MessageSid", sid),
            ("MessageStatus", status),
            ("SmsSid", sid),
            ("SmsStatus", status),
            ("To", form["To"]),
        ]
        if error_code is not None:
            params.append(("ErrorCode", error_code))
        url = form["StatusCallback"]
        signature = twilio_signature(token or self.auth_token, url, params)
        return url, params, {"X-Twilio-Signature": signature}

    def incoming(
        self,
        url: str,
        from_number: str,
        to: str,
        body: str,
        *,
        token: str | None = None,
        segments: int = 1,
    ) -> tuple[list[tuple[str, str]], dict[str, str]]:
        """The incoming-message webhook Twilio would POST to `url` (the number's "A message
        comes in" URL): (form, headers), signed with `token` (default: the auth token)."""
        with self._lock:
            sid = next(self._sids)
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", "2010-04-01"),
            ("Body", body),
            ("From", from_number),
            ("FromCountry", "RS"),
            ("MessageSid", sid),
            ("MessagingServiceSid", ""),
            ("NumMedia", "0"),
            ("NumSegments", str(segments)),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", to),
        ]
        signature = twilio_signature(token or self.auth_token, url, params)
        return params, {"X-Twilio-Signature": signature}


def _twilio_error(status: int, code: int, message: str) -> Answer:
    return Answer(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def twilio_error(status: int, code: int, message: str, **headers: str) -> Answer:
    """A Twilio error answer, for `script`."""
    answer = _twilio_error(status, code, message)
    answer.headers.update({k.replace("_", "-"): v for k, v in headers.items()})
    return answer


# --- Vonage ------------------------------------------------------------------------------

_GSM_EXTENSION = set("^{}\\[~]|€\f")


def vonage_signature(secret: str, params: dict[str, str], method: str = "md5hash") -> str:
    """Vonage's documented signature of a request's parameters (`sig` left out): sorted,
    "&key=value" each, with "&" and "=" in values replaced by "_"; MD5 of that with the
    secret appended (md5hash), or an HMAC keyed with the secret."""
    text = ""
    for key in sorted(k for k in params if k != "sig"):
        text += "&" + key + "=" + params[key].replace("&", "_").replace("=", "_")
    if method == "md5hash":
        return hashlib.md5((text + secret).encode("utf-8")).hexdigest()
    digest = {"md5": hashlib.md5, "sha1": hashlib.sha1, "sha256": hashlib.sha256}[method]
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), digest).hexdigest()


def vonage_parts(text: str, kind: str) -> int:
    """How many parts the SMS API splits a text into."""
    if kind == "unicode":
        units = len(text.encode("utf-16-be")) // 2
        return 1 if units <= 70 else math.ceil(units / 67)
    septets = sum(2 if ch in _GSM_EXTENSION else 1 for ch in text)
    return 1 if septets <= 160 else math.ceil(septets / 153)


class VonagePeer(HttpPeer):
    def __init__(self) -> None:
        super().__init__()
        self.api_key = VONAGE_KEY
        self.api_secret = VONAGE_SECRET
        #: `to` (digits) -> the status every part of a message to it gets.
        self.refuse: dict[str, str] = {}
        self._ids = (f"1A{n:014X}" for n in itertools.count(0x10000))
        #: message-id -> the form of the message that part belongs to.
        self.parts: dict[str, dict[str, str]] = {}

    def provider_table(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "vonage",
            "api_key": self.api_key,
            "api_secret": self.api_secret,
            "from": "TextGate",
            "base_url": self.url,
            "timeout": 2.0,
            "probe_interval": 0.05,
            **overrides,
        }

    def submits(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "POST" and s.path == "/sms/json"]

    def answer(self, request: Seen) -> Answer:
        if request.path == "/account/get-balance":
            auth = request.basic_auth or (
                request.query.get("api_key", ""),
                request.query.get("api_secret", ""),
            )
            if auth != (self.api_key, self.api_secret):
                return Answer(
                    401, {"error-code": "401", "error-code-label": "authentication failed"}
                )
            return Answer(200, {"value": 12.5, "autoReload": False})
        if request.path != "/sms/json" or request.method != "POST":
            return Answer(404, {"title": "Not found"})
        form = request.form
        if (form.get("api_key"), form.get("api_secret")) != (self.api_key, self.api_secret):
            return _vonage_refusal("4", "Bad Credentials")
        for name in ("from", "to", "text"):
            if not form.get(name):
                return _vonage_refusal("2", f"Missing {name} param")
        if not form["to"].isdigit():
            return _vonage_refusal("3", "Invalid to param")
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        count = vonage_parts(form["text"], form.get("type", "text"))
        status = self.refuse.get(form["to"], "0")
        if status != "0":
            return _vonage_refusal(status, "Refused", count=count)
        messages = []
        for _ in range(count):
            message_id = next(self._ids)
            self.parts[message_id] = form
            messages.append(
                {
                    "to": form["to"],
                    "message-id": message_id,
                    "status": "0",
                    "remaining-balance": "12.34560000",
                    "message-price": "0.03330000",
                    "network": "22001",
                }
            )
        return Answer(200, {"message-count": str(count), "messages": messages})

    def receipt(
        self,
        message_id: str,
        status: str,
        *,
        err_code: str = "0",
        secret: str | None = None,
        method: str = "md5hash",
        timestamp: int | None = None,
    ) -> dict[str, str]:
        """The delivery receipt Vonage would send for one part, signed with `secret` when
        given (as Vonage signs webhooks once a signature secret is set)."""
        with self._lock:
            form = self.parts[message_id]
        now = int(time.time()) if timestamp is None else timestamp
        params = {
            "msisdn": form["to"],
            "to": form["from"],
            "network-code": "22001",
            "messageId": message_id,
            "price": "0.03330000",
            "status": status,
            "scts": time.strftime("%y%m%d%H%M", time.gmtime(now)),
            "err-code": err_code,
            "api-key": self.api_key,
            "client-ref": form.get("client-ref", ""),
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        }
        if secret is not None:
            params["timestamp"] = str(now)
            params["nonce"] = "6c8e1b2f-a=b&c"
            params["sig"] = vonage_signature(secret, params, method)
        return params

    def inbound(
        self,
        msisdn: str,
        to: str,
        text: str,
        *,
        secret: str | None = None,
        concat: tuple[int, int, int] | None = None,
        kind: str = "text",
        timestamp: int | None = None,
    ) -> dict[str, str]:
        """The inbound SMS webhook Vonage would send (numbers as digits, no "+"); one part
        of a long message with `concat` (reference, total, part); signed with `secret`."""
        now = int(time.time()) if timestamp is None else timestamp
        with self._lock:
            message_id = next(self._ids)
        params = {
            "msisdn": msisdn.removeprefix("+"),
            "to": to.removeprefix("+"),
            "messageId": message_id,
            "text": text,
            "type": kind,
            "keyword": text.split(" ", 1)[0].upper() if text else "",
            "api-key": self.api_key,
            "message-timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now)),
        }
        if concat is not None:
            reference, total, part = concat
            params.update(
                {
                    "concat": "true",
                    "concat-ref": str(reference),
                    "concat-total": str(total),
                    "concat-part": str(part),
                }
            )
        if secret is not None:
            params["timestamp"] = str(now)
            params["nonce"] = "0f3b6a1e-inbound"
            params["sig"] = vonage_signature(secret, params)
        return params

    def message_ids(self) -> Iterator[str]:
        with self._lock:
            return iter(list(self.parts))


def _vonage_refusal(status: str, text: str, *, count: int = 1) -> Answer:
    messages = [{"status": status, "error-text": text} for _ in range(count)]
    return Answer(200, {"message-count": str(count), "messages": messages})


def vonage_answer(*statuses: str, text: str = "Refused") -> Answer:
    """An SMS API answer with these part statuses ("0" parts get an id), for `script`."""
    messages: list[dict[str, str]] = []
    for n, status in enumerate(statuses):
        part = {"status": status}
        if status == "0":
            part["message-id"] = f"SCRIPTED{n:08d}"
        else:
            part["error-text"] = text
        messages.append(part)
    return Answer(200, {"message-count": str(len(statuses)), "messages": messages})
