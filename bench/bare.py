"""The baseline: a bare Litestar POST route served by granian exactly as textgate is.

It reads the JSON body and answers a small JSON object, nothing else (no auth, no database),
so the ratio textgate/bare says what textgate's own work costs."""

from __future__ import annotations

import msgspec
from litestar import Litestar, Request, Response, post

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode


@post("/api/send-sms", status_code=200)
async def send_sms(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
    fields = _decode(await request.body())
    return Response(
        content=_encode({"ok": True, "status": 200, "message": "ok", "to": fields["phone_number"]}),
        media_type="application/json",
    )


def app() -> Litestar:
    return Litestar(route_handlers=[send_sms], debug=False, logging_config=None)
