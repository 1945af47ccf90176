"""Running units of work on SQLite or PostgreSQL behind one small object.

Store functions are plain synchronous functions of a SQLAlchemy `Connection`; the Database
runs each one as one transaction:

- on SQLite, in a thread, on the stdlib driver: a write runs whole on the single writer
  thread in `BEGIN IMMEDIATE` (writers queue in-process instead of failing with
  SQLITE_BUSY), so a transaction costs one hop off the event loop however many statements
  it has; reads run on their own threads beside it (WAL).
- on PostgreSQL, on asyncpg through SQLAlchemy's `run_sync`, on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

P = ParamSpec("P")
T = TypeVar("T")
Work = Callable[Concatenate[Connection, P], T]

READ_THREADS = 4


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def async_url(url: str) -> str:
    """Our URLs name the database; the async driver is ours to choose."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url.removeprefix(prefix)
    return url


class Database:
    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._pg: AsyncEngine | None = None
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _sqlite_engine(url, sqlite_synchronous, immediate=True, size=1)
            self._reader = _sqlite_engine(url, sqlite_synchronous, immediate=False,
                                          size=READ_THREADS)
            self._write_thread = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="textgate-db-write"
            )
            self._read_threads = concurrent.futures.ThreadPoolExecutor(
                READ_THREADS, thread_name_prefix="textgate-db-read"
            )
        else:
            self._pg = create_async_engine(
                async_url(url), pool_size=10, max_overflow=10, pool_pre_ping=True
            )

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs `work(conn, ...)` in one transaction that writes; committed unless it raises."""
        if self._pg is not None:
            async with self._pg.begin() as conn:
                return await conn.run_sync(lambda sync: work(sync, *args, **kwargs))
        call = functools.partial(_in_transaction, self._writer, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._write_thread, call)

    async def read(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs `work(conn, ...)` in a read-only transaction."""
        if self._pg is not None:
            async with self._pg.connect() as conn:
                return await conn.run_sync(lambda sync: work(sync, *args, **kwargs))
        call = functools.partial(_in_transaction, self._reader, work, *args, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._read_threads, call)

    async def ping(self) -> bool:
        try:
            await self.read(lambda conn: conn.execute(sa.text("SELECT 1")).scalar_one())
        except Exception:
            return False
        return True

    async def dispose(self) -> None:
        if self._pg is not None:
            await self._pg.dispose()
            return
        self._write_thread.shutdown(wait=True)
        self._read_threads.shutdown(wait=True)
        self._writer.dispose()
        self._reader.dispose()


def _in_transaction(engine: Engine, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with engine.begin() as conn:
        return work(conn, *args, **kwargs)


def _sqlite_engine(url: str, synchronous: str, *, immediate: bool, size: int) -> Engine:
    engine = sa.create_engine(
        url,
        pool_size=size,
        max_overflow=0,
        pool_timeout=60,
        connect_args={"check_same_thread": False, "timeout": 30},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver, so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
