"""Shared fixtures: databases (SQLite and PostgreSQL), services, the app, accounts."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from support import PEPPER, MakeAccount, NewAccount, in_thread, truncate_postgres
from textgate.app import build, create_app, running
from textgate.services.container import Services
from textgate.settings import Settings
from textgate.store import migrate
from textgate.store.db import async_url

POSTGRES_URL = os.environ.get("TEXTGATE_TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (migrating once is much faster)."""
    path = tmp_path_factory.mktemp("template") / "textgate.db"
    in_thread(migrate.upgrade, f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, migrated once, dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip(
            "PostgreSQL not asked for: set TEXTGATE_TEST_POSTGRES_URL "
            "(make test does when 127.0.0.1:5432 answers; CI always does)"
        )
    name = f"textgate_test_{uuid.uuid4().hex[:10]}"
    base, _, _ = POSTGRES_URL.rpartition("/")

    async def admin(sql: str) -> None:
        engine = create_async_engine(async_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as conn:
                await conn.exec_driver_sql(sql)
        finally:
            await engine.dispose()

    # Unreachable when asked for: this fails (an error), it does not skip.
    in_thread(asyncio.run, admin(f'CREATE DATABASE "{name}"'))
    url = f"{base}/{name}"
    in_thread(migrate.upgrade, url)
    yield url
    in_thread(asyncio.run, admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """Each integration test that takes this runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "textgate.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    await truncate_postgres(url)
    return url


@pytest.fixture
def settings_for(tmp_path: Path) -> Callable[..., Settings]:
    def make(database_url: str, **overrides: object) -> Settings:
        env = {
            "TEXTGATE_DATABASE_URL": database_url,
            "TEXTGATE_DATA_DIR": str(tmp_path / "data"),
            "TEXTGATE_PEPPER": PEPPER,
            "TEXTGATE_WORKER_POLL_INTERVAL": "0.05",
            # The tests' webhook receivers listen on 127.0.0.1.
            "TEXTGATE_WEBHOOK_PRIVATE_ADDRESSES": "true",
        }
        return Settings.from_sources(env, {}).with_overrides(**overrides)

    return make


@pytest.fixture
def settings(database_url: str, settings_for: Callable[..., Settings]) -> Settings:
    return settings_for(database_url)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The services on the test's own event loop: committer running, no worker."""
    svc = build(settings)
    async with running(svc, worker=False):
        yield svc


@pytest.fixture
async def client(settings: Settings, services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The app in-process over ASGI, on the same services and event loop as the test."""
    app = create_app(settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://textgate") as http:
        yield http


@pytest.fixture
def make_account(services: Services) -> MakeAccount:
    """Factory: an account with `credits` (a string like "1.50") and its first key."""
    counter = iter(range(1, 1_000_000))

    async def make(credits: str = "10", email: str | None = None) -> NewAccount:
        from decimal import Decimal

        from textgate.domain import money

        account, key = await services.accounts.create(
            email or f"user{next(counter)}@example.com",
            credits_micros=money.to_micros(Decimal(credits)),
        )
        return NewAccount(account=account, key=key.secret, key_id=key.key.id)

    return make
