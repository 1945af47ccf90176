"""An HTTP server on 127.0.0.1 that speaks the SMS Gateway for Android app's API (local
server mode): the protocol peer of the Android provider.

It checks Basic auth and the message body the way the app does (`textMessage` or the older
`message`, never both; `phoneNumbers`; `simNumber` 1-3), records every request, answers 202
with the message's state, keeps the webhooks registered with it, and builds the signed
webhooks the phone would send. Signing is written here from the app's documentation
(docs/features/webhooks.md of android-sms-gateway/docs-web), not taken from textgate.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any

from http_peers import Answer, HttpPeer, Seen

USERNAME = "sms"
PASSWORD = "phone-pass-0123"
SIGNING_KEY = "phone-signing-key-0123456789"


def android_signature(key: str, body: bytes, timestamp: str) -> str:
    """The app's X-Signature: HMAC-SHA256(key, raw body + X-Timestamp), in hex."""
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


class AndroidPeer(HttpPeer):
    def __init__(self) -> None:
        super().__init__()
        self.username = USERNAME
        self.password = PASSWORD
        self._ids = (f"msg{n:05d}AbCdEfGhIjKlMn" for n in itertools.count(1))
        #: message id -> the body it was sent with.
        self.messages: dict[str, dict[str, Any]] = {}
        #: message id -> state (Pending until a test moves it).
        self.states: dict[str, str] = {}
        #: webhook id -> {"id", "url", "event"}.
        self.webhooks: dict[str, dict[str, str]] = {}

    def provider_table(self, **overrides: Any) -> dict[str, Any]:
        return {
            "type": "android",
            "base_url": self.url,
            "username": self.username,
            "password": self.password,
            "timeout": 2.0,
            "probe_interval": 0.05,
            **overrides,
        }

    def submits(self) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.method == "POST" and s.path == "/message"]

    def answer(self, request: Seen) -> Answer:
        if request.basic_auth != (self.username, self.password):
            return Answer(401, {"message": "Unauthorized"})
        if request.path == "/webhooks":
            return self._webhooks(request)
        if request.path == "/message" and request.method == "POST":
            return self._send(request)
        if request.path.startswith("/message/") and request.method == "GET":
            message_id = request.path.removeprefix("/message/")
            if message_id not in self.states:
                return Answer(404, {"message": "Message not found"})
            return Answer(200, self._state(message_id))
        return Answer(404, {"message": "Not Found"})

    def _webhooks(self, request: Seen) -> Answer:
        if request.method == "GET":
            return Answer(200, list(self.webhooks.values()))  # type: ignore[arg-type]
        hook = json.loads(request.body)
        if hook.get("event") not in ("sms:sent", "sms:delivered", "sms:failed", "sms:received"):
            return Answer(400, {"message": "invalid event"})
        hook_id = hook.get("id") or f"hook{len(self.webhooks)}"
        self.webhooks[hook_id] = {"id": hook_id, "url": hook["url"], "event": hook["event"]}
        return Answer(201, self.webhooks[hook_id])

    def _send(self, request: Seen) -> Answer:
        try:
            body = json.loads(request.body)
        except ValueError:
            return Answer(400, {"message": "Invalid JSON"})
        texts = [k for k in ("textMessage", "message", "dataMessage") if k in body]
        if len(texts) != 1:
            return Answer(400, {"message": "exactly one of textMessage, message is required"})
        numbers = body.get("phoneNumbers")
        if not isinstance(numbers, list) or not numbers:
            return Answer(400, {"message": "phoneNumbers is required"})
        for number in numbers:
            if not (isinstance(number, str) and number.startswith("+") and number[1:].isdigit()):
                return Answer(400, {"message": f"invalid phone number {number}"})
        sim = body.get("simNumber")
        if sim is not None and sim not in (1, 2, 3):
            return Answer(400, {"message": "simNumber must be 1-3"})
        scripted = self._scripted()
        if scripted is not None:
            return scripted
        message_id = body.get("id") or next(self._ids)
        self.messages[message_id] = body
        self.states[message_id] = "Pending"
        return Answer(202, self._state(message_id))

    def _state(self, message_id: str) -> dict[str, Any]:
        state = self.states[message_id]
        return {
            "id": message_id,
            "state": state,
            "isHashed": False,
            "isEncrypted": False,
            "recipients": [
                {"phoneNumber": number, "state": state, "error": None}
                for number in self.messages[message_id]["phoneNumbers"]
            ],
        }

    def message_ids(self) -> list[str]:
        with self._lock:
            return list(self.messages)

    def webhook(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        key: str | None = SIGNING_KEY,
        timestamp: int | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the webhook the phone would send, signed with `key`."""
        body = json.dumps(
            {
                "deviceId": "ffffffffceb0b1db0000018e937c815b",
                "event": event,
                "id": "Ey6ECgOkVVFjz3CL48B8C",
                "payload": payload,
                "webhookId": f"textgate-hook-{event}",
            }
        ).encode()
        headers = {"Content-Type": "application/json"}
        if key is not None:
            stamp = str(int(time.time()) if timestamp is None else timestamp)
            headers["X-Timestamp"] = stamp
            headers["X-Signature"] = android_signature(key, body, stamp)
        return body, headers

    def delivered(self, message_id: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            self.states[message_id] = "Delivered"
            to = self.messages[message_id]["phoneNumbers"][0]
        payload = {
            "messageId": message_id,
            "phoneNumber": to,
            "simNumber": None,
            "deliveredAt": "2026-11-30T15:46:11.000+01:00",
        }
        return self.webhook("sms:delivered", payload, **kw)

    def failed(self, message_id: str, reason: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        with self._lock:
            self.states[message_id] = "Failed"
            to = self.messages[message_id]["phoneNumbers"][0]
        payload = {
            "messageId": message_id,
            "phoneNumber": to,
            "simNumber": 1,
            "failedAt": "2026-11-30T15:46:11.000+01:00",
            "reason": reason,
        }
        return self.webhook("sms:failed", payload, **kw)

    def received(self, sender: str, text: str, **kw: Any) -> tuple[bytes, dict[str, str]]:
        payload = {
            "messageId": "abc123",
            "message": text,
            "phoneNumber": sender,
            "simNumber": 1,
            "receivedAt": "2026-11-30T15:46:11.000+01:00",
        }
        return self.webhook("sms:received", payload, **kw)
