"""What the command groups share: one way to fail, the database connection, and reading a user's file.

Every command of a ``CommandGroup`` ends, on any failure, in one ``error: ...`` line on stderr and a non-zero
exit (2: bad input, 1: the platform is unreachable or not ready, 130: interrupted), never in a traceback.
``BATCHYARD_DEBUG=1`` prints the traceback as well, for whoever debugs the CLI itself.
"""

from __future__ import annotations

import functools
import os
import traceback
from pathlib import Path
from typing import NoReturn

import typer

from cli.text import one_line

PASS_THROUGH = (typer.Exit, typer.Abort, typer.TyperException)  # typer's own ways to end a command


def fail(message: str, code: int = 2) -> NoReturn:
    """Prints ``error: message`` to stderr and exits with ``code`` (2: bad input, 1: the platform is unreachable)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


class CommandGroup(typer.Typer):
    """A typer app whose every command fails in one clear line (see ``explain``), never in a traceback.

    ``service`` is the service whose tables the group reads, so a missing table says who creates it.
    """

    def __init__(self, *args, service: str | None = None, **kwargs) -> None:
        kwargs.setdefault("pretty_exceptions_enable", False)
        super().__init__(*args, **kwargs)
        self.service = service

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(fn):
            register(guarded(fn, self.service))
            return fn  # the module keeps the plain function (tests call it directly)
        return decorator


def guarded(fn, service: str | None = None):
    """Returns ``fn`` wrapped so any exception ends in ``fail(...)`` with the words ``explain`` finds."""
    @functools.wraps(fn)
    def command(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PASS_THROUGH:
            raise
        except KeyboardInterrupt:
            fail("interrupted", code=130)
        except Exception as exc:  # noqa: BLE001 - the one place a CLI failure becomes words
            if os.environ.get("BATCHYARD_DEBUG"):
                traceback.print_exc()
            message, code = explain(exc, service)
            fail(message, code)
    return command


def explain(exc: BaseException, service: str | None = None) -> tuple[str, int]:
    """Returns (one line a user can act on, exit code) for an exception a command did not handle itself."""
    import asyncpg
    from aiokafka.errors import KafkaConnectionError, KafkaError

    from cli.reads import ReadRefused

    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, ReadRefused):
        return str(exc), exc.exit_code
    words = one_line(exc)
    if isinstance(exc, UnicodeDecodeError):
        return "the file is not UTF-8 text (is it a binary file?)", 2
    if isinstance(exc, (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError)):
        who = service or "the service"
        return (f"{who} has not created its tables in this database yet; start it once "
                f"(batchyard run {who}) and retry ({words})"), 1
    if isinstance(exc, asyncpg.PostgresError):
        return f"the database refused: {words}", 1
    if isinstance(exc, KafkaConnectionError):
        return f"cannot reach Kafka at {_bootstrap()} (is it running? BATCHYARD_KAFKA_BOOTSTRAP sets where)", 1
    if isinstance(exc, KafkaError):
        return f"Kafka failed: {words}", 1
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"cannot use {exc.filename}: {exc.strerror or words}", 2
    if isinstance(exc, (OSError, TimeoutError)):
        return f"cannot connect: {words}", 1
    return f"unexpected {type(exc).__name__}: {words} (BATCHYARD_DEBUG=1 shows the traceback)", 1


def _bootstrap() -> str:
    try:
        from libs.platform.settings import Settings
        return Settings().kafka_bootstrap
    except Exception:  # noqa: BLE001 - only for the message
        return "$BATCHYARD_KAFKA_BOOTSTRAP"


def read_text(path: Path, what: str) -> str:
    """Returns the text of a user's file; fails in one line (exit 2) if it is missing, unreadable or not text."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"{path}: not a {what} (not UTF-8 text; a binary file?)")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


async def connect(schema: str, what: str, dsn: str | None = None):
    """Returns a connection to ``dsn`` (default ``BATCHYARD_DATABASE_URL``) with ``schema`` first on the search
    path, read as the scope ``BATCHYARD_TOKEN`` names (``cli.reads``); fails in one line if that cannot be."""
    from cli.reads import ReadRefused, open_read
    try:
        scope = caller_scope()  # before connecting: a refused token is bad input, whatever the database
        return await open_read(schema, what, dsn, scope)
    except ReadRefused as exc:
        fail(str(exc), exc.exit_code)


def caller_scope() -> str | None:
    """Returns the scope role the caller's token (``BATCHYARD_TOKEN``) names, or None without a token (the login's
    own role decides, e.g. an admin, ops or finance role).

    The token is verified against admission's keyring (public keys, ``BATCHYARD_ADMISSION_KEYRING``): a team key
    reads as its team, an org key as its org. A refused token fails with its reason code (exit 2). The rows are
    then picked by PostgreSQL's row-level security for that role, not here.
    """
    from cli.reads import ReadRefused, token_scope
    try:
        return token_scope()
    except ReadRefused as exc:
        fail(str(exc), exc.exit_code)
