"""The chaos run's four checks, computed from the event log (what a read_committed observer saw on the topics),
never from the services' own tables; only the ledger, the thing the fourth check audits, is read from Postgres."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from libs.cost import NodeSpec, Resources
from libs.cost.catalog import PriceKey, PriceVersion
from libs.cost.shares import IDLE, cost_node_hour
from libs.cost.usage import hours_touched
from libs.events import decode
from libs.fleet.spec import FleetSpec
from libs.platform.observer import FlowObserver
from services.cost_reporting.booking import CONFIG
from services.cost_reporting.usage import Fact, derive_allocations, placed_allocations, to_interval

LIFECYCLE, PLACEMENT, QUOTA = "batchyard.workload.lifecycle", "batchyard.workload.placement", "batchyard.workload.quota"
FINAL = {"WorkloadSucceeded": "succeeded", "WorkloadFailed": "failed", "WorkloadRejected": "rejected",
         "WorkloadCancelled": "cancelled"}
ENDS = ("WorkloadSucceeded", "WorkloadFailed", "WorkloadEvicted")


class ChaosObserver(FlowObserver):
    """The flow observer, plus every node-repair transition and node inventory, in arrival order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.transitions: list = []
        self.inventory: dict[str, datetime] = {}  # node id -> occurred_at of its first NodeInventoried

    def _observe(self, record) -> None:
        try:
            event = decode(record.value)
            fresh = event.event_id not in self.seen_ids
        except Exception:  # noqa: BLE001 - the base class counts undecodable records
            event, fresh = None, False
        super()._observe(record)
        if not fresh:
            return
        if event.type == "NodeRepairTransitioned":
            self.transitions.append(event)
        elif event.type == "NodeInventoried":
            self.inventory.setdefault(event.node_id, event.occurred_at)


def events(observer: FlowObserver, workload: str, topic: str) -> list:
    """Returns the distinct events of one workload on one topic, in the order its partition carried them."""
    return [e for _, _, e in observer.workloads[workload].log.get(topic, [])] if workload in observer.workloads \
        else []


def final_states(observer: FlowObserver, ids: list[str]) -> tuple[Counter, list[str]]:
    """Returns the count per final state, and every workload without exactly one final event."""
    states, problems = Counter(), []
    for w in ids:
        finals = [e for topic in (LIFECYCLE, "batchyard.workload.admission") for e in events(observer, w, topic)
                  if e.type in FINAL]
        if len(finals) == 1:
            states[FINAL[finals[0].type]] += 1
        else:
            states["not final" if not finals else "several finals"] += 1
            problems.append(f"{w}: final events {[e.type for e in finals]}")
    return states, problems


def double_placements(observer: FlowObserver, ids: list[str]) -> tuple[int, list[str]]:
    """Returns the number of placements, and every workload placed while a placement of it was live: more
    placements than evictions + 1 (the scheduler placed it again), or, on the fleet's own ordered stream of it,
    a second run starting before the first ended."""
    placements, problems = 0, []
    for w in ids:
        placed = [e for e in events(observer, w, PLACEMENT) if e.type == "WorkloadPlaced"]
        lifecycle = events(observer, w, LIFECYCLE)
        evicted = sum(e.type == "WorkloadEvicted" for e in lifecycle)
        placements += len(placed)
        if len(placed) > 1 + evicted:
            problems.append(f"{w}: placed {len(placed)} times on {[a.node_id for p in placed for a in p.assignments]}"
                            f" with {evicted} evictions")
        running = False
        for e in lifecycle:
            if e.type == "WorkloadRunning" and running:
                problems.append(f"{w}: ran again before its run ended: {[x.type for x in lifecycle]}")
            running = e.type == "WorkloadRunning" or (running and e.type not in ENDS)
    return placements, problems


@dataclass(frozen=True)
class QuotaLimits:
    """cluster queue -> (cohort, nominal + borrowing limit in millicores); cohort -> nominal sum in millicores."""

    queues: dict[str, tuple[str, int]]
    cohorts: dict[str, int]


@dataclass
class QuotaAudit:
    reservations: int = 0
    peak: dict[str, int] = field(default_factory=dict)  # cluster queue or cohort -> largest CPU use seen
    problems: list[str] = field(default_factory=list)


def quota_audit(observer: FlowObserver, ids: list[str], limits: QuotaLimits) -> QuotaAudit:
    """Replays every QuotaReserved / QuotaReleased in quota's decision order (one leader at a time, its clock);
    returns the peaks and every instant a cluster queue or cohort held more CPU than its quota allows."""
    moves = [e for w in ids for e in events(observer, w, QUOTA) if e.type in ("QuotaReserved", "QuotaReleased")]
    moves.sort(key=lambda e: (e.occurred_at, e.type == "QuotaReserved"))  # a release frees before the next reserve
    held: dict[str, tuple[str, int]] = {}
    use: Counter = Counter()
    audit = QuotaAudit()
    for e in moves:
        if e.type == "QuotaReleased":
            if e.workload_id in held:
                cq, cpu = held.pop(e.workload_id)
                use[cq] -= cpu
                use[limits.queues[cq][0]] -= cpu
            continue
        audit.reservations += 1
        if e.workload_id in held:
            audit.problems.append(f"{e.occurred_at} {e.workload_id}: reserved again while holding quota")
            continue
        cq, cpu = e.cluster_queue, sum(ps.count * ps.requests.cpu_milli for ps in e.spec.pod_sets)
        held[e.workload_id] = (cq, cpu)
        cohort, limit = limits.queues[cq]
        use[cq] += cpu
        use[cohort] += cpu
        for key, cap in ((cq, limit), (cohort, limits.cohorts[cohort])):
            audit.peak[key] = max(audit.peak.get(key, 0), use[key])
            if use[key] > cap:
                audit.problems.append(f"{e.occurred_at} {e.workload_id}: {key} at {use[key]}m CPU, quota {cap}m")
    return audit


@dataclass
class RepairAudit:
    started: int = 0  # healthy/suspect -> cordoned
    finished: int = 0  # repairing -> healthy
    handed_back: int = 0  # cordoned -> healthy (uncordoned before the drain), or retired (handed to a human)
    open: list[str] = field(default_factory=list)  # started and neither finished nor handed back


def repair_audit(transitions: list) -> RepairAudit:
    """Pairs each repair's start (a cordon) with its end on the node's own ordered stream of transitions."""
    audit, open_since = RepairAudit(), {}
    for t in sorted(enumerate(transitions), key=lambda p: (p[1].node_id, p[1].occurred_at, p[0])):
        t = t[1]
        if t.to_state == "cordoned":
            audit.started += 1
            open_since[t.node_id] = t
        elif t.to_state in ("healthy", "retired") and open_since.pop(t.node_id, None):
            if t.to_state == "healthy" and t.from_state == "repairing":
                audit.finished += 1
            else:
                audit.handed_back += 1
    audit.open = [f"{n}: cordoned at {t.occurred_at} ({t.reason}), not back" for n, t in sorted(open_since.items())]
    return audit


def node_specs(fleet: FleetSpec) -> tuple[dict[str, NodeSpec], dict[str, int]]:
    """Returns each node's cost spec (the cost service's units: millicores, MiB, milli-GPUs) and hourly micros."""
    specs, prices = {}, {}
    for e in fleet.node_events():
        specs[e.node_id] = NodeSpec(node=e.node_id, cluster=e.cluster, pool=e.pool, instance_type=e.instance_type,
                                    gpu_model=e.gpu_model or "", capacity=Resources(
                                        cpu_millis=e.cpu_milli, memory_bytes=e.memory_mib, gpus=e.gpu * 1000))
        prices[e.node_id] = e.price_per_hour_micros
    return specs, prices


def expected_usage(observer: FlowObserver, ids: list[str], fleet: FleetSpec) -> dict[tuple[str, datetime], dict]:
    """Returns (node, hour) -> party -> micros for every node-hour a run touched: each run's interval from the
    log's placements, starts and ends, split by libs/cost at the fleet's price (the hour's remainder is IDLE)."""
    specs, prices = node_specs(fleet)
    intervals = defaultdict(list)
    for w in ids:
        facts = []
        for e in events(observer, w, PLACEMENT):
            if e.type == "WorkloadPlaced":
                facts.append(Fact(e.event_id, "placed", e.occurred_at, allocations=tuple(placed_allocations(e))))
        for e in events(observer, w, LIFECYCLE):
            if e.type == "WorkloadRunning" or e.type in ENDS:
                facts.append(Fact(e.event_id, "running" if e.type == "WorkloadRunning" else "ended", e.occurred_at))
        for allocation in derive_allocations(w, facts).values():
            assert allocation.end is not None, f"{w}: a run never ended: {allocation}"
            interval = to_interval(allocation, None)
            for hour in hours_touched(interval.start, interval.end):
                intervals[(interval.node, hour)].append(interval)
    out = {}
    for (node, hour), ivs in intervals.items():
        spec = specs[node]
        price = PriceVersion(PriceKey(spec.cluster, spec.pool, spec.instance_type), hour, prices[node])
        out[(node, hour)] = cost_node_hour(spec, hour, price, ivs, CONFIG).amounts
    return out


@dataclass
class LedgerAudit:
    node_hours: int = 0  # node-hours booked
    booked: int = 0  # micros in the ledger
    expected: int = 0  # node-hours x price, micros
    workload_micros: int = 0  # of which booked to workloads
    log_workload_micros: int = 0  # what the log's runs cost, by libs/cost
    problems: list[str] = field(default_factory=list)


def ledger_audit(rows: list, expected: dict[tuple[str, datetime], dict], prices: dict[str, int],
                 first_hour: dict[str, datetime], closed_through: datetime | None) -> LedgerAudit:
    """Compares the ledger (rows of node_id, hour, party, amount) with node-hours x price: every node-hour from
    the node's first hour up to the closed watermark, and every one a run touched, is booked at exactly its price,
    each run's part exactly what libs/cost makes of the log's intervals; nothing else is booked."""
    booked: dict[tuple[str, datetime], Counter] = defaultdict(Counter)
    for r in rows:
        booked[(r["node_id"], r["hour"])][r["party"]] += r["amount_micros"]
    want = set(expected)
    for node, first in first_hour.items():
        hour = first
        while closed_through is not None and hour < closed_through:
            want.add((node, hour))
            hour += timedelta(hours=1)
    audit = LedgerAudit(node_hours=len(booked), booked=sum(sum(c.values()) for c in booked.values()),
                        expected=sum(prices[n] for n, _ in want))
    audit.workload_micros = sum(v for c in booked.values() for p, v in c.items() if p != IDLE)
    audit.log_workload_micros = sum(v for c in expected.values() for p, v in c.items() if p != IDLE)
    for key in sorted(want | set(booked)):
        node, hour = key
        got = {p: v for p, v in booked.get(key, {}).items() if v}
        if key not in want:
            audit.problems.append(f"{node} {hour}: booked {got} but no run touched it and it is not closed")
        elif sum(got.values()) != prices[node]:
            audit.problems.append(f"{node} {hour}: booked {sum(got.values())}, price {prices[node]}")
        elif key in expected and got != (want_parties := {p: v for p, v in expected[key].items() if v}):
            diff = {p: (got.get(p, 0), want_parties.get(p, 0)) for p in got.keys() | want_parties.keys()
                    if got.get(p, 0) != want_parties.get(p, 0)}
            audit.problems.append(f"{node} {hour}: party: (booked, from the log) {diff}")
    return audit
