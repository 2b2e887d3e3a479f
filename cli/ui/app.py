"""The web view's HTTP side (starlette): the page, its JSON, a server-sent event stream, and the admin action.

    GET  /                              the dashboard (static HTML + JS; data comes from the two below)
    GET  /api/snapshot?queue=&pool=&days=   every panel once, as JSON
    GET  /events?queue=&pool=&days=     server-sent events: a ``snapshot`` whenever what the caller sees changes
    GET  /workloads/{id}                one workload's timeline (static HTML + JS; data from the two below)
    GET  /workloads?id=                 the look-up form: a redirect to /workloads/{id}
    GET  /api/workloads/{id}            the timeline once, as JSON (404 ``unknown_workload`` if the caller's scope
                                        sees no such workload)
    GET  /events/workloads/{id}         server-sent events: a ``timeline`` whenever the workload's timeline changes
    GET  /api/admin                     200 with the admin's name for a valid admin token, else 403 with the reason
    POST /api/workloads/{id}/cancel     the admin action (Authorization: Bearer <admin token>); 202 when published

Bad input is a 400 (JSON ``{"reason", "message"}``, or a short HTML page for a page), never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from sse_starlette.sse import EventSourceResponse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from cli.reads import ReadRefused
from cli.ui.admin import AdminRefused, cancel_as_admin, verify_admin
from cli.ui.gpu import GpuSampler
from cli.ui.panels import read_panels
from cli.ui.params import BadParameter, ViewParams, parse_params, parse_workload_id
from cli.ui.reader import Reader
from cli.ui.timeline import read_timeline, status_of

STATIC = Path(__file__).parent / "static"
log = logging.getLogger("batchyard.ui")


@dataclass
class UiConfig:
    """How one ``batchyard ui`` reads and refreshes."""

    dsn: str | None = None  # BATCHYARD_DATABASE_URL unless given
    scope: str | None = None  # the scope role BATCHYARD_TOKEN named, or None (the login's own role)
    refresh_s: float = 2.0  # how often an open page's panels are re-read
    sample_s: float = 5.0  # how often GPU allocation is sampled
    signing_key_file: str | None = None  # signs admins' cancels (a platform key); None: BATCHYARD_SIGNING_KEY_FILE
    reader: Reader | None = field(default=None, repr=False)


def refusal(status: int, reason: str, message: str) -> JSONResponse:
    return JSONResponse({"reason": reason, "message": message}, status_code=status)


def error_page(status: int, reason: str, message: str) -> HTMLResponse:
    return HTMLResponse(f"<!doctype html><html lang='en'><title>batchyard: {html.escape(reason)}</title><main><h1>"
                        f"{'Bad request' if status == 400 else 'Not shown'}</h1><p>{html.escape(reason)}: "
                        f"{html.escape(message)}</p><p><a href='/'>The dashboard</a></p></main></html>",
                        status_code=status)


def create_app(config: UiConfig) -> Starlette:
    """Returns the web view over ``config``'s read scope; GPU sampling runs for the app's life."""
    reader = config.reader or Reader(config.dsn, config.scope)
    sampler = GpuSampler(reader, config.sample_s)
    scope = config.scope or "the database login's own role"

    async def view(request: Request) -> tuple[ViewParams, dict]:
        params = parse_params(request.query_params.multi_items())
        return params, {**await read_panels(reader, params), "gpu": sampler.panel(params.pool),
                        "scope": scope}

    async def page(request: Request) -> Response:
        try:
            await view(request)  # a bad parameter is refused before the page loads
        except (BadParameter, ReadRefused) as exc:
            return error_page(400, _reason(exc), str(exc))
        return FileResponse(STATIC / "index.html")

    async def snapshot(request: Request) -> Response:
        try:
            return JSONResponse((await view(request))[1])
        except (BadParameter, ReadRefused) as exc:
            return refusal(400, _reason(exc), str(exc))

    async def events(request: Request) -> Response:
        try:
            first = json.dumps((await view(request))[1])
        except (BadParameter, ReadRefused) as exc:
            return refusal(400, _reason(exc), str(exc))
        return _stream("snapshot", first, lambda: view(request), lambda v: v[1], config.refresh_s)

    async def timeline(request: Request) -> dict:
        if request.query_params:
            raise BadParameter("unknown_parameter", "a workload's timeline takes no query parameters")
        return await read_timeline(reader, parse_workload_id(request.path_params["workload_id"]), scope)

    async def workload_page(request: Request) -> Response:
        try:
            await timeline(request)  # an unknown workload is a 404 page before the page loads
        except (BadParameter, ReadRefused) as exc:
            return error_page(status_of(exc), _reason(exc), str(exc))
        return FileResponse(STATIC / "workload.html")

    async def look_up(request: Request) -> Response:
        try:
            workload_id = parse_workload_id(request.query_params.get("id"))
        except BadParameter as exc:
            return error_page(400, exc.reason, str(exc))
        return RedirectResponse(f"/workloads/{workload_id}", status_code=303)  # the id's characters need no quoting

    async def workload(request: Request) -> Response:
        try:
            return JSONResponse(await timeline(request))
        except (BadParameter, ReadRefused) as exc:
            return refusal(status_of(exc), _reason(exc), str(exc))

    async def workload_events(request: Request) -> Response:
        try:
            first = json.dumps(await timeline(request))
        except (BadParameter, ReadRefused) as exc:
            return refusal(status_of(exc), _reason(exc), str(exc))
        return _stream("timeline", first, lambda: timeline(request), lambda v: v, config.refresh_s)

    async def admin(request: Request) -> Response:
        try:
            identity = verify_admin(request.headers.get("authorization"))
        except AdminRefused as exc:
            return refusal(exc.status, exc.reason, str(exc))
        return JSONResponse({"subject": identity.subject, "kid": identity.kid, "expires_at": identity.expires_at})

    async def cancel(request: Request) -> Response:
        workload_id = request.path_params["workload_id"]
        try:
            identity = verify_admin(request.headers.get("authorization"))
            reason = await _cancel_reason(request)
            event = await cancel_as_admin(identity, workload_id, reason, reader, config.signing_key_file)
        except AdminRefused as exc:
            return refusal(exc.status, exc.reason, str(exc))
        except ReadRefused as exc:
            return refusal(503, exc.reason, str(exc))
        log.info("cancel of %s requested by %s (key %s)", workload_id, identity.subject, identity.kid)
        return JSONResponse({"workload_id": workload_id, "event_id": str(event.event_id),
                             "message": f"cancel requested for {workload_id}; admission decides it"}, status_code=202)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        task = asyncio.create_task(sampler.run())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await reader.close()

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("%s %s failed", request.method, request.url.path)  # the operator's log keeps it
        return refusal(500, "internal_error", f"the view failed: {type(exc).__name__} (see the ui's log)")

    async def not_found(request: Request, exc: Exception) -> Response:
        return refusal(404, "not_found", f"no such page {request.url.path[:80]}")

    routes = [Route("/", page), Route("/api/snapshot", snapshot), Route("/events", events),
              Route("/workloads", look_up), Route("/workloads/{workload_id}", workload_page),
              Route("/api/workloads/{workload_id}", workload),
              Route("/events/workloads/{workload_id}", workload_events),
              Route("/api/admin", admin), Route("/api/workloads/{workload_id}/cancel", cancel, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    return Starlette(routes=routes, lifespan=lifespan, exception_handlers={Exception: failed, 404: not_found})


def _reason(exc: Exception) -> str:
    return getattr(exc, "reason", "bad_request")


def _stream(name: str, first: str, read, data, refresh_s: float) -> EventSourceResponse:
    """Returns server-sent events named ``name``: ``first``, then ``data(await read())`` as JSON whenever it changes
    (re-read every ``refresh_s``); a refusal meanwhile is sent as ``{"error": {"reason", "message"}}``."""
    async def stream():
        last = None
        while True:
            try:
                text = first if last is None else json.dumps(data(await read()))
            except (BadParameter, ReadRefused) as exc:
                text = json.dumps({"error": {"reason": _reason(exc), "message": str(exc)}})
            if text != last:
                yield {"event": name, "data": text}
                last = text
            await asyncio.sleep(refresh_s)
    return EventSourceResponse(stream(), ping=15)


async def _cancel_reason(request: Request) -> str:
    """Returns the ``reason`` of a JSON body (optional); AdminRefused (400) on a body that is not that."""
    body = await request.body()
    if not body:
        return "cancelled from batchyard ui"
    try:
        data = json.loads(body)
        reason = data.get("reason", "") if isinstance(data, dict) else None
    except ValueError:
        reason = None
    if not isinstance(reason, str) or len(reason) > 500:
        raise AdminRefused(400, "bad_body", 'the body must be JSON like {"reason": "..."} (at most 500 characters)')
    return reason or "cancelled from batchyard ui"
