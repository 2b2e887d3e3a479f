"""What the command groups share: a clear error exit and a connection to one service's schema."""

from __future__ import annotations

from typing import NoReturn

import typer


def fail(message: str, code: int = 2) -> NoReturn:
    """Prints ``error: message`` to stderr and exits with ``code`` (2: bad input, 1: the platform is unreachable)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


async def connect(schema: str, what: str):
    """Returns a connection to ``BATCHYARD_DATABASE_URL`` with ``schema`` first on the search path; exits 1 with
    "cannot reach the <what> database: ..." if it fails."""
    import asyncpg

    from libs.platform.settings import Settings
    try:
        return await asyncpg.connect(Settings().database_url, server_settings={"search_path": f'"{schema}"'})
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported the same way
        fail(f"cannot reach the {what} database: {exc}", code=1)
