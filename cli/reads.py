"""The platform's read models as ``batchyard``'s read commands and ``batchyard ui`` read them: one scoping, one set
of queries.

A read connects with ``BATCHYARD_DATABASE_URL``'s login and, when the caller holds a ``BATCHYARD_TOKEN``, takes the
scope role the verified token names (``SET ROLE``), so PostgreSQL's row-level security picks the rows. Anything the
caller should hear about is a ``ReadRefused`` carrying a reason code, the words and the CLI's exit code; the CLI
prints it as its one ``error: ...`` line, the web view as a 400/403/503 with the reason.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone


class ReadRefused(Exception):
    """A read that cannot be done as asked: ``reason`` (a code), the message, and ``exit_code`` (2: the caller's
    input, 1: the platform is unreachable, not ready or not the caller's to read)."""

    def __init__(self, reason: str, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.reason, self.exit_code = reason, exit_code


def token_scope(token: str | None = None) -> str | None:
    """Returns the scope role ``token`` (default ``BATCHYARD_TOKEN``) names, or None without a token (the login's
    own role decides, e.g. an admin, ops or finance role).

    The token is verified against admission's keyring (public keys, ``BATCHYARD_ADMISSION_KEYRING``): a team key
    reads as its team, an org key as its org; a platform key scopes no tenant and is refused.
    """
    token = os.environ.get("BATCHYARD_TOKEN") if token is None else token
    if not token:
        return None
    from cli.scopes import scope_role
    from libs.admission import Rejection, authenticate
    keyring = admission_keyring()
    identity = authenticate(token.strip(), keyring, datetime.now(timezone.utc))
    if isinstance(identity, Rejection):
        raise ReadRefused(identity.code.value, f"BATCHYARD_TOKEN refused ({identity.code.value}): {identity.message}")
    key = keyring.keys[identity.kid]
    if key.org is None:
        raise ReadRefused("token_key_scope", f"BATCHYARD_TOKEN is signed by platform key {identity.kid}, which "
                          "scopes no tenant; read as an admin role instead")
    return scope_role(identity.org if key.team is None else f"{identity.org}/{identity.team}")


def admission_keyring():
    """Returns admission's verifier keyring (``BATCHYARD_ADMISSION_KEYRING``); ReadRefused if it cannot be read."""
    from libs.platform.settings import Settings
    from services.admission.app import config_path
    from services.admission.keyring import KeyringError, load_verifier_keyring
    try:
        return load_verifier_keyring(config_path(Settings().admission_keyring)).keyring
    except KeyringError as exc:
        raise ReadRefused("keyring_unreadable", f"cannot verify BATCHYARD_TOKEN: {exc}", 1) from None


async def open_read(schema: str, what: str, dsn: str | None = None, scope: str | None = None):
    """Returns a connection to ``dsn`` (default ``BATCHYARD_DATABASE_URL``) with ``schema`` first on the search
    path, reading as ``scope`` (a role) when one is given."""
    import asyncpg

    from cli.text import one_line
    from libs.platform.settings import Settings
    try:
        conn = await asyncpg.connect(dsn or Settings().database_url, server_settings={"search_path": f'"{schema}"'})
    except Exception as exc:  # noqa: BLE001 - any connection failure is reported the same way
        raise ReadRefused("database_unreachable", f"cannot reach the {what} database: {one_line(exc)}", 1) from None
    if scope is None:
        return conn
    try:
        await conn.execute(f'set role "{scope}"')
    except asyncpg.PostgresError as exc:
        await conn.close()
        raise ReadRefused("scope_not_granted", f"this database login may not read as {scope} ({one_line(exc)}); "
                          "BATCHYARD_TOKEN needs the reader role (batchyard db roles --tenant ...)", 1) from None
    if not await conn.fetchval("select has_schema_privilege($1, 'USAGE')", schema):
        await conn.close()  # said here: otherwise its tables would look as if they did not exist yet
        raise ReadRefused("permission_denied", f"permission denied: {scope} may not read the {what} tables "
                          "(ops and admins only)", 1)
    return conn


async def queue_usage(conn) -> tuple[int, list[tuple]]:
    """Returns (config version, [(cluster queue, flavor, resource, used, nominal, pending count)])."""
    from services.quota.state import latest_config, load_engine
    latest = await latest_config(conn)
    if latest is None:
        raise _no_config()
    engine, _ = await load_engine(conn, latest[1], 0.0)
    rows = []
    for name, node in sorted(engine.tree.queues.items()):
        pending = len(engine.pending.get(name, ()))
        for (flavor, resource), quota in sorted(node.quotas.items()):
            rows.append((name, flavor, resource, node.usage.get((flavor, resource), 0), quota.nominal, pending))
    return latest[0], rows


async def pending_workloads(conn, queue: str | None) -> list:
    """Returns the pending workloads the caller may see (of ``queue``, a cluster or local queue, if given) in queue
    order, each with its true position and why it waits."""
    if queue is not None:
        await check_queue(conn, queue)
    # pending_positions numbers every team's workloads but returns only the rows the caller may see (row-level
    # security, quota migration 003): a team sees its own workloads at their true positions
    return await conn.fetch(
        "select workload_id, team, local_queue, cluster_queue, priority, pending_reason, pending_message, pos "
        "from pending_positions where $1::text is null or cluster_queue = $1 or local_queue = $1 "
        "order by cluster_queue nulls first, pos", queue)


async def check_queue(conn, queue: str) -> None:
    """Raises ReadRefused naming the queues that exist when ``queue`` is neither a cluster nor a local queue."""
    from libs.quota.loader import load_config
    from services.quota.state import latest_config
    latest = await latest_config(conn)
    if latest is None:
        raise _no_config()
    config = load_config(latest[1])
    cluster, local = sorted(config.cluster_queues), sorted({name for _, name in config.local_queues})
    if queue not in cluster and queue not in local:
        raise ReadRefused("unknown_queue", f"no such queue {queue!r}; cluster queues: {', '.join(cluster) or 'none'}; "
                          f"local queues: {', '.join(local) or 'none'}")


async def workload_standing(conn, workload_id: str):
    """Returns (quota's row of the workload, its position if pending); (None, None) if the caller cannot see it."""
    row = await conn.fetchrow("select * from workloads where workload_id = $1", workload_id)  # the caller's rows
    if row is None or row["state"] != "pending":
        return row, None
    return row, await conn.fetchval("select pos from pending_positions where workload_id = $1", workload_id)


async def node_listing(conn, **filters) -> tuple[list[dict], list[str]]:
    """Returns (node repair's nodes as ``nodes list`` shows them, the paused scopes)."""
    from services.node_repair import ops
    return await ops.list_nodes(conn, **filters), await ops.paused_scopes(conn)


async def ledger_rows(conn, lo: datetime, hi: datetime) -> list:
    """Returns the cost ledger's rows of the node-hours in [lo, hi) the caller may see."""
    from services.cost_reporting.reports import rows_between
    return await rows_between(conn, lo, hi)


def _no_config() -> ReadRefused:
    return ReadRefused("no_quota_config", "no quota config stored yet (start the quota service or "
                       "`batchyard queues apply`)", 1)
