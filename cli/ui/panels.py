"""What the web view shows, read through ``cli.reads`` exactly as the CLI's read commands read it.

Each panel is plain data (JSON for the page); a panel the caller's scope may not read, or whose service has not
created its tables yet, carries ``error`` (reason code and words) instead, and the other panels still show.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import timedelta

from cli import reads
from cli.reads import ReadRefused
from cli.ui.params import ViewParams
from cli.ui.reader import Reader


async def queues_panel(reader: Reader, params: ViewParams) -> dict:
    """Returns usage per cluster queue, flavor and resource (with its depth) and the pending workloads in order."""
    from libs.quota import format_quantity

    usage_error = None
    try:
        version, usage = await reader.run("quota", reads.queue_usage)
    except ReadRefused as exc:  # no config yet, or quota's internals are not a tenant's to read: pending still shows
        if exc.reason not in ("no_quota_config", "permission_denied"):
            raise
        version, usage, usage_error = None, [], {"reason": exc.reason, "message": str(exc)}
    pending = await reader.run("quota", reads.pending_workloads, params.queue)
    return {"version": version, "usage_error": usage_error,
            "usage": [{"cluster_queue": cq, "flavor": f, "resource": r, "used": format_quantity(r, used),
                       "nominal": format_quantity(r, nominal), "percent": round(100 * used / nominal) if nominal
                       else None, "depth": depth} for cq, f, r, used, nominal, depth in usage],
            "pending": [{"workload_id": p["workload_id"], "team": p["team"], "local_queue": p["local_queue"],
                         "cluster_queue": p["cluster_queue"], "position": p["pos"], "priority": p["priority"],
                         "reason": p["pending_reason"] or "Queued",
                         "message": p["pending_message"] or "not yet considered"} for p in pending]}


async def nodes_panel(reader: Reader, params: ViewParams) -> dict:
    """Returns every node by pool with its repair state, action and why a repair waits; the paused scopes."""
    nodes, paused = await reader.run("node_repair", reads.node_listing, pool=params.pool, all_nodes=True)
    pools: dict[str, list[dict]] = defaultdict(list)
    for n in nodes:
        pools[n["pool"]].append({"node_id": n["node_id"], "state": n["state"], "action": n["action"] or "none",
                                 "waiting": n["deferred"] or "", "excluded": n["excluded"], "forced": n["forced"]})
    return {"paused": ["everywhere" if s == "*" else f"pool {s}" for s in paused],
            "pools": [{"pool": pool, "states": dict(sorted(Counter(n["state"] for n in members).items())),
                       "nodes": members} for pool, members in sorted(pools.items())]}


async def cost_panel(reader: Reader, params: ViewParams) -> dict:
    """Returns cost per org, team and day over the last ``params.days`` days the ledger holds (idle cost apart)."""
    from libs.cost import format_dollars, rollup
    from services.cost_reporting.reports import day_range, parse_dims

    latest = await reader.run("cost_reporting", _latest_hour)
    if latest is None:
        return {"first_day": None, "last_day": None, "rows": []}
    last = latest.date()
    first = last - timedelta(days=params.days - 1)
    rows = await reader.run("cost_reporting", reads.ledger_rows, *day_range(None, first, last))
    totals = rollup(rows, parse_dims("day,org,team"))
    return {"first_day": first.isoformat(), "last_day": last.isoformat(),
            "rows": [{"day": day, "org": org or "(idle)", "team": team or "(idle)", "amount": format_dollars(t.amount)}
                     for t in reversed(totals) for day, org, team in [t.key]]}


async def _latest_hour(conn):
    return await conn.fetchval("select max(hour) from ledger")


PANELS = {"queues": queues_panel, "nodes": nodes_panel, "cost": cost_panel}


async def read_panels(reader: Reader, params: ViewParams) -> dict:
    """Returns every panel; a refusal caused by the caller's own input (exit code 2, e.g. an unknown queue) is
    raised, anything else is shown in its panel."""
    out = {}
    for name, panel in PANELS.items():
        try:
            out[name] = await panel(reader, params)
        except ReadRefused as exc:
            if exc.exit_code == 2:
                raise
            out[name] = {"error": {"reason": exc.reason, "message": str(exc)}}
    return out
