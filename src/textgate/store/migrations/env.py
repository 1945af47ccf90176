"""Alembic environment: runs our migrations on the async engine of either dialect."""

from __future__ import annotations

import asyncio
from pathlib import Path

import sqlalchemy as sa
from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from textgate.store.db import async_url
from textgate.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _main() -> None:
    url: str = config.attributes["database_url"]
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Several processes may start at once: one migrates, the others wait.
                await connection.exec_driver_sql("SELECT pg_advisory_lock(7270717)")
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def _main_sqlite(url: str) -> None:
    path = url.removeprefix("sqlite:///")
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("textgate migrations run online only")
if config.attributes["database_url"].startswith("sqlite"):
    _main_sqlite(config.attributes["database_url"])
else:
    asyncio.run(_main())
