"""Trace readers: Philly (jobs per virtual cluster), Alibaba openb (pods and nodes), our job YAML.

Every reader returns a ``Trace``: jobs sorted by arrival, each team's nominal GPU quota, and a
``ReadReport``. A bad row is skipped and counted under a reason; a missing file is a TraceError.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Iterator

from .trace import ReadReport, TraceError, TraceJob, TracePodSet, resolve_trace

PHILLY_GPUS_PER_NODE = 8  # the Helios model behind philly_vc.csv
PHILLY_DEFAULT_VC_NODES = 1  # nodes given to a VC missing from philly_vc.csv


@dataclass
class Trace:
    """A workload trace ready to replay."""

    name: str
    jobs: list[TraceJob]  # sorted by (arrival, id)
    team_gpus: dict[str, int]  # team -> nominal GPU quota (the team's entitled share)
    report: ReadReport
    fleet_nodes: list[dict] = field(default_factory=list)  # node rows when the trace brings its fleet


def _rows(path: Path, report: ReadReport, columns: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    try:
        handle = path.open(newline="")
    except OSError as exc:
        raise TraceError(f"{path}: cannot open trace: {exc}") from None
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in columns if c not in (reader.fieldnames or ())]
        if missing:
            raise TraceError(f"{path}: missing columns {missing} (header: {reader.fieldnames})")
        for lineno, row in enumerate(reader, start=2):
            if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
                continue  # blank line: not a row
            report.rows += 1
            yield lineno, row


def philly_gang(num_gpus: int, cpu_per_gpu: int, mem_per_gpu: int) -> tuple[TracePodSet, ...]:
    """Return the gang of a Philly job: one pod up to 8 GPUs, else equal pods of ≤ 8 GPUs each."""
    per_pod = num_gpus if num_gpus <= PHILLY_GPUS_PER_NODE else max(
        d for d in range(1, PHILLY_GPUS_PER_NODE + 1) if num_gpus % d == 0)
    count = num_gpus // per_pod
    return (TracePodSet("workers", count, gpus=per_pod, cpu_milli=per_pod * cpu_per_gpu,
                        memory_mib=per_pod * mem_per_gpu),)


def read_philly_vcs(path: Path) -> dict[str, int]:
    """Return VC -> node count from philly_vc.csv (columns ``vc, node num``)."""
    report = ReadReport(str(path))
    out: dict[str, int] = {}
    for _, row in _rows(path, report, ("vc", "node num")):
        try:
            out[row["vc"].strip()] = int(row["node num"])
        except (TypeError, ValueError):
            continue
    return out


def read_philly(directory: str | Path = "philly", *, limit: int | None = None, cpu_per_gpu: int = 6000,
                mem_per_gpu: int = 49152) -> Trace:
    """Read philly.csv and philly_vc.csv; each VC is a team with nodes × 8 GPUs as nominal quota."""
    root = resolve_trace(directory)
    jobs_path = root / "philly.csv" if root.is_dir() else root
    report = ReadReport(str(jobs_path))
    raw: list[tuple[datetime, int, float, int, str]] = []
    for lineno, row in _rows(jobs_path, report, ("timestamp", "duration", "num_gpus", "cluster")):
        try:
            ts = datetime.strptime((row["timestamp"] or "").strip(), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            report.skip("bad_timestamp")
            continue
        parsed = _philly_numbers(row, report)
        if parsed is None:
            continue
        raw.append((ts, lineno, parsed[0], parsed[1], parsed[2]))
        if limit is not None and len(raw) >= limit:
            break
    if not raw:
        raise TraceError(f"{jobs_path}: no usable rows ({report.summary()})")
    start = min(r[0] for r in raw)
    jobs = [TraceJob(f"philly-{lineno:05d}", vc, (ts - start).total_seconds(), duration,
                     philly_gang(gpus, cpu_per_gpu, mem_per_gpu))
            for ts, lineno, duration, gpus, vc in raw]
    jobs.sort(key=lambda j: (j.arrival, j.id))
    report.kept = len(jobs)
    vc_path = (root if root.is_dir() else root.parent) / "philly_vc.csv"
    vcs = read_philly_vcs(vc_path) if vc_path.exists() else {}
    if not vcs:
        report.notes.append(f"{vc_path} missing: every VC gets the default quota")
    team_gpus = {vc: nodes * PHILLY_GPUS_PER_NODE for vc, nodes in vcs.items()}
    missing = sorted({j.team for j in jobs} - set(team_gpus))
    for vc in missing:
        team_gpus[vc] = PHILLY_DEFAULT_VC_NODES * PHILLY_GPUS_PER_NODE
    if missing:
        report.notes.append(f"{len(missing)} VCs missing from philly_vc.csv ({', '.join(missing)}) get a default "
                            f"quota of {PHILLY_DEFAULT_VC_NODES} node ({PHILLY_DEFAULT_VC_NODES * 8} GPUs) each")
    return Trace("philly", jobs, team_gpus, report)


def _philly_numbers(row: dict, report: ReadReport) -> tuple[float, int, str] | None:
    try:
        duration = float(row["duration"])
    except (TypeError, ValueError):
        report.skip("bad_duration")
        return None
    if not duration > 0:
        report.skip("non_positive_duration")
        return None
    try:
        gpus = int(float(row["num_gpus"]))
    except (TypeError, ValueError):
        report.skip("bad_num_gpus")
        return None
    if gpus <= 0 or gpus != float(row["num_gpus"]):
        report.skip("bad_num_gpus")
        return None
    vc = (row.get("cluster") or "").strip()
    if not vc:
        report.skip("missing_cluster")
        return None
    return duration, gpus, vc
