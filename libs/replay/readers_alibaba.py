"""Reader of Alibaba's GPU trace of 2023 ("openb"): pods as single-pod jobs, nodes as the fleet.

Each pod runs from ``scheduled_time`` (or ``creation_time`` when it never ran) to
``deletion_time``; it arrives at ``creation_time``. The trace has no tenants, so the QoS class
(LS, BE, Burstable, Guaranteed) stands in for the team, each with an equal GPU share.
"""

from __future__ import annotations

from pathlib import Path

from libs.placement import gpu_models_from_spec

from .readers import Trace, _rows
from .trace import ReadReport, TraceError, TraceJob, TracePodSet, resolve_trace

POD_COLUMNS = ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli", "gpu_spec", "qos",
               "creation_time", "deletion_time", "scheduled_time")


def read_alibaba(directory: str | Path = "alibaba-gpu-2023", *, limit: int | None = None,
                 pods_file: str = "openb_pod_list_default.csv",
                 nodes_file: str = "openb_node_list_gpu_node.csv") -> Trace:
    """Read the openb pods (jobs) and nodes (fleet rows); raises TraceError if a file is missing."""
    root = resolve_trace(directory)
    report = ReadReport(str(root / pods_file))
    jobs: list[TraceJob] = []
    for _, row in _rows(root / pods_file, report, POD_COLUMNS):
        job = _pod_job(row, report)
        if job is not None:
            jobs.append(job)
            if limit is not None and len(jobs) >= limit:
                break
    if not jobs:
        raise TraceError(f"{root / pods_file}: no usable rows ({report.summary()})")
    start = min(j.arrival for j in jobs)
    jobs = sorted((TraceJob(j.id, j.team, j.arrival - start, j.duration, j.pod_sets) for j in jobs),
                  key=lambda j: (j.arrival, j.id))
    report.kept = len(jobs)
    nodes = read_alibaba_nodes(root / nodes_file)
    total = sum(n["gpus"] for n in nodes)
    teams = sorted({j.team for j in jobs})
    team_gpus = {t: total // len(teams) for t in teams}
    report.notes.append(f"no tenants in openb: QoS classes are teams, {total // len(teams)} GPUs of quota each")
    return Trace("alibaba-gpu-2023", jobs, team_gpus, report, fleet_nodes=nodes)


def _pod_job(row: dict, report: ReadReport) -> TraceJob | None:
    try:
        cpu, mem = int(row["cpu_milli"]), int(row["memory_mib"])
        num_gpu, gpu_milli = int(row["num_gpu"]), int(row["gpu_milli"])
        created, deleted = float(row["creation_time"]), float(row["deletion_time"])
        started = float(row["scheduled_time"]) if (row["scheduled_time"] or "").strip() else created
    except (TypeError, ValueError):
        report.skip("bad_number")
        return None
    if min(cpu, mem, num_gpu, gpu_milli) < 0 or gpu_milli > 1000 or (num_gpu > 1 and gpu_milli != 1000):
        report.skip("bad_request")
        return None
    if deleted - started <= 0:
        report.skip("non_positive_duration")
        return None
    pods = TracePodSet("main", 1, gpus=num_gpu, gpu_milli=gpu_milli if num_gpu else 1000, cpu_milli=cpu,
                       memory_mib=mem, gpu_models=gpu_models_from_spec(row["gpu_spec"]))
    return TraceJob(row["name"], (row["qos"] or "unknown").strip() or "unknown", created, deleted - started, (pods,))


def read_alibaba_nodes(path: Path) -> list[dict]:
    """Return node rows ``{name, cpu_milli, memory_mib, gpus, model}``; bad rows are skipped."""
    report = ReadReport(str(path))
    nodes = []
    for _, row in _rows(path, report, ("sn", "cpu_milli", "memory_mib", "gpu", "model")):
        try:
            nodes.append({"name": row["sn"], "cpu_milli": int(row["cpu_milli"]),
                          "memory_mib": int(row["memory_mib"]), "gpus": int(row["gpu"]),
                          "model": (row["model"] or "").strip()})
        except (TypeError, ValueError):
            continue
    return nodes
