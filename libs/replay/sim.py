"""The discrete-event replay: the services' pure quota and placement cores on simulated time.

One loop: pop every event of the next instant (completions and repairs first), apply it to the
quota engine (``libs.quota.QuotaEngine``) and the node snapshot (``libs.placement.Snapshot``),
then, only if something changed, run quota cycles until they make no progress and run the
scheduler service's own placement cycle (``libs.placement.schedule``: priority order, never-fits,
node-level preemption) over the reserved gangs. Evictions restart a workload from zero after the
quota core's backoff. Deterministic: the only randomness is the seeded failure injector.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from libs.placement import DecisionKind, NodeSpec, PlacementPolicy, Snapshot, Waiting, schedule
from libs.placement.pod_mix import MixLearner
from libs.placement.schedule import lowest_bound_priority
from libs.quota import QueueingStrategy, QuotaConfig, QuotaEngine, Reason, Why

from .adapters import placement_policy, placement_workload, priority_of, quota_workload
from .capacity import may_fit
from .config import ReplayConfig
from .readers import Trace
from .state import EventKind, Phase, Run
from .timeseries import Recorder

Progress = Callable[[float, int], None]  # (simulated time, events handled)


@dataclass
class ReplayResult:
    """Everything a replay produced: workload records, time series and counters."""

    config: ReplayConfig
    trace_name: str
    teams: list[str]
    nominal: np.ndarray  # nominal GPUs per team
    runs: list[Run]
    series: dict[str, np.ndarray]
    gpu_time: np.ndarray  # running GPU-seconds per team
    end: float  # simulated time of the last event
    counters: dict[str, int] = field(default_factory=dict)
    start: float = 0.0  # simulated time of the first event
    gpu_seconds: dict[str, float] = field(default_factory=dict)  # fleet GPU-seconds, start to end (timeseries.FLEET)


class Simulator:
    """Replays one trace on one fleet under one quota configuration and placement policy."""

    def __init__(self, config: ReplayConfig, trace: Trace, nodes: list[NodeSpec], quota: QuotaConfig,
                 teams: dict[str, int]) -> None:
        self.config = config  # what to replay and how
        self.trace = trace  # the jobs, sorted by arrival
        self.jobs = {j.id: j for j in trace.jobs}  # job id -> trace job
        self.quota = quota  # the quota configuration (engine input)
        self.engine = QuotaEngine(quota)  # the quota core, fed like the quota service feeds it
        self.snap = Snapshot.from_nodes(nodes)  # the placement core's node snapshot
        self.learner = MixLearner(placement_policy(config, trace))  # the policy; typical pods learned if it says so
        self.node_preemption = config.placement.node_preemption  # as the scheduler service's (on by default)
        self.teams = sorted(teams)  # team names; a Run holds its index
        self.team_index = {t: i for i, t in enumerate(self.teams)}
        self.recorder = Recorder(self.teams, np.array([teams[t] for t in self.teams]), config.sample_every_s)
        self.kueue_units = config.quota_file is not None  # requests in Kueue resources, not generated ones
        self.runs: dict[str, Run] = {}  # workload id -> replay state
        self.unplaced: dict[str, Waiting] = {}  # reserved, waiting for nodes: the placement cycle's input
        self.reserved = 0  # reservations so far: a waiting gang's arrival order
        self.heap: list[tuple] = []  # (time, kind, seq, key, generation)
        self.seq = 0  # tie breaker: FIFO among equal (time, kind)
        self.rng = random.Random(config.failures.seed)  # failure injection only
        self.capacity_epoch = 0  # bumped whenever nodes or pods free capacity
        self.tried_at: dict[str, int] = {}  # workload id -> capacity epoch of its last failed placement
        self.strict = {n for n, s in quota.cluster_queues.items()
                       if s.queueing_strategy is QueueingStrategy.STRICT_FIFO}
        self.counters = {"events": 0, "cycles": 0, "placements": 0, "placement_failures": 0,
                         "preemptions": 0, "node_preemptions": 0, "failure_evictions": 0, "node_failures": 0,
                         "never_fits": 0}
        self.dirty = False  # something changed since the last scheduling pass
        self.remaining = len(trace.jobs)  # workloads not yet done; the replay ends at 0
        self.work_events = 0  # queued events other than failure injection
        self.down: set[str] = set()  # failed nodes awaiting repair
        self.tick_pending = False  # a TICK event is queued (cycle_interval_s > 0)

    # -- events -------------------------------------------------------------------------------
    def push(self, t: float, kind: EventKind, key: str, generation: int = 0) -> None:
        """Schedule an event."""
        self.seq += 1
        if kind not in (EventKind.FAIL, EventKind.REPAIR):
            self.work_events += 1
        heapq.heappush(self.heap, (t, int(kind), self.seq, key, generation))

    def run(self, progress: Progress | None = None, every: int = 2000) -> ReplayResult:
        """Replay every event to the end (or the horizon) and return the result."""
        for job in self.trace.jobs:
            self.push(job.arrival, EventKind.ARRIVE, job.id)
        if self.trace.jobs:
            self.recorder.begin(self.trace.jobs[0].arrival)  # sorted by arrival: the makespan starts here
        self._seed_failures()
        horizon = self.config.horizon_s
        end = 0.0
        while self.heap:
            t = self.heap[0][0]
            if horizon is not None and t > horizon:
                break
            self.recorder.advance(t, self.snap)
            while self.heap and self.heap[0][0] == t:
                _, kind, _, key, gen = heapq.heappop(self.heap)
                if kind not in (EventKind.FAIL, EventKind.REPAIR):
                    self.work_events -= 1
                self._handle(EventKind(kind), key, gen, t)
                self.counters["events"] += 1
                if progress is not None and self.counters["events"] % every == 0:
                    progress(t, self.counters["events"])
            if self.dirty:
                self._maybe_schedule(t)
            end = t
            if self.remaining == 0 or (self.work_events == 0 and not self.down):
                break  # done, or stuck for good: only failure injection is left
        if progress is not None:
            progress(end, self.counters["events"])
        return self._result(end)

    def _handle(self, kind: EventKind, key: str, gen: int, t: float) -> None:
        if kind is EventKind.ARRIVE:
            self._arrive(key, t)
        elif kind is EventKind.COMPLETE:
            self._complete(key, gen, t)
        elif kind is EventKind.FAIL:
            self._fail(key, t)
        elif kind is EventKind.REPAIR:
            self._repair(key, t)
        elif kind is EventKind.TICK:
            self.tick_pending, self.dirty = False, True
        else:
            self.dirty = True

    def _maybe_schedule(self, t: float) -> None:
        """Schedule now, or at the next cycle tick when cycles run on an interval."""
        interval = self.config.cycle_interval_s
        if interval <= 0:
            self._schedule(t)
            return
        tick = -(-t // interval) * interval
        if tick <= t:
            self._schedule(t)
        elif not self.tick_pending:
            self.push(tick, EventKind.TICK, "")
            self.tick_pending = True

    def _arrive(self, job_id: str, t: float) -> None:
        job = self.jobs[job_id]
        priority = priority_of(self.config, self.quota, job)
        run = Run(job, self.team_index[job.team], priority, job.gpus)
        self.runs[job.id] = run
        self.engine.add_workload(quota_workload(job, priority, self.kueue_units), t)
        self.recorder.waiting[run.team] += run.gpus
        self.dirty |= self._is_head(job.id, t)

    def _is_head(self, workload_id: str, t: float) -> bool:
        """Return whether a new arrival is (or may be) a head: only heads change a quota cycle.

        Behind another head in a StrictFIFO queue it changes nothing until that head leaves,
        which is itself an event that triggers a cycle; this skips most cycles under backlog.
        """
        for name, queue in self.engine.pending.items():
            if workload_id in queue.entries:
                if name not in self.strict:
                    return True
                head = queue.head(t)
                return head is not None and head.workload.id == workload_id
        return True  # unrouted: let a cycle report it

    def _complete(self, job_id: str, gen: int, t: float) -> None:
        run = self.runs[job_id]
        if run.generation != gen or run.phase is not Phase.RUNNING:
            return  # evicted since this completion was scheduled
        self.snap.unbind_workload(job_id)
        self.engine.finish(job_id)
        run.phase, run.finish = Phase.DONE, t
        self.remaining -= 1
        self.recorder.alloc[run.team] -= run.gpus
        self.capacity_epoch += 1
        self.dirty = True

    # -- failures -----------------------------------------------------------------------------
    def _seed_failures(self) -> None:
        mtbf = self.config.failures.node_mtbf_hours
        if mtbf is None:
            return
        for name in sorted(self.snap.index):
            self.push(self.rng.expovariate(1.0 / (mtbf * 3600)), EventKind.FAIL, name)

    def _fail(self, node: str, t: float) -> None:
        slot = self.snap.index[node]
        victims = sorted({p.workload_id for p in self.snap.pods_on[slot].values()})
        self.snap.set_healthy(node, False)
        self.down.add(node)
        self.counters["node_failures"] += 1
        for workload_id in victims:
            why = Why(Reason.EVICTED, f"node {node} failed")
            self._evict(self.runs[workload_id], why, t, preempted=False)
        self.push(t + self.rng.expovariate(1.0 / (self.config.failures.mttr_hours * 3600)), EventKind.REPAIR, node)

    def _repair(self, node: str, t: float) -> None:
        self.snap.set_healthy(node, True)
        self.down.discard(node)
        self.capacity_epoch += 1
        self.dirty = True
        mtbf = self.config.failures.node_mtbf_hours
        if mtbf is not None and self.remaining:  # keep failing nodes only while work remains
            self.push(t + self.rng.expovariate(1.0 / (mtbf * 3600)), EventKind.FAIL, node)

    def _evict(self, run: Run, why: Why, t: float, *, preempted: bool) -> None:
        """Evict a reserved or running workload: free its nodes, release quota, requeue with backoff."""
        if run.phase is Phase.RUNNING:
            self.snap.unbind_workload(run.job.id)
            run.lost_gpu_s += (t - (t if run.last_start is None else run.last_start)) * run.gpus
            self.recorder.alloc[run.team] -= run.gpus
            self.recorder.waiting[run.team] += run.gpus
            self.capacity_epoch += 1
        elif run.phase is not Phase.RESERVED:
            return
        self.unplaced.pop(run.job.id, None)
        run.generation += 1
        run.phase, run.admission = Phase.PENDING, None
        if preempted:
            run.preemptions += 1
            self.counters["preemptions"] += 1
        else:
            run.failures += 1
            self.counters["failure_evictions"] += 1
        requeue_at = self.engine.evict(run.job.id, why, t)
        if requeue_at is not None:
            self.push(requeue_at, EventKind.WAKE, run.job.id)
        self.dirty = True

    # -- scheduling ---------------------------------------------------------------------------
    def _schedule(self, t: float) -> None:
        """Run quota cycles until one makes no progress, then place the reserved gangs."""
        self.dirty = False
        while True:
            result = self.engine.run_cycle(t)
            self.counters["cycles"] += 1
            progress = bool(result.admitted)
            for admitted in result.admitted:
                run = self.runs[admitted.workload_id]
                run.phase, run.admission = Phase.RESERVED, admitted.admission
                if run.first_reserved is None:
                    run.first_reserved = t
                self._reserve(run, t)
            for preempting in result.preempting:
                for target in preempting.targets:
                    why = Why(target.reason, f"preempted by {preempting.workload_id} ({target.reason.value})")
                    self._evict(self.runs[target.workload_id], why, t, preempted=True)
                    progress = True
            progress |= any(p.step_aside and p.cluster_queue not in self.strict for p in result.pending)
            if not progress:
                break
        self.dirty = False
        self._place(t)

    @property
    def policy(self) -> PlacementPolicy:
        """The placement policy in force (with learned typical pods, as the scheduler's, if it learns them)."""
        return self.learner.policy

    def _reserve(self, run: Run, t: float) -> None:
        labels = dict(run.admission.node_labels) if run.admission is not None else {}
        self.reserved += 1
        workload = placement_workload(run.job, run.priority, labels)
        self.learner.learn(workload, t)  # as the scheduler learns every reservation it is asked to place
        self.unplaced[run.job.id] = Waiting(workload, self.reserved)

    def _place(self, t: float) -> None:
        """Run the placement cycle over the reserved gangs; evict the victims of node-level preemption at once,
        then run it again so their preemptors take the freed nodes (at most a few rounds: later ones wait).

        Like the service, a gang that did not fit is tried again only once capacity was freed (the service
        retries on a freed node or an ended workload), and a necessary free-whole-GPU check skips hopeless
        tries for gangs that could not preempt anyone.
        """
        for _ in range(3):
            tried = self._to_try()
            if not tried:
                return
            result = schedule(self.snap, tried, self.policy, t, preempt=self.node_preemption,
                              min_runtime=self.config.min_runtime_s)
            preempted, epoch = False, self.capacity_epoch  # evicting victims below frees capacity: a new epoch
            for d in result.decisions:
                run = self.runs[d.workload_id]
                if d.kind is DecisionKind.PLACED:
                    self._start(run, t)
                    continue
                self.tried_at[d.workload_id] = epoch
                if d.kind is DecisionKind.NEVER_FITS:
                    self._hand_back(run, t)
                elif d.kind is DecisionKind.PREEMPTING:
                    for victim in d.victims:
                        why = Why(Reason.EVICTED, f"preempted on its nodes by {d.workload_id} "
                                                  f"(priority {run.priority})")
                        self._evict(self.runs[victim.workload_id], why, t, preempted=True)
                        self.counters["node_preemptions"] += 1
                    preempted = True
                else:
                    self.counters["placement_failures"] += 1
            for job_id in result.skipped:
                self.tried_at[job_id] = epoch
            if not preempted:
                return

    def _hand_back(self, run: Run, t: float) -> None:
        """A reserved gang no node of its flavors could ever hold, handed back as the quota service takes the
        scheduler's never-fits: its reservation is released and those flavors are excluded for it, so it queues
        for another flavor, or waits unadmitted holding no quota (counted in ``never_fits``, left unfinished)."""
        unfit = frozenset(f for a in run.admission.pod_sets for f in a.flavors.values())
        self.unplaced.pop(run.job.id, None)
        self.engine.finish(run.job.id)
        run.phase, run.admission = Phase.PENDING, None
        run.generation += 1
        workload = quota_workload(run.job, run.priority, self.kueue_units)
        workload = replace(workload, pod_sets=tuple(replace(ps, excluded_flavors=ps.excluded_flavors | unfit)
                                                    for ps in workload.pod_sets))
        self.engine.add_workload(workload, t)
        self.counters["never_fits"] += 1
        self.dirty = True

    def _to_try(self) -> list[Waiting]:
        """Return the waiting gangs worth a cycle: not tried since capacity was last freed, and, after their first
        try (which always runs, so the core can say never-fits), not ruled out by free whole GPUs alone (unless they
        could preempt a lower-priority gang)."""
        lowest: int | None = None
        chosen, looked = [], False
        for job_id, waiting in self.unplaced.items():
            if self.tried_at.get(job_id) == self.capacity_epoch:
                continue
            if job_id in self.tried_at and not may_fit(self.snap, self.jobs[job_id]):
                if self.node_preemption and not looked:  # only now: it walks every bound gang
                    lowest, looked = lowest_bound_priority(self.snap), True
                if lowest is None or lowest >= waiting.workload.priority:  # it could not preempt anyone either
                    self.tried_at[job_id] = self.capacity_epoch  # place() would fail too
                    continue
            chosen.append(waiting)
        return chosen

    def _start(self, run: Run, t: float) -> None:
        assert run.phase is Phase.RESERVED, f"{run.job.id} started twice"
        del self.unplaced[run.job.id]
        self.tried_at.pop(run.job.id, None)
        self.engine.mark_placed(run.job.id)
        run.phase, run.last_start, run.starts = Phase.RUNNING, t, run.starts + 1
        if run.first_start is None:
            run.first_start = t
        self.recorder.alloc[run.team] += run.gpus
        self.recorder.waiting[run.team] -= run.gpus
        self.counters["placements"] += 1
        self.push(t + run.job.duration, EventKind.COMPLETE, run.job.id, run.generation)

    def _result(self, end: float) -> ReplayResult:
        recorder = self.recorder
        recorder.finish(self.snap)
        runs = [self.runs[j.id] for j in self.trace.jobs if j.id in self.runs]
        return ReplayResult(self.config, self.trace.name, self.teams, recorder.nominal, runs, recorder.arrays(),
                            recorder.gpu_time.copy(), end, dict(self.counters),
                            start=end if recorder.start is None else recorder.start, gpu_seconds=recorder.totals())
