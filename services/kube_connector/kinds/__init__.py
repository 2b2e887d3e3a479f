"""The job kinds the connector runs, by Kubernetes kind name (one small adapter each; a new kind is one file)."""

from __future__ import annotations

from services.kube_connector.kinds.base import JobKind, Slot
from services.kube_connector.kinds.batchjob import BatchJobKind
from services.kube_connector.kinds.job import JobKindBatch
from services.kube_connector.kinds.pod import PodKind
from services.kube_connector.kinds.pytorchjob import PyTorchJobKind
from services.kube_connector.kinds.rayjob import RayJobKind
from services.kube_connector.kinds.sparkapplication import SparkApplicationKind

KINDS: dict[str, JobKind] = {k.kind: k for k in (BatchJobKind(), JobKindBatch(), RayJobKind(), SparkApplicationKind(),
                                                  PyTorchJobKind(), PodKind())}

__all__ = ["KINDS", "JobKind", "Slot"]
