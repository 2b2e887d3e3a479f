"""``batchyard ui``: serves the web view on 127.0.0.1 (by default) until interrupted."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import typer

from cli.common import fail
from cli.reads import ReadRefused, token_scope


def ui(host: str = typer.Option("127.0.0.1", help="Address to bind (loopback by default; the view has no TLS)."),
       port: int = typer.Option(8080, min=0, max=65535, help="Port (0: any free one; the URL is printed)."),
       refresh: float = typer.Option(2.0, min=0.2, max=300, help="Seconds between re-reads of an open page."),
       sample: float = typer.Option(5.0, min=0.2, max=3600, help="Seconds between GPU allocation samples."),
       key_file: str | None = typer.Option(None, help="Signs admins' cancels; a platform key "
                                           "(default: $BATCHYARD_SIGNING_KEY_FILE).")) -> None:
    """Serve a live dashboard: queues and why work waits, nodes by pool, GPU allocation, cost per team per day.

    Reads as the CLI's read commands do (BATCHYARD_DATABASE_URL; BATCHYARD_TOKEN scopes it to a team or org).
    Read-only, except that a caller holding an admin token may cancel a workload (docs/ui.md)."""
    try:
        scope = token_scope()  # verified once, at start: the whole view reads as this role
    except ReadRefused as exc:
        fail(str(exc), exc.exit_code)
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        typer.echo(f"warning: binding {host}: anyone who reaches it reads what this view reads", err=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s ui %(levelname)s %(name)s: %(message)s")
    asyncio.run(_serve(host, port, refresh, sample, key_file, scope))


async def _serve(host: str, port: int, refresh: float, sample: float, key_file: str | None,
                 scope: str | None) -> None:
    import uvicorn

    from cli.ui.app import UiConfig, create_app
    app = create_app(UiConfig(scope=scope, refresh_s=refresh, sample_s=sample, signing_key_file=key_file))
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started and not serving.done():
        await asyncio.sleep(0.05)
    if server.started:
        bound = server.servers[0].sockets[0].getsockname()
        shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
        typer.echo(f"batchyard ui: serving on http://{shown}:{bound[1]}/ (reading as "
                   f"{scope or 'the database login'}; Ctrl-C stops)")
    await serving
    if not server.started:
        fail(f"cannot serve on {host}:{port} (in use, or not an address of this machine?)", code=1)
