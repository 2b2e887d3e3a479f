"""Reader of our own job YAML: a list of ``libs.events.WorkloadSpec``-shaped jobs with arrival times.

```yaml
- {team: vision, arrival: 0, name: resnet, duration_s: 3600,
   pod_sets: [{name: workers, count: 2, requests: {gpu: 8, cpu_milli: 32000, memory_mib: 262144}}]}
```
``team`` and ``arrival`` (seconds) sit beside the WorkloadSpec fields. A job that fails
validation is skipped and counted under ``invalid_job`` (or ``bad_arrival`` / ``missing_team``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from libs.events import WorkloadSpec
from libs.events.validation import read_yaml
from libs.placement import gpu_models_from_spec
from libs.placement.inventory import gpu_request_of

from .readers import Trace
from .trace import ReadReport, TraceError, TraceJob, TracePodSet, resolve_trace


def read_jobs_yaml(path: str | Path, *, team_gpus: dict[str, int] | None = None,
                   limit: int | None = None) -> Trace:
    """Read jobs from YAML; ``team_gpus`` gives nominal quotas (default: an equal split of 64 GPUs)."""
    resolved = resolve_trace(path)
    report = ReadReport(str(resolved))
    docs = read_yaml(resolved, "job YAML", TraceError)
    if isinstance(docs, dict):
        docs = docs.get("jobs")
    if not isinstance(docs, list):
        raise TraceError(f"{resolved}: expected a list of jobs (or a mapping with 'jobs:')")
    jobs = []
    for i, item in enumerate(docs):
        report.rows += 1
        job = _job(i, item, report)
        if job is not None:
            jobs.append(job)
            if limit is not None and len(jobs) >= limit:
                break
    jobs.sort(key=lambda j: (j.arrival, j.id))
    report.kept = len(jobs)
    teams = sorted({j.team for j in jobs})
    quotas = dict(team_gpus or {})
    for team in teams:
        quotas.setdefault(team, 64 // max(len(teams), 1))
    return Trace(resolved.stem, jobs, quotas, report)


def _job(i: int, item: object, report: ReadReport) -> TraceJob | None:
    if not isinstance(item, dict):
        report.skip("not_a_mapping")
        return None
    fields = dict(item)
    team, arrival = fields.pop("team", None), fields.pop("arrival", 0)
    if not team or not isinstance(team, str):
        report.skip("missing_team")
        return None
    try:
        arrival = float(arrival)
    except (TypeError, ValueError):
        report.skip("bad_arrival")
        return None
    if arrival < 0:
        report.skip("bad_arrival")
        return None
    try:
        spec = WorkloadSpec.model_validate(fields)
    except ValidationError:
        report.skip("invalid_job")
        return None
    pod_sets = tuple(_pod_set(ps) for ps in spec.pod_sets)
    return TraceJob(f"{spec.name}-{i:05d}", team, arrival, float(spec.duration_s), pod_sets, spec.priority_class)


def _pod_set(ps) -> TracePodSet:
    r = ps.requests
    gpus, milli = gpu_request_of(r)
    return TracePodSet(ps.name, ps.count, gpus=gpus, gpu_milli=milli, cpu_milli=r.cpu_milli,
                       memory_mib=r.memory_mib, gpu_models=gpu_models_from_spec(ps.gpu_model))
