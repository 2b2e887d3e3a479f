"""One scoped connection per service schema, kept for the web view's life and reopened after a failure."""

from __future__ import annotations

import asyncio

from cli.reads import ReadRefused, open_read

WHAT = {"quota": ("quota", "quota"), "node_repair": ("node-repair", "node-repair"),
        "cost_reporting": ("cost", "cost-reporting"), "scheduler": ("scheduler", "scheduler")}


class Reader:
    """Runs read queries as the view's scope: the login of ``dsn`` and, with a token, the role it names."""

    def __init__(self, dsn: str | None, scope: str | None) -> None:
        self.dsn = dsn  # BATCHYARD_DATABASE_URL unless given
        self.scope = scope  # the scope role BATCHYARD_TOKEN named at start, or None (the login's own role)
        self._conns: dict[str, object] = {}  # schema -> open connection
        self._locks: dict[str, asyncio.Lock] = {s: asyncio.Lock() for s in WHAT}  # a connection runs one query

    async def run(self, schema: str, fn, *args, **kwargs):
        """Returns ``await fn(conn, *args, **kwargs)`` on the schema's connection; ReadRefused (with a reason) on
        failure."""
        import asyncpg

        from cli.common import explain
        what, service = WHAT[schema]
        async with self._locks[schema]:
            conn = self._conns.get(schema)
            if conn is None or conn.is_closed():
                conn = self._conns[schema] = await open_read(schema, what, self.dsn, self.scope)
            try:
                return await fn(conn, *args, **kwargs)
            except ReadRefused:
                raise
            except Exception as exc:  # noqa: BLE001 - every read failure becomes a reason, never a traceback
                if not isinstance(exc, asyncpg.PostgresError) or conn.is_closed():
                    await self._drop(schema)
                message, _ = explain(exc, service)
                raise ReadRefused(_reason(exc), message, 1) from None

    async def close(self) -> None:
        for schema in list(self._conns):
            await self._drop(schema)

    async def _drop(self, schema: str) -> None:
        conn = self._conns.pop(schema, None)
        if conn is not None and not conn.is_closed():
            conn.terminate()


def _reason(exc: BaseException) -> str:
    import asyncpg
    if isinstance(exc, (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError)):
        return "not_ready"
    if isinstance(exc, asyncpg.InsufficientPrivilegeError):
        return "permission_denied"
    return "database_error" if isinstance(exc, asyncpg.PostgresError) else "database_unreachable"
