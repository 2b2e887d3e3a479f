"""Entry points: read the trace, build fleet and quota, run the simulator."""

from __future__ import annotations

from dataclasses import replace

from libs.placement import NodeSpec, Snapshot
from libs.placement.feasibility import never_fits

from .adapters import build_quota_config, fleet_nodes, placement_workload, team_quotas
from .config import ReplayConfig
from .readers import Trace, read_philly
from .readers_alibaba import read_alibaba
from .readers_yaml import read_jobs_yaml
from .sim import Progress, ReplayResult, Simulator


def read_trace(config: ReplayConfig) -> Trace:
    """Return the trace the config names (format's default directory under the traces root)."""
    source = config.trace
    if source.format == "philly":
        return read_philly(source.path or "philly", limit=source.limit)
    if source.format == "alibaba":
        return read_alibaba(source.path or "alibaba-gpu-2023", limit=source.limit)
    if not source.path:
        raise ValueError("trace format 'yaml' needs trace.path")
    return read_jobs_yaml(source.path, team_gpus=dict(config.team_gpus) or None, limit=source.limit)


def prepare(config: ReplayConfig, trace: Trace | None = None) -> Simulator:
    """Return a simulator ready to run (trace read unless given)."""
    trace = trace if trace is not None else read_trace(config)
    nodes = fleet_nodes(config, trace)
    trace = without_unfit(trace, nodes)
    quota = build_quota_config(config, trace, nodes)
    teams = team_quotas(config, trace, nodes)
    for job in trace.jobs:
        teams.setdefault(job.team, 0)
    return Simulator(config, trace, nodes, quota, teams)


def without_unfit(trace: Trace, nodes: list[NodeSpec]) -> Trace:
    """Return ``trace`` without the jobs a pod of which no node of the fleet could ever hold (too many GPUs, CPU or
    memory for every node, or no node of its GPU models), counted under ``fits_no_node`` in its read report
    (updated in place). The platform would hand such a job back to quota as never-fits, where it would wait forever
    (and, as the head of a StrictFIFO queue, hold up the rest): a replay on a fleet that cannot hold it says nothing
    about it. (A fleet scaled down with ``fleet_scale`` may lose the only node shape some pods fit.)"""
    snap = Snapshot.from_nodes(nodes)
    kept = [job for job in trace.jobs if never_fits(snap, placement_workload(job, 0, {})) is None]
    if len(kept) == len(trace.jobs):
        return trace
    left_out = len(trace.jobs) - len(kept)
    trace.report.kept -= left_out  # the report is the trace's running tally: the CLI prints it after this
    trace.report.skipped["fits_no_node"] += left_out
    trace.report.notes.append(f"{left_out} jobs left out: a pod of each fits no node of the fleet ({len(nodes)} "
                              "nodes)")
    return replace(trace, jobs=kept)


def replay(config: ReplayConfig, trace: Trace | None = None, progress: Progress | None = None) -> ReplayResult:
    """Replay the config's trace and return the result."""
    return prepare(config, trace).run(progress)
