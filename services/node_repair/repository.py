"""Node repair's Postgres access: nodes and their folded health, pending signals, the clock, ops overrides."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from libs.events import ClusterStatusReported, NodeHealthReported
from libs.repair import FleetSignal, FleetState, Overrides, Plan, Start
from libs.repair.clusters import ClusterReach, heard
from services.node_repair import codec

SIGNAL_BATCH = 5000  # reports folded per cycle; the rest wait for the next one


async def upsert_node(conn: asyncpg.Connection, node_id: str, pool: str, domain: str, cluster: str) -> None:
    """Registers a node (or its new pool / rack / cluster); a node starts healthy."""
    await conn.execute("insert into repair_nodes(node_id, pool, domain, cluster) values ($1, $2, $3, $4) "
                       "on conflict (node_id) do update set pool = excluded.pool, domain = excluded.domain, "
                       "cluster = excluded.cluster", node_id, pool, domain, cluster)


async def upsert_nodes(conn: asyncpg.Connection, nodes: list[tuple[str, str, str, str]]) -> None:
    """``upsert_node`` for many ``(node_id, pool, domain, cluster)``, in one statement (rows locked in the given
    order: give them in node order, as the planning cycle writes them)."""
    if nodes:
        await conn.execute("insert into repair_nodes(node_id, pool, domain, cluster) select * from unnest($1::text[], "
                           "$2::text[], $3::text[], $4::text[]) on conflict (node_id) do update set pool = "
                           "excluded.pool, domain = excluded.domain, cluster = excluded.cluster",
                           *map(list, zip(*nodes)))


async def hear_cluster(conn: asyncpg.Connection, event: ClusterStatusReported) -> None:
    """Advances the repair clock and folds a cluster heartbeat into the cluster's row (under its row lock). The
    clock's row is locked first, as the planning cycle locks it (``planned_at``) before it writes the clusters."""
    await advance_clock(conn, event.occurred_at)
    await fold_cluster(conn, event)


async def fold_cluster(conn: asyncpg.Connection, event: ClusterStatusReported) -> None:
    """Folds a cluster heartbeat into the cluster's row, under its row lock (the caller advanced the clock)."""
    row = await conn.fetchrow("select reach from repair_clusters where cluster = $1 for update", event.cluster)
    state = codec.reach_from_json(event.cluster, _j(row["reach"])) if row else None
    state = heard(state, codec.cluster_report(event))
    await conn.execute("insert into repair_clusters(cluster, reach) values ($1, $2::jsonb) on conflict (cluster) "
                       "do update set reach = excluded.reach, updated_at = now()",
                       event.cluster, json.dumps(codec.reach_to_json(state)))


async def load_clusters(conn: asyncpg.Connection) -> dict[str, ClusterReach]:
    """Returns what was heard of every cluster that ever reported."""
    return {r["cluster"]: codec.reach_from_json(r["cluster"], _j(r["reach"]))
            for r in await conn.fetch("select cluster, reach from repair_clusters order by cluster")}


async def save_clusters(conn: asyncpg.Connection, before: dict[str, ClusterReach],
                        after: dict[str, ClusterReach]) -> None:
    """Writes the clusters whose judgement changed."""
    await conn.executemany("update repair_clusters set reach = $2::jsonb, updated_at = now() where cluster = $1",
                           [(name, json.dumps(codec.reach_to_json(c))) for name, c in after.items()
                            if before.get(name) != c])


async def nodes_in(conn: asyncpg.Connection, clusters: list[str]) -> list[str]:
    """Returns the nodes of ``clusters``."""
    rows = await conn.fetch("select node_id from repair_nodes where cluster = any($1::text[])", clusters)
    return [r["node_id"] for r in rows]


async def append_signal(conn: asyncpg.Connection, event: NodeHealthReported) -> None:
    """Queues a health report for the next planning cycle and advances the repair clock to its time."""
    await conn.execute("insert into repair_signals(node_id, body) values ($1, $2::jsonb)", event.node_id,
                       event.model_dump_json())
    await advance_clock(conn, event.occurred_at)


async def append_signals(conn: asyncpg.Connection, events: list[NodeHealthReported]) -> None:
    """Queues health reports for the next planning cycle, in the given order, in one statement (the caller advances
    the clock)."""
    if events:
        await conn.execute("insert into repair_signals(node_id, body) select node_id, body from unnest($1::text[], "
                           "$2::jsonb[]) with ordinality as s(node_id, body, n) order by n",
                           [e.node_id for e in events], [e.model_dump_json() for e in events])


async def advance_clock(conn: asyncpg.Connection, at: datetime) -> None:
    """Moves the repair clock's watermark to ``at`` if that is later (locking the clock's row)."""
    await conn.execute("insert into repair_clock(id, watermark) values (1, $1) on conflict (id) do update "
                       "set watermark = greatest(repair_clock.watermark, excluded.watermark)", at)


async def clock_now(conn: asyncpg.Connection) -> datetime:
    """Returns the planner's now: the newest report time seen, or the wall clock if that is later."""
    mark = await conn.fetchval("select watermark from repair_clock where id = 1")
    wall = datetime.now(UTC)
    return max(mark, wall) if mark else wall


async def planned_at(conn: asyncpg.Connection, now: datetime) -> datetime | None:
    """Returns the now of the previous planning cycle, and records ``now`` as this cycle's."""
    before = await conn.fetchval("select planned_at from repair_clock where id = 1")
    await conn.execute("update repair_clock set planned_at = $1 where id = 1", now)
    return before


async def load_fleet(conn: asyncpg.Connection, forget_before: datetime) -> FleetState:
    """Returns the planner's FleetState as stored, with the rate limiter's recent starts."""
    rows = await conn.fetch("select * from repair_nodes order by node_id")
    nodes, health, occupancy, results = {}, {}, {}, {}
    for r in rows:
        n = r["node_id"]
        nodes[n] = codec.record_from_json(n, r["pool"], r["domain"], _j(r["record"]))
        health[n] = codec.health_from_json(n, _j(r["health"]))
        if (o := codec.occupancy_from_json(n, _j(r["occupancy"]))) is not None:
            occupancy[n] = o
        if (res := codec.result_from_json(n, _j(r["result"]))) is not None:
            results[n] = res
    starts = tuple(Start(s["node_id"], s["pool"], s["at"]) for s in await conn.fetch(
        "select node_id, pool, at from repair_starts where at >= $1 order by at", forget_before))
    return FleetState(nodes, health, occupancy, results, starts)


async def take_signals(conn: asyncpg.Connection) -> tuple[list[FleetSignal], list[int]]:
    """Returns the pending signals of known nodes (oldest first) and the sequence numbers taken."""
    rows = await conn.fetch("select s.seq, s.body from repair_signals s join repair_nodes n using (node_id) "
                            "order by s.seq limit $1", SIGNAL_BATCH)
    signals = [sig for r in rows for sig in codec.to_signals(NodeHealthReported.model_validate_json(r["body"]))]
    return signals, [r["seq"] for r in rows]


async def load_overrides(conn: asyncpg.Connection) -> Overrides:
    """Returns what ops set with `batchyard nodes pause|force|exclude`."""
    paused = {r["scope"] for r in await conn.fetch("select scope from repair_paused")}
    forced = {r["node_id"]: r["requested_at"] for r in await conn.fetch("select * from repair_forced")}
    excluded = frozenset(r["node_id"] for r in await conn.fetch("select node_id from repair_excluded"))
    return Overrides(paused="*" in paused, paused_pools=frozenset(paused - {"*"}), forced=forced, excluded=excluded)


async def save(conn: asyncpg.Connection, before: FleetState, result: Plan, taken: list[int], *,
               xid_window: timedelta, rate_window: timedelta, now: datetime) -> None:
    """Persists the cycle: changed nodes, new starts, transitions; deletes the folded signals."""
    after = result.fleet
    deferred = {d.node: d.message for d in result.deferred}
    await conn.executemany(  # one pipelined round trip for the fleet; unchanged rows are not rewritten
        "update repair_nodes set state = $2, record = $3::jsonb, health = $4::jsonb, occupancy = $5::jsonb, "
        "result = $6::jsonb, diagnosis = $7, deferred = $8, updated_at = now() where node_id = $1 and "
        "(record is distinct from $3::jsonb or health is distinct from $4::jsonb or occupancy is distinct "
        "from $5::jsonb or result is distinct from $6::jsonb or diagnosis <> $7 or deferred <> $8)",
        [(n, rec.state.value, json.dumps(codec.record_to_json(rec)),
          json.dumps(codec.health_to_json(after.health_of(n), now - xid_window)),
          json.dumps(codec.occupancy_to_json(after.occupancy.get(n))),
          json.dumps(codec.result_to_json(after.results.get(n))),
          _summary(result.diagnoses.get(n)), deferred.get(n, "")) for n, rec in after.nodes.items()])
    known = {(s.node, s.at) for s in before.starts}
    await conn.executemany("insert into repair_starts(node_id, pool, at) values ($1, $2, $3)",
                           [(s.node, s.pool, s.at) for s in after.starts if (s.node, s.at) not in known])
    await conn.executemany("insert into repair_transitions(node_id, from_state, to_state, reason, action, at, "
                           "evidence) values ($1,$2,$3,$4,$5,$6,$7::jsonb)",
                           [(t.node, t.from_state.value, t.to_state.value, t.reason.value, t.action.value, t.at,
                             json.dumps(list(t.evidence))) for t in result.transitions])
    await conn.execute("delete from repair_starts where at < $1", now - rate_window)  # outside the window
    if taken:
        await conn.execute("delete from repair_signals where seq = any($1::bigint[])", taken)


async def clear_spent_forces(conn: asyncpg.Connection, fleet: FleetState, forced: dict) -> None:
    """Deletes force requests a finished repair has answered (the planner ignores them already)."""
    spent = [n for n, asked in forced.items()
             if n in fleet.nodes and any(h.at >= asked for h in fleet.nodes[n].history)]
    if spent:
        await conn.execute("delete from repair_forced where node_id = any($1::text[])", spent)


def _summary(diag) -> str:
    if diag is None:
        return ""
    if not diag.findings:
        return f"{diag.severity.value}: no findings"
    return f"{diag.severity.value} -> {diag.action.value}: " + "; ".join(f.evidence for f in diag.findings)[:900]


def _j(value):
    return json.loads(value) if isinstance(value, str) else value
