"""Admission's handlers: one per event type, registered in the router ``AdmissionHandlers.router`` builds.

One submission, one transaction (the platform's inbox transaction):

1. read what the team holds (``usage``: locked first when the team has team limits);
2. decide with the pure core (token, schema, tenant, defaults, queue, policy with that usage), the token claim
   deferred;
3. if accepted: refuse a workload id admitted before, then spend the token id in ``token_claims``
   (a conflict there re-runs ``decide`` with the claim refused, so the rejection is the core's own
   ``token_replayed`` with its audit record), then record the workload and add it to its team's usage;
4. append the audit row and emit WorkloadAccepted (spec with defaults) or WorkloadRejected (reason, rule).

WorkloadSucceeded and WorkloadFailed end a workload and release its team usage (see ``usage``); the other
lifecycle events are ignored.

WorkloadCancelRequested (on the submissions topic, after its workload's submission) is decided by ``cancel``:
the workload's row is ended (finished_by WorkloadCancelled) and its team usage released, and WorkloadCancelled is
emitted once; any other answer is a WorkloadCancelRefused with a reason code. Both are audited (action cancel).

WorkloadSuspendRequested, WorkloadResumeRequested and WorkloadPriorityChangeRequested are decided by
``lifecycle`` the same way: the row's suspended_at is set or cleared (or its priority_class set) and
WorkloadSuspended, WorkloadResumed or WorkloadPriorityChanged emitted, or a WorkloadRequestRefused with a reason
code; audited (action suspend, resume or priority). A suspended workload keeps its team usage (it is still
admitted).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from libs.admission import Decision, Keyring, decide
from libs.admission.token import epoch_seconds
from libs.events import (Event, WorkloadAccepted, WorkloadCancelled, WorkloadCancelRefused, WorkloadCancelRequested,
                         WorkloadPriorityChanged, WorkloadPriorityChangeRequested, WorkloadRejected,
                         WorkloadRequestRefused, WorkloadResumed, WorkloadSubmitted, WorkloadSuspended)
from libs.platform.unit_of_work import Router, UnitOfWork
from services.admission import repository as repo
from services.admission import cancel, lifecycle, usage
from services.admission.keyring import KeyringFile
from services.admission.policy import ServicePolicy
from services.admission.reload import HotFile
from services.admission.translate import job_document, with_defaults

DUPLICATE_REASON, DUPLICATE_RULE = "workload_duplicate", "workload.unique"
PURGE_EVERY = 1000  # decisions between two sweeps of expired token claims


class DeferredClaim:
    """A ReplayCache for ``decide`` that records the claim and answers ``answer``; Postgres makes it for real."""

    def __init__(self, answer: bool) -> None:
        self.answer = answer  # what decide is told
        self.request: tuple[str, str, int, int] | None = None  # (jti, binding, expires_at, now) asked for

    def claim(self, jti: str, binding: str, expires_at: int, now: int) -> bool:
        self.request = (jti, binding, expires_at, now)
        return self.answer


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class AdmissionHandlers:
    """The handlers with what they decide with: the keyring and policy (hot-reloaded) and the clock."""

    keyring: HotFile[KeyringFile]  # keys trusted, by kid
    policy: HotFile[ServicePolicy]  # per-tenant policy and priority values
    clock: Callable[[], datetime] = utc_now  # timezone-aware now
    decided: int = 0  # decisions made by this process
    counts: dict[str, int] = field(default_factory=dict)  # reason code (or "accepted") -> decisions
    released: int = 0  # workloads whose team usage this process released

    def router(self) -> Router:
        ended, ended_batch = self.handle_workload_ended, self.handle_workload_ended_batch
        return Router(handlers={"WorkloadSubmitted": self.handle_workload_submitted,
                                "WorkloadCancelRequested": self.handle_workload_cancel_requested,
                                "WorkloadSuspendRequested": self.handle_lifecycle_request,
                                "WorkloadResumeRequested": self.handle_lifecycle_request,
                                "WorkloadPriorityChangeRequested": self.handle_lifecycle_request,
                                **{event_type: ended for event_type in usage.ENDING}},
                      ignored=frozenset(usage.NOT_ENDING),
                      batch_handlers={"WorkloadSubmitted": self.handle_workload_submitted_batch,
                                      **{event_type: ended_batch for event_type in usage.ENDING}})

    async def handle_workload_submitted(self, event: WorkloadSubmitted, uow: UnitOfWork) -> None:
        """Decides one submission, records the audit row and emits the verdict."""
        policy, now = self.policy.current(), self.clock()
        ledger = await usage.read(uow.conn, [usage.team_of(event)], policy.policy)
        decision, duplicate = await self._decide(event, uow, policy, now, ledger)
        if decision.accepted and not duplicate:
            admitted = usage.Admitted(decision.spec.workload_id, event.event_id, usage.team_of(event),
                                      usage.footprint(decision.spec))
            ledger.add(admitted.team, admitted.usage)
            await usage.record(uow.conn, [admitted], ledger)
        row = {**audit_row(event, decision, duplicate=duplicate), "trace_id": trace_id_of(uow)}
        await repo.record_decision(uow.conn, row)
        await self._maybe_purge(uow, now)
        await self._emit(uow, event, decision, row, policy)

    async def handle_workload_submitted_batch(self, events: list[WorkloadSubmitted], uows: list[UnitOfWork]) -> None:
        """Decides a poll batch of submissions with a few set-wise statements instead of five per submission.

        The same decisions as one by one, in order: a workload id admitted earlier in the batch is a duplicate,
        a token spent earlier in the batch on another submission is a replay, and what a team had admitted earlier
        in the batch counts against its later submissions. If another instance spends one of these tokens
        meanwhile, the claim comes back short and the batch is redone record by record.
        """
        policy, now, conn = self.policy.current(), self.clock(), uows[0].conn
        teams = [usage.team_of(event) for event in events]
        batch = Batch(self.keyring.current().keyring, policy, now,
                      await usage.read(conn, teams, policy.policy, lock=False))
        decided = [batch.decide(event) for event in events]  # no team lock held while the core decides
        locked = await usage.read(conn, teams, policy.policy)
        moved, batch.ledger = usage.moved(batch.ledger, locked), locked
        if moved:  # another instance admitted or released for these teams meanwhile (settle rechecks acceptances)
            decided = [batch.decide(d.event, d.document) if team in moved and usage.refused_by_team_rules_only(
                d.decision) else d for d, team in zip(decided, teams)]
        wanted = [d for d in decided if d.decision.accepted]
        await batch.load(conn, [d.decision.spec.workload_id for d in wanted], [d.claim.request[0] for d in wanted])
        verdicts = [batch.settle(d) for d in decided]
        spent = await repo.claim_tokens(conn, batch.new_claims, epoch_seconds(now))
        if len(spent) != len(batch.new_claims):
            raise ConcurrentClaim("a token of this batch was spent concurrently; redoing it record by record")
        await usage.record(conn, batch.admitted, batch.ledger)
        rows = [{**audit_row(d.event, decision, duplicate=dup), "trace_id": trace_id_of(uow)}
                for uow, d, (decision, dup) in zip(uows, decided, verdicts)]
        await repo.record_decisions(conn, rows)
        for uow, d, (decision, _), row in zip(uows, decided, verdicts, rows):
            await self._maybe_purge(uow, now)
            await self._emit(uow, d.event, decision, row, policy)

    async def handle_workload_ended(self, event: Event, uow: UnitOfWork) -> None:
        """Releases the team usage of the workload a WorkloadSucceeded or WorkloadFailed ends (once)."""
        await self.handle_workload_ended_batch([event], [uow])

    async def handle_workload_ended_batch(self, events: list[Event], uows: list[UnitOfWork]) -> None:
        """Releases the team usage of the workloads a run of terminal events ends, in two statements."""
        released = await usage.release(uows[0].conn, events)
        if released:
            uows[0].after_commit(lambda: self._release(released))

    async def handle_workload_cancel_requested(self, event: WorkloadCancelRequested, uow: UnitOfWork) -> None:
        """Decides one cancel request: cancels the workload (once) or refuses with a reason; audits either way."""
        now, keyring = self.clock(), self.keyring.current().keyring
        row = await repo.held_workload(uow.conn, event.workload_id) if event.workload_id else None
        held = cancel.Held(row["org"], row["team"], row["finished_by"]) if row else None
        decision = cancel.decide_cancel(event, keyring, now, held)
        if decision.cancelled:
            who = decision.identity
            if not await repo.claim_token(uow.conn, f"{who.org}/{who.team}/{who.jti}",
                                          cancel.cancel_binding(event.workload_id),
                                          who.expires_at + keyring.leeway_s, epoch_seconds(now)):
                decision = cancel.replayed(decision)
        if decision.cancelled:
            cancelled = WorkloadCancelled(reason=event.reason, cancelled_by=decision.identity.subject,
                                          cancelled_at=now, occurred_at=now, workload_id=event.workload_id,
                                          tenant=event.tenant)
            released = await usage.release(uow.conn, [cancelled])
            if released:
                uow.after_commit(lambda: self._release(released))
            await uow.emit(cancelled)
        else:
            await uow.emit(WorkloadCancelRefused(reason=decision.code, message=decision.message[:2000]))
        await repo.record_decision(uow.conn, {**cancel_audit_row(event, decision, now), "trace_id": trace_id_of(uow)})
        uow.after_commit(lambda: self._count(f"cancel:{decision.code or 'cancelled'}"))

    async def handle_lifecycle_request(self, event: lifecycle.LifecycleRequest, uow: UnitOfWork) -> None:
        """Decides one suspend, resume or priority request: carries it out, or refuses with a reason; audits either
        way. The row lock orders it against a concurrent cancel or end of the same workload."""
        now, keyring, verb = self.clock(), self.keyring.current().keyring, lifecycle.verb_of(event)
        done = {"suspend": "suspended", "resume": "resumed", "priority": "reprioritised"}[verb]
        policy = self.policy.current()
        row = await repo.held_state(uow.conn, event.workload_id, priority_class=verb == "priority") \
            if event.workload_id else None
        held = lifecycle.HeldState(row["org"], row["team"], row["finished_by"], row["suspended"],
                                   row["priority_class"]) if row else None
        allowed = policy.policy.for_tenant(held.org, held.team).allowed_priority_classes or () \
            if held is not None and held.org is not None else ()
        decision = lifecycle.decide_request(event, keyring, now, held, tuple(allowed))
        if decision.cancelled:
            who = decision.identity
            if not await repo.claim_token(uow.conn, f"{who.org}/{who.team}/{who.jti}",
                                          lifecycle.request_binding(event),
                                          who.expires_at + keyring.leeway_s, epoch_seconds(now)):
                decision = lifecycle.replayed(decision)
        if decision.cancelled:
            await uow.emit(await self._carry_out(event, verb, decision.identity.subject, now, held, policy, uow))
        else:
            await uow.emit(WorkloadRequestRefused(request=verb, reason=decision.code,
                                                  message=decision.message[:2000]))
        audit = cancel_audit_row(event, decision, now, done=done)
        asked = {"priority_class": event.priority_class} if verb == "priority" else {}
        await repo.record_decision(uow.conn, {**audit, "action": verb, "trace_id": trace_id_of(uow), **asked})
        uow.after_commit(lambda: self._count(f"{verb}:{decision.code or done}"))

    @staticmethod
    async def _carry_out(event: lifecycle.LifecycleRequest, verb: str, by: str | None, now: datetime,
                         held: lifecycle.HeldState, policy: ServicePolicy, uow: UnitOfWork) -> Event:
        """Records an accepted suspend, resume or priority request on the workload's row; returns its event."""
        common = {"reason": event.reason, "occurred_at": now, "workload_id": event.workload_id,
                  "tenant": event.tenant}
        if isinstance(event, WorkloadPriorityChangeRequested):
            await repo.set_priority_class(uow.conn, event.workload_id, event.priority_class)
            return WorkloadPriorityChanged(priority_class=event.priority_class,
                                           priority=policy.priority_of(event.priority_class),
                                           previous_class=held.priority_class,
                                           previous_priority=policy.priority_of(held.priority_class),
                                           changed_by=by, changed_at=now, **common)
        await repo.set_suspended(uow.conn, event.workload_id, now if verb == "suspend" else None)
        if verb == "suspend":
            return WorkloadSuspended(suspended_by=by, suspended_at=now, **common)
        return WorkloadResumed(resumed_by=by, resumed_at=now, **common)

    def _release(self, released: int) -> None:
        self.released += released

    async def _emit(self, uow: UnitOfWork, event: WorkloadSubmitted, decision: Decision, row: dict[str, Any],
                    policy: ServicePolicy) -> None:
        uow.after_commit(lambda: self._count(row["reason"] or "accepted"))
        if row["outcome"] == "accepted":
            await uow.emit(WorkloadAccepted(spec=with_defaults(event.spec, decision.spec),
                                            priority=policy.priority_of(decision.spec.priority_class)))
        else:
            await uow.emit(WorkloadRejected(reason=row["reason"], message=row["message"][:2000], rule=row["rule"]))

    async def _decide(self, event: WorkloadSubmitted, uow: UnitOfWork, policy: ServicePolicy, now: datetime,
                      ledger: usage.Ledger) -> tuple[Decision, bool]:
        """Returns the decision and whether it admits a workload id admitted before (checked before the claim,
        so a duplicate does not spend the token)."""
        keyring, document, claim = self.keyring.current().keyring, job_document(event), DeferredClaim(True)
        held = ledger.of(usage.team_of(event))
        decision = decide(document, event.token, keyring, policy.policy, now, claim, usage=held)
        if not decision.accepted:
            return decision, False
        if await repo.already_admitted(uow.conn, decision.spec.workload_id):
            return decision, True
        if await repo.claim_token(uow.conn, *claim.request):
            return decision, False
        return decide(document, event.token, keyring, policy.policy, now, DeferredClaim(False), usage=held), False

    def _count(self, outcome: str) -> None:
        self.counts[outcome] = self.counts.get(outcome, 0) + 1

    async def _maybe_purge(self, uow: UnitOfWork, now: datetime) -> None:
        self.decided += 1
        if self.decided % PURGE_EVERY == 0:
            await repo.purge_expired_claims(uow.conn, epoch_seconds(now))


class ConcurrentClaim(RuntimeError):
    """Another admission instance spent a token of this batch while it was being decided."""


@dataclass
class Decided:
    """One submission of a batch, decided with its token claim deferred."""

    event: WorkloadSubmitted  # the submission
    document: dict[str, Any]  # its JobSpec document (to decide it again: grown team usage, a replay)
    decision: Decision  # decided as if the token claim succeeds
    claim: DeferredClaim  # the claim decide asked for


@dataclass
class Batch:
    """The in-memory state of one batch decision: what the database knew plus what this batch did so far."""

    keyring: Keyring  # keys trusted, as of the batch's start
    policy: ServicePolicy
    now: datetime
    ledger: usage.Ledger  # what the batch's teams held when it began, plus what it admitted since
    admitted_ids: set[str] = field(default_factory=set)  # admitted before or earlier in this batch
    claims: dict[str, str] = field(default_factory=dict)  # jti -> binding, live in the DB or spent in this batch
    new_claims: list[tuple[str, str, int]] = field(default_factory=list)  # (jti, binding, expires_at) to spend
    admitted: list[usage.Admitted] = field(default_factory=list)  # workloads to record, in batch order

    def decide(self, event: WorkloadSubmitted, document: dict[str, Any] | None = None, *,
               claim: bool = True) -> Decided:
        """Decides a submission against what its team holds now, the claim deferred (``claim``: its answer)."""
        document, deferred = document or job_document(event), DeferredClaim(claim)
        held = self.ledger.of(usage.team_of(event))
        decision = decide(document, event.token, self.keyring, self.policy.policy, self.now, deferred, usage=held)
        return Decided(event, document, decision, deferred)

    async def load(self, conn, workload_ids: list[str], jtis: list[str]) -> None:
        if workload_ids:
            self.admitted_ids = await repo.admitted_among(conn, workload_ids)
            self.claims = await repo.live_claims(conn, jtis, epoch_seconds(self.now))

    def settle(self, d: Decided) -> tuple[Decision, bool]:
        """Returns the final decision and whether it is a duplicate, in batch order.

        ``d`` was decided against an unlocked read of what its team held; if its team has team limits and the
        team rules no longer pass against what it holds now (the locked read plus what this batch admitted
        before it), it is decided again, as one by one would.
        """
        team = usage.team_of(d.event)
        if d.decision.accepted and team in self.ledger.limited and not usage.team_rules_pass(
                d.decision.spec, self.policy.policy.for_tenant(*team), self.ledger.of(team)):
            d = self.decide(d.event, d.document)  # the core's own rejection, with its audit record
        if not d.decision.accepted:
            return d.decision, False
        workload_id = d.decision.spec.workload_id
        if workload_id in self.admitted_ids:
            return d.decision, True
        jti, binding, expires_at, _ = d.claim.request
        held = self.claims.get(jti)
        if held is not None and held != binding:
            return self.decide(d.event, d.document, claim=False).decision, False
        if held is None:
            self.claims[jti] = binding
            self.new_claims.append((jti, binding, expires_at))
        self.admitted_ids.add(workload_id)
        admitted = usage.Admitted(workload_id, d.event.event_id, team, usage.footprint(d.decision.spec))
        self.ledger.add(team, admitted.usage)
        self.admitted.append(admitted)
        return d.decision, False


def trace_id_of(uow: UnitOfWork) -> str | None:
    """Returns the W3C trace id of the span handling the event (None when tracing is off): kept in the audit row,
    so a refused workload, which no other service ever holds, still has a trace to look up."""
    parts = json.loads(uow.trace_context()).get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 else None


def audit_row(event: WorkloadSubmitted, decision: Decision, *, duplicate: bool = False) -> dict[str, Any]:
    """Returns the audit-log row of a decision; the submission's envelope fills what did not parse."""
    audit = decision.audit.to_dict()
    org, team = (audit["tenant"].split("/", 1) if audit["tenant"] else
                 (event.tenant.org, event.tenant.team) if event.tenant else (None, None))
    row = {**audit, "event_id": event.event_id, "decided_at": decision.audit.decided_at, "org": org, "team": team,
           "workload_id": audit["workload_id"] or event.workload_id, "producer": event.producer}
    row["action"] = "submit"
    if duplicate:
        row.update(outcome="rejected", reason=DUPLICATE_REASON, rule=DUPLICATE_RULE,
                   message=f"workload {row['workload_id']} was already admitted; submit under a new workload id")
    return row


def cancel_audit_row(event: WorkloadCancelRequested | lifecycle.LifecycleRequest, decision: cancel.CancelDecision,
                     now: datetime, done: str = "cancelled") -> dict[str, Any]:
    """Returns the audit-log row of a cancel decision (action ``cancel``; outcome accepted = ``done``)."""
    who, tenant = decision.identity, event.tenant
    message = decision.message or f"{done}{': ' + event.reason if event.reason else ''}"
    return {"event_id": event.event_id, "decided_at": now, "action": "cancel",
            "outcome": "accepted" if decision.cancelled else "rejected", "workload_id": event.workload_id,
            "org": tenant.org if tenant else None, "team": tenant.team if tenant else None,
            "subject": who.subject if who else None, "caller_tenant": f"{who.org}/{who.team}" if who else None,
            "key_id": who.kid if who else None, "token_id": who.jti if who else None, "reason": decision.code,
            "message": message[:2000], "violations": [], "defaulted": [], "producer": event.producer}
