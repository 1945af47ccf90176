"""The migrations build exactly the schema the code declares, on both databases, and can be
taken down and up again."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from support import in_thread
from textgate.store import migrate
from textgate.store.db import async_url
from textgate.store.tables import metadata


def _diff(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


async def schema_diff(url: str) -> list[Any]:
    engine = create_async_engine(async_url(url))
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(_diff)
    finally:
        await engine.dispose()


async def test_migrations_match_the_tables(database_url: str) -> None:
    assert await schema_diff(database_url) == []


async def _down_and_up(url: str) -> None:
    in_thread(command.downgrade, migrate.alembic_config(url), "base")
    in_thread(migrate.upgrade, url)
    assert await schema_diff(url) == []


async def test_down_and_up_again_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    in_thread(migrate.upgrade, url)
    await _down_and_up(url)


@pytest.mark.postgres
async def test_down_and_up_again_postgres(postgres_database: str) -> None:
    """On a database of its own: the shared test database stays migrated."""
    base, _, _ = postgres_database.rpartition("/")
    name = f"textgate_mig_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(async_url(postgres_database), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = f"{base}/{name}"
        in_thread(migrate.upgrade, url)
        await _down_and_up(url)
    finally:
        async with admin.connect() as conn:
            await conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.dispose()


def test_one_head() -> None:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_heads()
    assert len(heads) == 1, heads
