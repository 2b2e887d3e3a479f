"""GPU allocation and fragmentation over time, sampled by the web view itself.

No service records a time series of GPU allocation: the scheduler keeps only the present (its ``nodes``,
``node_states`` and ``placements`` tables). So the view samples that present every ``interval_s`` into a ring
kept in memory: the series starts when ``batchyard ui`` starts and is lost when it stops (docs/ui.md).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import asdict, dataclass

from cli.reads import ReadRefused
from cli.ui.reader import Reader

OUT_OF_SERVICE = frozenset({"cordoned", "draining", "repairing", "retired"})  # node repair states the scheduler skips


@dataclass(frozen=True)
class GpuSample:
    """The fleet's GPUs at one instant (wall clock), summed over ``pool`` (or every pool for '*')."""

    at: float  # Unix seconds
    pool: str
    total: int  # GPUs on every known node
    allocated: float  # GPUs bound to pods (fractions of a GPU count as such)
    out_of_service: int  # GPUs on nodes node repair has taken out
    free: int  # GPUs of in-service nodes that no pod uses
    fragmented: int  # of those, the ones on nodes where another GPU is in use (no whole-node gang fits there)


def sample(at: float, nodes: list[tuple[str, str, int, str | None]], bound: list[tuple[str, int, int]]) -> list[
        GpuSample]:
    """Returns one sample per pool and one for every pool ('*') from the scheduler's nodes (node, pool, GPUs,
    repair state) and its bound GPUs (node, GPU index, milli)."""
    used: dict[str, dict[int, int]] = {}
    for node, index, milli in bound:
        used.setdefault(node, {}).setdefault(index, 0)
        used[node][index] += milli
    sums: dict[str, list] = {}
    for node, pool, gpus, state in nodes:
        on_node = used.get(node, {})
        out = state in OUT_OF_SERVICE
        free = 0 if out else sum(1 for i in range(gpus) if not on_node.get(i))
        fragmented = free if free < gpus and not out else 0
        for key in (pool, "*"):
            s = sums.setdefault(key, [0, 0, 0, 0, 0])
            for i, v in enumerate((gpus, sum(on_node.values()), gpus if out else 0, free, fragmented)):
                s[i] += v
    return [GpuSample(at, pool, t, round(a / 1000, 3), o, f, g) for pool, (t, a, o, f, g) in sorted(sums.items())]


async def read_gpus(conn) -> tuple[list, list]:
    """Returns (nodes, bound GPUs) as ``sample`` takes them, from the scheduler's schema."""
    nodes = [(r["node_id"], (spec := json.loads(r["spec"]))["pool"], int(spec.get("gpu") or 0), r["repair_state"])
             for r in await conn.fetch("select n.node_id, n.spec, s.repair_state from nodes n "
                                       "left join node_states s using (node_id)")]
    bound = [(node, index, milli) for r in await conn.fetch("select bound from placements where bound is not null")
             for _pod, node, _cpu, _mem, gpus in json.loads(r["bound"]) for index, milli in gpus or ()]
    return nodes, bound


class GpuSampler:
    """Samples the scheduler's GPUs every ``interval_s`` into a ring of the last ``keep`` samples."""

    def __init__(self, reader: Reader, interval_s: float = 5.0, keep: int = 720) -> None:
        self.reader = reader
        self.interval_s = interval_s
        self.ring: deque[list[GpuSample]] = deque(maxlen=keep)  # oldest first, one list of pools per instant
        self.error: dict | None = None  # why the last sample failed (reason, message), None once one works

    async def sample_once(self) -> None:
        try:
            nodes, bound = await self.reader.run("scheduler", read_gpus)
        except ReadRefused as exc:
            self.error = {"reason": exc.reason, "message": str(exc)}
            return
        self.ring.append(sample(time.time(), nodes, bound))
        self.error = None

    async def run(self) -> None:
        while True:
            await self.sample_once()
            await asyncio.sleep(self.interval_s)

    def panel(self, pool: str | None = None) -> dict:
        """Returns the series of one pool (default every pool) and the latest sample of each pool."""
        key = pool or "*"
        series = [asdict(s) for row in self.ring for s in row if s.pool == key]
        latest = [asdict(s) for s in (self.ring[-1] if self.ring else ()) if s.pool != "*"]
        return {"interval_s": self.interval_s, "pool": key, "series": series, "latest": latest,
                **({"error": self.error} if self.error and not self.ring else {})}
