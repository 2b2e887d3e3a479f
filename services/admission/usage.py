"""Team usage: what each team has admitted and not yet finished, the read model behind the per-team maxima.

The ``team.*`` rules (``libs.admission.rules``) add a submission to its team's ``TeamUsage``; this module keeps
that usage exact, in admission's own schema (migration 003) and in the inbox transaction:

- accepting a workload records its footprint (the whole gang's GPUs and pods at full size, one workload) on
  its ``admitted_workloads`` row and adds it to the team's ``team_usage`` row;
- a workload ends with WorkloadSucceeded or a final WorkloadFailed (the lifecycle topic, from the cluster
  connectors; a failure its backoff limit retries is not final): the first of them marks the row finished and
  subtracts the footprint. The inbox drops a redelivered event; the row's finished marker drops a second,
  different terminal event and one for a workload admission never admitted (or admitted before migration 003,
  whose size was never recorded);
- WorkloadEvicted does not end a workload: quota requeues it, so it keeps holding its team's admission budget
  (quota's own reservation is released and taken again; that is QuotaReleased, not admission's business).
  WorkloadRunning changes nothing either.

Two admission instances may admit for one team at once (submissions are keyed by workload id, so a team's
land on every partition). Deciding a team with team limits therefore takes a transaction-scoped lock on the
team first and reads its usage after it; teams without team limits are neither locked nor read, since no
rule looks at their usage, but their usage is still kept (a limit added later by a policy reload counts it).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import asyncpg

from libs.admission import RULES, Decision, JobSpec, Policy, PolicyLayer, TeamUsage
from libs.events import Event, WorkloadSubmitted, ends_workload
from services.admission import repository as repo

Team = repo.Team
ENDING = ("WorkloadSucceeded", "WorkloadFailed")  # lifecycle events that end a workload: its usage is released
NOT_ENDING = ("WorkloadRunning", "WorkloadEvicted")  # the rest of the lifecycle topic (evicted: requeued)


def team_of(event: WorkloadSubmitted) -> Team | None:
    """Returns the (org, team) a submission claims; the core checks it against the token before accepting."""
    return (event.tenant.org, event.tenant.team) if event.tenant else None


def footprint(spec: JobSpec) -> TeamUsage:
    """Returns what an admitted job adds to its team: its GPUs and pods at full size, and one workload."""
    return TeamUsage(gpu_milli=spec.total_gpu_milli(), pods=spec.total_pods(), workloads=1)


def plus(a: TeamUsage, b: TeamUsage) -> TeamUsage:
    return TeamUsage(a.gpu_milli + b.gpu_milli, a.pods + b.pods, a.workloads + b.workloads)


TEAM_RULES = tuple(rule for rule_id, rule in RULES if rule_id.startswith("team."))  # the rules that read usage


def team_rules_pass(spec: JobSpec, layer: PolicyLayer, held: TeamUsage) -> bool:
    """Returns whether the core's team.* rules accept ``spec`` (defaulted) against ``held``.

    They are the only rules that read usage, and usage only grows inside a batch: a submission accepted against
    what its team held when the batch began needs deciding again only if this turns False.
    """
    return not any(next(rule(spec, layer, held), None) for rule in TEAM_RULES)


def refused_by_team_rules_only(decision: Decision) -> bool:
    """Returns whether only team.* rules refused the submission: a move in its team's usage may change that."""
    violations = decision.rejection.violations if decision.rejection else ()
    return bool(violations) and all(v.rule.startswith("team.") for v in violations)


def has_team_limits(layer: PolicyLayer) -> bool:
    """Returns whether any per-team maximum applies to a tenant's merged policy."""
    limits = layer.team_limits
    return limits is not None and any(v is not None for v in (limits.max_gpus, limits.max_pods,
                                                                limits.max_workloads))


@dataclass
class Ledger:
    """Team usage for one transaction: as read (under the teams' locks), plus what it admitted so far, in order."""

    limited: frozenset[Team] = frozenset()  # teams with team limits: locked and read
    held: dict[Team, TeamUsage] = field(default_factory=dict)  # what they held when read
    added: dict[Team, TeamUsage] = field(default_factory=dict)  # admitted by this transaction, every team

    def of(self, team: Team | None) -> TeamUsage:
        """Returns what ``team`` holds now, this transaction's admissions included (zero if it has no limits)."""
        if team not in self.limited:
            return TeamUsage()
        return plus(self.held.get(team, TeamUsage()), self.added.get(team, TeamUsage()))

    def add(self, team: Team, usage: TeamUsage) -> None:
        self.added[team] = plus(self.added.get(team, TeamUsage()), usage)

    def deltas(self) -> list[tuple[str, str, int, int, int]]:
        """Returns what to add to ``team_usage``, one row per team, in team order."""
        return [(*team, u.gpu_milli, u.pods, u.workloads) for team, u in sorted(self.added.items())]


async def read(conn: asyncpg.Connection, teams: Iterable[Team | None], policy: Policy, *,
               lock: bool = True) -> Ledger:
    """Locks the teams among ``teams`` that have team limits, in team order, then reads what they hold.

    ``lock=False`` only reads: a batch decides against that optimistic read, then locks and reads again and
    decides again only the teams whose usage moved meanwhile, so no lock is held while the core decides.
    """
    limited = sorted({t for t in teams if t is not None and has_team_limits(policy.for_tenant(*t))})
    if lock:
        await repo.lock_teams(conn, limited)  # before the read, in a statement of its own (see lock_teams)
    held = await repo.team_usage(conn, limited)
    return Ledger(frozenset(limited), {team: TeamUsage(*sums) for team, sums in held.items()})


def moved(before: Ledger, after: Ledger) -> set[Team]:
    """Returns the teams whose usage differs between two reads (another instance admitted or released)."""
    return {t for t in after.limited if before.held.get(t, TeamUsage()) != after.held.get(t, TeamUsage())}


@dataclass(frozen=True)
class Admitted:
    """A workload admitted in this transaction, with what it holds."""

    workload_id: str
    event_id: uuid.UUID  # the WorkloadSubmitted that admitted it
    team: Team
    usage: TeamUsage  # its footprint


async def record(conn: asyncpg.Connection, admitted: Sequence[Admitted], ledger: Ledger) -> None:
    """Records the admitted workloads with their footprints and adds the ledger's growth to the team sums."""
    await repo.record_admitted_many(conn, [(a.workload_id, a.event_id, *a.team, a.usage.gpu_milli, a.usage.pods)
                                           for a in admitted])
    await repo.add_usage(conn, ledger.deltas())


async def release(conn: asyncpg.Connection, events: Sequence[Event]) -> int:
    """Ends the workloads the terminal ``events`` name, each once, and subtracts their usage; returns how many
    workloads it released (an unknown or already finished workload releases nothing). A failed run its backoff
    limit retries ends nothing: the workload is requeued and keeps its team's budget, as after an eviction."""
    ended = await repo.finish_workloads(conn, [(e.workload_id, e.occurred_at, e.type) for e in events
                                               if e.workload_id and (e.type == "WorkloadCancelled" or
                                                                     ends_workload(e))])
    freed: dict[Team, TeamUsage] = {}
    for row in ended:
        if row["org"] is not None:  # admitted before migration 003: never counted
            team = (row["org"], row["team"])
            freed[team] = plus(freed.get(team, TeamUsage()), TeamUsage(row["gpu_milli"], row["pods"], 1))
    await repo.subtract_usage(conn, [(*team, u.gpu_milli, u.pods, u.workloads) for team, u in sorted(freed.items())])
    return sum(u.workloads for u in freed.values())
