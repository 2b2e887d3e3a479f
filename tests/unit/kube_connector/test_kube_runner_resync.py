"""The reconciler's safety-net resync: workloads waiting for their pods or their eviction are looked at every
``resync_s``; running ones, whose pods' and object's watches report how they end, every ``resync_running_s``.
Looking at every running workload every five seconds (a database read each) crowded out the binds of new ones."""

from __future__ import annotations

import contextlib
from types import SimpleNamespace

from services.kube_connector import runner as runner_module
from services.kube_connector.runner import WorkloadRunner


class Pool:
    @contextlib.asynccontextmanager
    async def acquire(self):
        yield None


def row(wid: str, phase: str) -> SimpleNamespace:
    return SimpleNamespace(workload_id=wid, namespace="ns", name=wid, phase=phase)


async def test_running_workloads_are_resynced_less_often(monkeypatch):
    rows = [row("placed", "placed"), row("evicting", "evicting"), row("running", "running")]

    async def active(_conn):
        return rows

    now = [1_000.0]
    monkeypatch.setattr(runner_module.repo, "active", active)
    monkeypatch.setattr(runner_module.time, "monotonic", lambda: now[0])
    runner = WorkloadRunner(api=None, pool=Pool(), intake=None, pods=None, cluster="c", scheduler_name="batchyard",
                            clock=None, namespace="t", on_emitted=lambda: None, now=lambda: now[0],
                            resync_s=5, resync_running_s=60)

    async def resync_after(seconds: float) -> set[str]:
        now[0] += seconds
        runner.dirty.clear()
        await runner._resync()
        return set(runner.dirty)

    assert await resync_after(0) == {"placed", "evicting", "running"}, "the first resync looks at everything"
    assert await resync_after(5) == {"placed", "evicting"}
    assert await resync_after(50) == {"placed", "evicting"}
    assert await resync_after(5) == {"placed", "evicting", "running"}, "60 s on: running ones too"
    assert runner.owners == {("ns", r.name): r.workload_id for r in rows}
