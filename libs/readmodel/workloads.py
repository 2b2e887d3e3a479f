"""The workload read model: list workloads and describe one, across admission's, quota's, the scheduler's and
cost reporting's schemas (docs/workloads.md). One asyncpg connection in, frozen records out."""

from __future__ import annotations

import asyncpg

from libs.readmodel import sources
from libs.readmodel.assemble import pod_set_flavors, steps_of, summarize, trace_id, waiting_of
from libs.readmodel.records import WorkloadDetail, WorkloadFilter, WorkloadSummary


async def list_workloads(conn: asyncpg.Connection, where: WorkloadFilter = WorkloadFilter()) -> list[WorkloadSummary]:
    """Returns the matching workloads the caller may see, newest submission first.

    Raises NotReady when a service has not created its tables yet.
    """
    await sources.check_ready(conn)
    args = (where.team, where.org, where.queue)
    quota = await sources.quota_rows(conn, *args)
    # a queue filter names quota's queues; admission knows only the local queue, so refused ones match by that
    verdicts = await sources.submit_verdicts(conn, *args)
    extra = sorted(set(quota) - set(verdicts))
    if extra:  # accepted under another queue name than the filter's (a cluster queue): their verdicts still count
        verdicts.update(await sources.submit_verdicts(conn, where.team, where.org, None, extra))
    ids = sorted(set(quota) | set(verdicts))
    summaries = await _summaries(conn, ids, quota, verdicts)
    if where.state is not None:
        summaries = [s for s in summaries if s.state == where.state]
    return sorted(summaries, key=lambda s: (s.submitted_at is None, -(s.submitted_at.timestamp())
                                            if s.submitted_at else 0, s.workload_id))


async def _summaries(conn, ids: list[str], quota, verdicts) -> list[WorkloadSummary]:
    events = await sources.timelines(conn, ids)
    pos = await sources.positions(conn, [w for w in ids if w in quota and quota[w]["state"] == "pending"])
    cost = await sources.costs(conn, ids)
    return [summarize(w, quota.get(w), verdicts.get(w), events.get(w, []), pos.get(w), cost.get(w, 0))
            for w in ids]


async def describe_workload(conn: asyncpg.Connection, workload_id: str) -> WorkloadDetail | None:
    """Returns everything known of one workload the caller may see; None if there is none (or it is another
    team's: row-level security hides it the same way)."""
    await sources.check_ready(conn)
    quota = (await sources.quota_rows(conn, None, None, None, [workload_id])).get(workload_id)
    audit = await sources.audit_rows(conn, workload_id)
    verdict = (await sources.submit_verdicts(conn, None, None, None, [workload_id])).get(workload_id)
    if quota is None and not audit:
        return None
    [summary] = await _summaries(conn, [workload_id], {workload_id: quota} if quota else {},
                                 {workload_id: verdict} if verdict else {})
    events = (await sources.timelines(conn, [workload_id])).get(workload_id, [])
    held_by_scheduler = quota is not None and quota["state"] == "reserved" and not quota["placed"]
    reason = (await sources.scheduler_reason(conn, workload_id))[1] if held_by_scheduler else None
    return WorkloadDetail(summary=summary, steps=steps_of(audit, quota, events),
                          waiting=waiting_of(summary, quota, events, reason), trace_id=trace_id(quota, audit),
                          pod_set_flavors=pod_set_flavors(quota))
