"""Fluent builders for replay tests: jobs, traces, fleets and a ready simulator."""

from __future__ import annotations

from dataclasses import replace

from libs.placement import NodeSpec, Topology
from libs.replay.adapters import build_quota_config
from libs.replay.config import ReplayConfig
from libs.replay.readers import Trace
from libs.replay.sim import Simulator
from libs.replay.trace import ReadReport, TraceJob, TracePodSet


class JobBuilder:
    """``job("a").team("x").gpus(8).at(0).runs(100).obj()``"""

    def __init__(self, job_id: str):
        self._job = TraceJob(job_id, "team-a", 0.0, 60.0, (TracePodSet("main", 1, gpus=1, cpu_milli=1000),))

    def team(self, name: str) -> "JobBuilder":
        self._job = replace(self._job, team=name)
        return self

    def at(self, arrival: float) -> "JobBuilder":
        self._job = replace(self._job, arrival=float(arrival))
        return self

    def runs(self, seconds: float) -> "JobBuilder":
        self._job = replace(self._job, duration=float(seconds))
        return self

    def gpus(self, per_pod: int, pods: int = 1) -> "JobBuilder":
        self._job = replace(self._job, pod_sets=(TracePodSet("main", pods, gpus=per_pod, cpu_milli=1000 * per_pod),))
        return self

    def obj(self) -> TraceJob:
        return self._job


def job(job_id: str) -> JobBuilder:
    return JobBuilder(job_id)


def trace_of(*jobs: TraceJob, quotas: dict[str, int] | None = None) -> Trace:
    """Return a trace of ``jobs`` (sorted by arrival); each team gets 8 GPUs unless ``quotas`` says otherwise."""
    teams = {j.team: 8 for j in jobs} | (quotas or {})
    ordered = sorted(jobs, key=lambda j: (j.arrival, j.id))
    return Trace("test", ordered, teams, ReadReport("test", len(jobs), len(jobs)))


def nodes(count: int, gpus: int = 8, cpu_milli: int = 64000) -> list[NodeSpec]:
    """Return ``count`` identical GPU nodes in one pool."""
    return [NodeSpec(f"n{i}", cpu_milli, 512 * 1024, gpus, "T", "c", "p", topology=Topology(host=f"n{i}"))
            for i in range(count)]


def simulator(trace: Trace, fleet: list[NodeSpec], **config) -> Simulator:
    """Return a simulator of ``trace`` on ``fleet`` with a ReplayConfig built from ``config``."""
    cfg = ReplayConfig(**{"sample_every_s": 10.0, **config})
    quota = build_quota_config(cfg, trace, fleet)
    teams = dict(trace.team_gpus)
    return Simulator(cfg, trace, fleet, quota, teams)
