"""Running units of work on SQLite or PostgreSQL behind one small object.

Store functions are plain synchronous functions of a SQLAlchemy `Connection`; the Database
runs each one as one transaction:

- on SQLite, on the stdlib driver. Writes take turns on one connection in
  `BEGIN IMMEDIATE`, run right on the event loop: a batch of a few statements takes about
  a millisecond, far less than handing it to a thread would cost while the loop is busy
  (each statement gives up the GIL and waits up to a switch interval to get it back).
  When another process holds the write lock, the write is not left to block the loop:
  it runs again on the writer thread, which waits for the lock. Reads run on their own
  threads beside the writer (WAL). Checkpoints (copying the WAL back into the database
  file) run on a read thread every `CHECKPOINT_SECONDS`, not inside a commit on the loop.
- on PostgreSQL, on asyncpg through SQLAlchemy's `run_sync`, on the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
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
CHECKPOINT_SECONDS = 0.5
BUSY_TIMEOUT_MS = 30_000


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
        self._checkpointer: asyncio.Task[None] | None = None
        if self.is_sqlite:
            path = url.removeprefix("sqlite:///")
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._writer = _sqlite_engine(
                url, sqlite_synchronous, immediate=True, size=1, busy_ms=0, autocheckpoint=0
            )
            self._write_lock = asyncio.Lock()
            self._reader = _sqlite_engine(
                url, sqlite_synchronous, immediate=False, size=READ_THREADS
            )
            self._write_thread = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix="textgate-db-write"
            )
            self._read_threads = concurrent.futures.ThreadPoolExecutor(
                READ_THREADS, thread_name_prefix="textgate-db-read"
            )
        else:
            self._pg = create_async_engine(
                async_url(url),
                pool_size=10,
                max_overflow=10,
                pool_pre_ping=True,
                hide_parameters=True,  # errors must not carry numbers or codes into logs
            )

    @property
    def dialect(self) -> str:
        return "sqlite" if self.is_sqlite else "postgresql"

    async def write(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Runs `work(conn, ...)` in one transaction that writes; committed unless it raises."""
        if self._pg is not None:
            async with self._pg.begin() as conn:
                return await conn.run_sync(lambda sync: work(sync, *args, **kwargs))
        loop = asyncio.get_running_loop()
        async with self._write_lock:
            try:
                with self._writer.connect() as conn:
                    transaction = conn.begin()
                    try:
                        result = work(conn, *args, **kwargs)
                    except BaseException:
                        transaction.rollback()
                        raise
                    # The commit waits for the disk (fsync): let the loop serve meanwhile.
                    await loop.run_in_executor(self._write_thread, transaction.commit)
                    return result
            except sa.exc.OperationalError as exc:
                if "locked" not in str(exc.orig) and "busy" not in str(exc.orig):
                    raise
            # Another process holds the write lock; the transaction was rolled back, so
            # running the work again is safe. Wait for the lock on the writer thread.
            call = functools.partial(_waiting_for_lock, self._writer, work, *args, **kwargs)
            return await loop.run_in_executor(self._write_thread, call)

    async def write_long(self, work: Work[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """`write` for a transaction that takes long (a bulk job's 100,000 rows): on SQLite
        it runs on the writer thread, so the event loop keeps serving meanwhile (other
        writes of this process wait for it, as they would anyway)."""
        if self._pg is not None:
            return await self.write(work, *args, **kwargs)
        call = functools.partial(_waiting_for_lock, self._writer, work, *args, **kwargs)
        async with self._write_lock:
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

    def start(self) -> None:
        """Starts background upkeep (SQLite: WAL checkpoints off the event loop)."""
        if self.is_sqlite and self._checkpointer is None:
            self._checkpointer = asyncio.create_task(self._checkpoints(), name="textgate-wal")

    async def _checkpoints(self) -> None:
        def checkpoint(conn: Connection) -> None:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")

        while True:
            await asyncio.sleep(CHECKPOINT_SECONDS)
            try:
                await self.read(checkpoint)
            except sa.exc.OperationalError:
                continue  # busy now; the next round will do it

    async def dispose(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checkpointer
            self._checkpointer = None
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


def _waiting_for_lock(engine: Engine, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    with engine.connect() as conn:
        # On the driver's connection: through SQLAlchemy the PRAGMA would begin a
        # transaction (BEGIN IMMEDIATE), which is the very lock we are waiting for.
        raw = conn.connection.driver_connection
        assert raw is not None
        raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            with conn.begin():
                return work(conn, *args, **kwargs)
        finally:
            raw.execute("PRAGMA busy_timeout=0")


def _sqlite_engine(
    url: str,
    synchronous: str,
    *,
    immediate: bool,
    size: int,
    busy_ms: int = 30_000,
    autocheckpoint: int = 1000,
) -> Engine:
    engine = sa.create_engine(
        url,
        hide_parameters=True,  # errors must not carry numbers or codes into logs
        pool_size=size,
        max_overflow=0,
        pool_timeout=60,
        # Setting up a connection waits for locks like any other; only then does the
        # connection take its own busy timeout (0 for the writer on the event loop).
        connect_args={"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver, so BEGIN is ours to emit.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA wal_autocheckpoint={autocheckpoint}")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine
