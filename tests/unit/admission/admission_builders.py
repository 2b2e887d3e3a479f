"""Fluent builders and fixtures shared by the admission unit tests (imported by module name)."""

from __future__ import annotations

import copy
import itertools
from datetime import datetime, timedelta, timezone
from typing import Any

from libs.admission import Claims, InMemoryReplayCache, JobSpec, Keyring, SigningKey, load_policy, sign

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=timezone.utc)
T = int(NOW.timestamp())

TEAM_KEY = SigningKey("team-acme-vision-2026", b"v" * 32, org="acme", team="vision")
ROTATED_KEY = SigningKey("team-acme-vision-2027", b"w" * 32, org="acme", team="vision")
ORG_KEY = SigningKey("org-acme", b"o" * 32, org="acme")
PLATFORM_KEY = SigningKey("platform", b"p" * 32)
OTHER_TEAM_KEY = SigningKey("team-globex-ml", b"g" * 32, org="globex", team="ml")
RETIRED_KEY = SigningKey("team-acme-vision-2025", b"r" * 32, org="acme", team="vision", retired_at=T - 1)
UNKNOWN_KEY = SigningKey("not-in-keyring", b"u" * 32)
KEYRING = Keyring.of(TEAM_KEY, ROTATED_KEY, ORG_KEY, PLATFORM_KEY, OTHER_TEAM_KEY, RETIRED_KEY)

POLICY_YAML = """
version: 1
default:
  allowed_registries: [registry.batchyard.io]
  allowed_priority_classes: [batch-low, batch-normal]
  required_labels: [cost-center]
  job_limits: {max_gpus: 16, max_pods: 64, max_runtime_s: 86400}
  team_limits: {max_gpus: 64, max_pods: 256, max_workloads: 100}
  defaults: {queue: default, priority_class: batch-normal, cpu_milli: 500, memory_mib: 1024}
tenants:
  acme:
    allowed_registries: [registry.batchyard.io, ghcr.io/acme]
  acme/vision:
    job_limits: {max_gpus: 32}
    allowed_priority_classes: [batch-low, batch-normal, batch-high]
  acme/infra:
    allowed_queues: [default]
    allow_privileged: true
    allow_host_network: true
"""
POLICY = load_policy(POLICY_YAML)
IMAGE = "registry.batchyard.io/vision/train:1.0"

_jti = itertools.count(1)


def fresh_cache() -> InMemoryReplayCache:
    """Returns an empty replay cache."""
    return InMemoryReplayCache()


class JobBuilder:
    """Builds a raw submission dict, valid and policy-compliant for acme/vision unless told otherwise."""

    def __init__(self, workload_id: str = "wl-1") -> None:
        self._job: dict[str, Any] = {
            "workload_id": workload_id,
            "tenant": {"org": "acme", "team": "vision"},
            "labels": {"cost-center": "cc-42"},
            "pod_sets": [],
        }

    def tenant(self, org: str, team: str) -> JobBuilder:
        self._job["tenant"] = {"org": org, "team": team}
        return self

    def set(self, **fields: Any) -> JobBuilder:
        """Sets top-level fields (queue, priority_class, max_runtime_s, labels, ...)."""
        self._job.update(fields)
        return self

    def without(self, *names: str) -> JobBuilder:
        for name in names:
            self._job.pop(name, None)
        return self

    def pod_set(self, name: str = "main", count: int = 1, image: str = IMAGE, **fields: Any) -> JobBuilder:
        self._job["pod_sets"].append({"name": name, "count": count, "image": image, **fields})
        return self

    def gpus(self, per_pod: int, count: int = 1, name: str = "main") -> JobBuilder:
        return self.pod_set(name, count, resources={"gpu_count": per_pod})

    def build(self) -> dict[str, Any]:
        job = copy.deepcopy(self._job)
        if not job["pod_sets"]:
            job["pod_sets"] = [{"name": "main", "count": 1, "image": IMAGE}]
        return job

    def spec(self) -> JobSpec:
        return JobSpec.model_validate(self.build())


def a_job(workload_id: str = "wl-1") -> JobBuilder:
    return JobBuilder(workload_id)


class TokenBuilder:
    """Builds a signed token for acme/vision, valid at NOW for ten minutes, with a fresh jti."""

    def __init__(self) -> None:
        self._claims: dict[str, Any] = {
            "sub": "alice@acme", "org": "acme", "team": "vision", "queues": ("default", "gpu"),
            "iat": T, "exp": T + 600, "jti": f"jti-{next(_jti):016d}",
        }

    def tenant(self, org: str, team: str) -> TokenBuilder:
        self._claims.update(org=org, team=team)
        return self

    def set(self, **claims: Any) -> TokenBuilder:
        self._claims.update(claims)
        return self

    def claims(self) -> Claims:
        return Claims.model_validate(self._claims)

    def sign(self, key: SigningKey = TEAM_KEY) -> str:
        return sign(self.claims(), key)


def a_token() -> TokenBuilder:
    return TokenBuilder()


def at(seconds: int) -> datetime:
    """Returns NOW shifted by `seconds`."""
    return NOW + timedelta(seconds=seconds)
