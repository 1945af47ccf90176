"""Liveness, readiness and metrics."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.response.base import ASGIResponse

from textgate.api import shapes


@get("/health", include_in_schema=True, summary="The process is up")
async def health() -> ASGIResponse:
    return shapes.reply(True, 200, "ok")


@get("/ready", summary="The database answers and providers are connected")
async def ready(request: Request[Any, Any, Any]) -> ASGIResponse:
    svc = request.app.state.services
    db_ok = await svc.db.ping()
    providers = []
    for provider in svc.router.providers.values():
        h = provider.health()
        svc.metrics.provider_up.labels(h.name).set(1 if h.up else 0)
        providers.append(
            {
                "name": h.name,
                "up": h.up,
                "in_flight": h.in_flight,
                "last_error": h.last_error,
                "detail": dict(h.detail),
            }
        )
    # Providers connect only where the worker runs: an API-only process (serve --no-worker)
    # is ready with its database alone.
    up = db_ok and (svc.dispatcher is None or any(p["up"] for p in providers))
    status = 200 if up else 503
    return shapes.reply(
        up, status, "ready" if up else "not ready", database=db_ok, providers=providers
    )


@get("/metrics", summary="Prometheus metrics")
async def metrics(request: Request[Any, Any, Any]) -> ASGIResponse:
    body = request.app.state.services.metrics.render()
    return ASGIResponse(body=body, media_type="text/plain; version=0.0.4")
