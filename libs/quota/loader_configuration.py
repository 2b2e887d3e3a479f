"""The Kueue ``Configuration`` document's schema (the fields batchyard reads), as pydantic models.

Kueue fields batchyard does not honour are refused with why, not ignored (docs/quota.md, Kueue compatibility).
"""

from __future__ import annotations

from typing import Literal

from libs.quota.config import FairPreemptionStrategy
from libs.quota.loader_schema import Document, Duration, Kueue, Seconds, StrictStr, Weight, unsupported


class FairSharingConfig(Kueue):
    enable: bool = False
    preemption_strategies: tuple[FairPreemptionStrategy, ...] = ()


class AdmissionFairSharingConfig(Kueue):
    usage_half_life_time: Duration = 168 * 3600.0
    usage_sampling_interval: Duration = 300.0
    resource_weights: dict[StrictStr, Weight] = {}


class RequeuingStrategy(Kueue):
    timestamp: Literal["Eviction", "Creation"] = "Eviction"
    backoff_base_seconds: Seconds = 10.0
    backoff_max_seconds: Seconds = 3600.0
    backoff_limit_count: unsupported("not supported (a timed-out workload is requeued with backoff without "
                                     "limit)") = None


class WaitForPodsReady(Kueue):
    enable: bool = False
    timeout: Duration = 300.0
    block_admission: unsupported("not supported (batchyard admits while earlier workloads' pods start; set it "
                                 "false or leave it out)") = None
    recovery_timeout: unsupported("not supported (a workload whose pods stop being ready is not evicted by "
                                  "quota)") = None
    requeuing_strategy: RequeuingStrategy = RequeuingStrategy()


class ConfigurationDoc(Document):
    fair_sharing: FairSharingConfig = FairSharingConfig()
    admission_fair_sharing: AdmissionFairSharingConfig | None = None
    wait_for_pods_ready: WaitForPodsReady = WaitForPodsReady()
    minimum_runtime_before_preemption: Duration = 0.0  # batchyard's: younger workloads are never victims
