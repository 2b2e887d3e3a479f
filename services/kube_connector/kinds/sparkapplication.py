"""Kubeflow's SparkApplication (sparkoperator.k8s.io/v1beta2): a driver and ``executor.instances`` executors.

Spark describes pods by cores and JVM memory ("2g"), not templates: the pod sets' requests are what the
operator asks for, memory plus Spark's overhead (10 % for JVM jobs, 40 % otherwise, at least 384 MiB).
"""

from __future__ import annotations

import math
from typing import ClassVar

from libs.quota.quantity import QuantityError, parse_jvm_memory
from services.kube_connector.kinds.base import JobKind, Outcome, Slot, label_of
from services.kube_connector.podsets import Invalid, PodSetSource

APP_NAME, ROLE = "sparkoperator.k8s.io/app-name", "spark-role"
MIN_OVERHEAD = 384 * 2**20


def jvm_bytes(text: str) -> int:
    """Returns the bytes in a JVM memory string ("512m", "2g", "1024k"; a bare number is bytes)."""
    try:
        return parse_jvm_memory(text)
    except QuantityError as exc:
        raise Invalid("invalid_quantity", f"Spark memory: {exc}") from None


class SparkApplicationKind(JobKind):
    kind: ClassVar[str] = "SparkApplication"
    group: ClassVar[str] = "sparkoperator.k8s.io"
    version: ClassVar[str] = "v1beta2"
    plural: ClassVar[str] = "sparkapplications"
    workload_kind: ClassVar[str] = "spark"
    names_scheduler: ClassVar[bool] = False  # the operator picks the scheduler (spec.batchScheduler), not a template

    def pod_sets(self, obj: dict) -> list[PodSetSource]:
        spec = obj.get("spec") or {}
        factor = 0.1 if spec.get("type", "Scala") in ("Java", "Scala") else 0.4
        driver, executor = spec.get("driver") or {}, spec.get("executor") or {}
        return [PodSetSource("driver", _template(spec, driver, factor), 1),
                PodSetSource("executor", _template(spec, executor, factor), max(executor.get("instances", 1), 1))]

    def owner_of(self, pod: dict) -> str | None:
        return label_of(pod, APP_NAME)

    def slot_of(self, pod: dict) -> Slot | None:
        role = label_of(pod, ROLE)
        return Slot(role) if role in ("driver", "executor") else None

    def outcome(self, obj: dict) -> Outcome | None:
        state = ((obj.get("status") or {}).get("applicationState") or {}).get("state")
        if state == "COMPLETED":
            return "succeeded"
        if state in ("FAILED", "SUBMISSION_FAILED"):
            return "failed"
        return None


def _template(spec: dict, role: dict, overhead_factor: float) -> dict:
    """Returns a pod template asking what the operator will ask for one pod of ``role``."""
    memory = jvm_bytes(role.get("memory") or "1g")
    overhead = jvm_bytes(role["memoryOverhead"]) if role.get("memoryOverhead") else \
        max(MIN_OVERHEAD, math.ceil(memory * overhead_factor))
    requests = {"cpu": str(role.get("coreRequest") or role.get("cores") or 1), "memory": str(memory + overhead)}
    gpu = role.get("gpu") or {}
    if gpu.get("name") and gpu.get("quantity"):
        requests[gpu["name"]] = str(gpu["quantity"])
    container = {"name": "spark", "image": role.get("image") or spec.get("image") or "",
                 "resources": {"requests": requests}}
    pod = {"containers": [container]}
    for key in ("nodeSelector", "tolerations"):
        if role.get(key):
            pod[key] = role[key]
    return {"metadata": {"annotations": role.get("annotations") or {}}, "spec": pod}
