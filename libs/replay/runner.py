"""Entry points: read the trace, build fleet and quota, run the simulator."""

from __future__ import annotations

from .adapters import build_quota_config, fleet_nodes, team_quotas
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
    quota = build_quota_config(config, trace, nodes)
    teams = team_quotas(config, trace, nodes)
    for job in trace.jobs:
        teams.setdefault(job.team, 0)
    return Simulator(config, trace, nodes, quota, teams)


def replay(config: ReplayConfig, trace: Trace | None = None, progress: Progress | None = None) -> ReplayResult:
    """Replay the config's trace and return the result."""
    return prepare(config, trace).run(progress)
