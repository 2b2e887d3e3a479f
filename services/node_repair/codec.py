"""Translations at node-repair's edges: health events -> libs/repair signals, and planner records <-> JSON rows.

Pure functions only; the repository stores what they return.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from libs.events import ClusterStatusReported, NodeHealthReported
from libs.repair import (
    Action,
    ConditionObserved,
    ConditionType,
    DiskObserved,
    EccObserved,
    FleetSignal,
    HeartbeatObserved,
    NodeHealth,
    NodeRecord,
    NodeState,
    OccupancyObserved,
    RepairAttempt,
    RepairFinished,
    XidObserved,
)
from libs.repair.clusters import ClusterReach, ClusterReport

CONDITIONS = {c.value: c for c in ConditionType}


def cluster_report(event: ClusterStatusReported) -> ClusterReport:
    """Returns the reachability core's view of one cluster heartbeat."""
    return ClusterReport(event.cluster, event.occurred_at, event.reachable, event.message)


def reach_to_json(c: ClusterReach) -> dict:
    return {"first_heard": _t(c.first_heard), "last_reachable": _t(c.last_reachable),
            "last_failure": _t(c.last_failure), "message": c.message, "unreachable_since": _t(c.unreachable_since),
            "back_at": _t(c.back_at)}


def reach_from_json(cluster: str, d: dict) -> ClusterReach:
    return ClusterReach(cluster, _d(d.get("first_heard")), _d(d.get("last_reachable")), _d(d.get("last_failure")),
                        d.get("message", ""), _d(d.get("unreachable_since")), _d(d.get("back_at")))


def to_signals(event: NodeHealthReported) -> list[FleetSignal]:
    """Returns the planner signals one health report carries (a report from a live agent is a heartbeat)."""
    node, at = event.node_id, event.occurred_at
    out: list[FleetSignal] = []
    if event.heartbeat and event.repair_action is None:
        out.append(HeartbeatObserved(node, at))
    for name, status in event.conditions.items():
        if name in CONDITIONS:
            out.append(ConditionObserved(node, at, CONDITIONS[name], status, event.conditions_since.get(name, at)))
    gpu = event.gpu or 0
    out += [XidObserved(node, at, code, gpu) for code in event.xid_codes]
    if event.ecc_uncorrectable or event.ecc_correctable or event.remap_pending or event.remap_failed:
        out.append(EccObserved(node, at, gpu, event.ecc_correctable, event.ecc_uncorrectable,
                               event.remap_pending, event.remap_failed))
    if event.disk_used_percent is not None:
        out.append(DiskObserved(node, at, event.disk_used_percent))
    if event.running_pods is not None:
        out.append(OccupancyObserved(node, at, event.running_pods, timedelta(seconds=event.termination_grace_s or 0)))
    if event.repair_action is not None:
        out.append(RepairFinished(node, at, Action(event.repair_action), bool(event.repair_ok), event.repair_detail))
    return out


def _t(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _d(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def record_to_json(r: NodeRecord) -> dict:
    return {"state": r.state.value, "since": _t(r.since), "action": r.action.value,
            "wanted_since": _t(r.wanted_since), "drain_deadline": _t(r.drain_deadline),
            "history": [[_t(h.at), h.action.value, h.ok] for h in r.history]}


def record_from_json(node: str, pool: str, domain: str, d: dict | None) -> NodeRecord:
    if not d:
        return NodeRecord(node, pool, domain)
    return NodeRecord(node, pool, domain, NodeState(d["state"]), _d(d["since"]), Action(d["action"]),
                      _d(d["wanted_since"]), _d(d["drain_deadline"]),
                      tuple(RepairAttempt(_d(at), Action(a), ok) for at, a, ok in d["history"]))


def health_to_json(h: NodeHealth, forget_before: datetime | None = None) -> dict:
    """Returns the folded health as JSON; XIDs older than ``forget_before`` are dropped (outside the window)."""
    xids = sorted((x for x in h.xids if forget_before is None or x.at >= forget_before),
                  key=lambda x: (x.at, x.code, x.gpu))
    return {"conditions": {t.value: [_t(c.at), c.status, _t(c.since)] for t, c in h.conditions.items()},
            "last_heartbeat": _t(h.last_heartbeat), "xids": [[_t(x.at), x.code, x.gpu] for x in xids],
            "ecc": {str(g): [_t(e.at), e.correctable, e.uncorrectable, e.remap_pending, e.remap_failed]
                    for g, e in h.ecc.items()},
            "disk": [_t(h.disk.at), h.disk.used_percent] if h.disk else None, "cleared_at": _t(h.cleared_at)}


def health_from_json(node: str, d: dict | None) -> NodeHealth:
    if not d:
        return NodeHealth(node)
    conditions = {CONDITIONS[t]: ConditionObserved(node, _d(at), CONDITIONS[t], status, _d(since))
                  for t, (at, status, since) in d["conditions"].items()}
    ecc = {int(g): EccObserved(node, _d(at), int(g), c, u, p, f) for g, (at, c, u, p, f) in d["ecc"].items()}
    disk = DiskObserved(node, _d(d["disk"][0]), d["disk"][1]) if d["disk"] else None
    return NodeHealth(node, conditions, _d(d["last_heartbeat"]),
                      frozenset(XidObserved(node, _d(at), code, gpu) for at, code, gpu in d["xids"]),
                      ecc, disk, _d(d["cleared_at"]))


def occupancy_to_json(o: OccupancyObserved | None) -> list | None:
    return [_t(o.at), o.running_pods, o.grace.total_seconds()] if o else None


def occupancy_from_json(node: str, d: list | None) -> OccupancyObserved | None:
    return OccupancyObserved(node, _d(d[0]), d[1], timedelta(seconds=d[2])) if d else None


def result_to_json(r: RepairFinished | None) -> list | None:
    return [_t(r.at), r.action.value, r.ok, r.detail] if r else None


def result_from_json(node: str, d: list | None) -> RepairFinished | None:
    return RepairFinished(node, _d(d[0]), Action(d[1]), d[2], d[3]) if d else None
