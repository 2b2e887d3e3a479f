"""A job object as a batchyard submission (pure): its workload id, tenant and WorkloadSpec, or why it cannot run."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from pydantic import ValidationError

from libs.events import Tenant, WorkloadSpec
from libs.events.registry import describe
from libs.placement.model import CLUSTER_LABEL  # every node's cluster, as the connector reports it
from services.kube_connector.config import ConnectorConfig
from services.kube_connector.kinds import JobKind
from services.kube_connector.podsets import Invalid, pod_set

_NAME = re.compile(r"[^a-z0-9._-]+")


def workload_id(cluster: str, obj: dict) -> str:
    """Returns the workload id of an object: stable across restarts, unique per object (its uid), readable."""
    meta = obj["metadata"]
    return f"{cluster}.{meta['namespace']}.{meta['name'][:60]}.{meta['uid'][:8]}"


def label_value(workload: str) -> str:
    """Returns a form of a workload id that fits a label value (63 characters): a hash keeps long ones unique."""
    if len(workload) <= 63:
        return workload
    return f"{workload[:50]}.{hashlib.sha256(workload.encode()).hexdigest()[:12]}"


def spec_name(name: str) -> str:
    """Returns an object's name as a workload name (a DNS label of at most 63 characters)."""
    cleaned = _NAME.sub("-", name.lower())[:63].strip("-._")
    return cleaned or "workload"


@dataclass(frozen=True)
class Submission:
    workload_id: str
    tenant: Tenant
    spec: WorkloadSpec
    templates: dict[str, dict]  # pod set -> pod template as written (BatchJob pods are made from these)


def translate(kind: JobKind, obj: dict, config: ConnectorConfig) -> Submission:
    """Returns the submission of ``obj``; raises Invalid with a reason code and a message for its owner."""
    meta = obj["metadata"]
    tenant = config.tenant_of(meta["namespace"])
    if tenant is None:
        raise Invalid("unknown_namespace", f"namespace {meta['namespace']!r} belongs to no batchyard team "
                                           f"(the connector's tenants map lists {', '.join(sorted(config.tenants))})")
    try:
        sources = kind.pod_sets(obj)
        if not sources:
            raise Invalid("no_pod_sets", f"{kind.kind} {meta['name']} describes no pods")
        _check_scheduler(kind, sources, config.scheduler_name)
        sets = tuple(_at_home(pod_set(s), config.cluster) for s in sources)
    except (AttributeError, TypeError, KeyError, ValueError) as exc:
        if isinstance(exc, Invalid):
            raise
        raise Invalid("unreadable_spec", f"{kind.kind} {meta['name']}: batchyard cannot read its spec "
                      f"({type(exc).__name__}: {exc})") from None
    workload_kind = kind.workload_kind_of(obj) if hasattr(kind, "workload_kind_of") else kind.workload_kind
    try:
        spec = WorkloadSpec(name=spec_name(meta["name"]), queue=kind.queue(obj),
                            priority_class=kind.priority_class(obj), kind=workload_kind,
                            labels={k: str(v)[:253] for k, v in list((meta.get("labels") or {}).items())[:64]},
                            pod_sets=sets, max_runtime_s=kind.max_runtime_s(obj),
                            backoff_limit=kind.backoff_limit(obj))
    except ValidationError as exc:
        raise Invalid("invalid_spec", f"{kind.kind} {meta['name']}: {describe(exc)}") from None
    return Submission(workload_id(config.cluster, obj), Tenant(org=tenant.org, team=tenant.team), spec,
                      {s.name: s.template for s in sources})


def _at_home(ps, cluster: str):
    """Pins a pod set to the cluster its object lives in: its pods can only run there (docs/adr/0010)."""
    return ps.model_copy(update={"node_selector": {**ps.node_selector, CLUSTER_LABEL: cluster}})


def _check_scheduler(kind: JobKind, sources, scheduler_name: str) -> None:
    """Pods a kind's controller creates must name batchyard as their scheduler, or another scheduler binds them."""
    if kind.creates_pods or not kind.names_scheduler:
        return
    for s in sources:
        named = ((s.template or {}).get("spec") or {}).get("schedulerName")
        if named != scheduler_name:
            named = named or "default-scheduler"
            raise Invalid("wrong_scheduler", f"pod set {s.name}: the pod template names scheduler {named!r}; "
                          f"batchyard binds only pods with schedulerName: {scheduler_name} (deploy/kube's "
                          f"MutatingAdmissionPolicy sets it on queue-labelled {kind.kind}s)")
