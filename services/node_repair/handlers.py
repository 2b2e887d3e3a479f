"""Node repair handlers: a bad health signal cordons a healthy node; the repair loop brings it back."""

from __future__ import annotations

import json
import time

from libs.events import NodeHealthReported, NodeRepairTransitioned
from libs.platform.unit_of_work import Router, UnitOfWork
from services.node_repair.diagnosis import diagnose


async def transition(uow: UnitOfWork, node_id: str, from_state: str, to_state: str, reason: str,
                     evidence: dict[str, str], action: str | None = None) -> None:
    """Persists a node's new state and emits the transition with its evidence."""
    await uow.conn.execute(
        "insert into node_states(node_id, state, since, reason, evidence) values ($1,$2,$3,$4,$5::jsonb) "
        "on conflict (node_id) do update set state = excluded.state, since = excluded.since, "
        "reason = excluded.reason, evidence = excluded.evidence", node_id, to_state, time.time(), reason,
        json.dumps(evidence))
    await uow.emit(NodeRepairTransitioned(node_id=node_id, from_state=from_state, to_state=to_state, action=action,
                                          reason=reason, evidence=evidence))


async def handle_node_health_reported(event: NodeHealthReported, uow: UnitOfWork) -> None:
    found = diagnose(event)
    if found is None:
        return
    state = await uow.conn.fetchval("select state from node_states where node_id = $1", event.node_id) or "healthy"
    if state != "healthy":
        return  # already out of service; the repair in progress covers this signal too
    reason, evidence = found
    await transition(uow, event.node_id, state, "cordoned", reason, evidence)


router = Router(handlers={"NodeHealthReported": handle_node_health_reported})
