"""Driver-level SQL for the hot paths (accepting, claiming, recording messages).

SQLAlchemy Core costs ~40 µs a row in `executemany` here; the same statement handed to the
driver costs ~7 µs. Hot statements are written once with `?` placeholders and rewritten to
the connection's paramstyle (qmark for sqlite3, $n for asyncpg)."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

_QMARK = re.compile(r"\?")


@functools.lru_cache(maxsize=256)
def _render(sql: str, paramstyle: str) -> str:
    if paramstyle == "qmark":
        return sql
    if paramstyle == "numeric_dollar":
        counter = iter(range(1, 10_000))
        return _QMARK.sub(lambda _: f"${next(counter)}", sql)
    if paramstyle == "format":
        return sql.replace("?", "%s")
    raise ValueError(f"unsupported paramstyle {paramstyle}")


def execute(conn: Connection, sql: str, params: Sequence[Any] = ()) -> Any:
    """Runs `sql` (with `?` placeholders) once. The result's rows are untyped: callers turn
    them into records on the spot."""
    return conn.exec_driver_sql(_render(sql, conn.dialect.paramstyle), tuple(params))


def execute_many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    """Runs `sql` (with `?` placeholders) for each row of parameters (executemany)."""
    conn.exec_driver_sql(_render(sql, conn.dialect.paramstyle), list(rows))


def placeholders(n: int) -> str:
    return ", ".join("?" * n)
