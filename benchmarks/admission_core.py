"""Micro-benchmark: decisions/s of the pure admission core, signature verification included.

Each decision gets its own freshly signed token (distinct jti) and its own submission, so
the replay cache really records every claim. The mix is 80% accepted, 20% rejected by
policy. Signing happens before the clock starts; only `decide` is timed.

Run: .venv/bin/python -m benchmarks.admission_core
"""

from __future__ import annotations

import os
import platform
import statistics
import time
from datetime import datetime, timezone

from benchmarks.record import write_result
from libs.admission import Claims, InMemoryReplayCache, Keyring, SigningKey, authenticate, decide, load_policy, sign

NAME = "admission_core"
TARGET = 5000
COMMAND = ".venv/bin/python -m benchmarks.admission_core"

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=timezone.utc)
T = int(NOW.timestamp())
KEY = SigningKey("team-acme-vision", b"k" * 32, org="acme", team="vision")
KEYRING = Keyring.of(KEY, SigningKey("org-acme", b"o" * 32, org="acme"), SigningKey("platform", b"p" * 32))
POLICY = load_policy("""
default:
  allowed_registries: [registry.batchyard.io, ghcr.io/acme]
  allowed_priority_classes: [batch-low, batch-normal]
  required_labels: [cost-center]
  job_limits: {max_gpus: 64, max_pods: 512, max_runtime_s: 86400}
  team_limits: {max_gpus: 256, max_pods: 4096, max_workloads: 1000}
  defaults: {queue: default, priority_class: batch-normal, cpu_milli: 1000, memory_mib: 2048}
""")


def _submission(i: int) -> dict:
    """Returns a two-pod-set training job; every fifth one uses a forbidden registry."""
    image = "docker.io/evil/miner:1" if i % 5 == 4 else "registry.batchyard.io/vision/train:1.4"
    return {
        "workload_id": f"wl-{i:08d}",
        "tenant": {"org": "acme", "team": "vision"},
        "labels": {"cost-center": "cc-42", "project": "resnet"},
        "pod_sets": [
            {"name": "launcher", "count": 1, "image": image, "resources": {"cpu_milli": 2000}},
            {"name": "worker", "count": 8, "min_count": 4, "image": "registry.batchyard.io/vision/train:1.4",
             "resources": {"cpu_milli": 8000, "memory_mib": 65536, "gpu_count": 1, "gpu_model": "H100"},
             "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}], "topology": {"level": "rack"}},
        ],
    }


def _token(i: int) -> str:
    claims = Claims(sub="ci@acme", org="acme", team="vision", queues=("default", "gpu"),
                    iat=T, exp=T + 900, jti=f"bench-jti-{i:012d}")
    return sign(claims, KEY)


def run_round(n: int, offset: int) -> tuple[float, int]:
    """Returns (decisions per second, accepted count) for `n` decisions."""
    inputs = [(_submission(offset + i), _token(offset + i)) for i in range(n)]
    cache = InMemoryReplayCache()
    accepted = 0
    start = time.perf_counter()
    for submission, token in inputs:
        accepted += decide(submission, token, KEYRING, POLICY, NOW, cache).accepted
    elapsed = time.perf_counter() - start
    return n / elapsed, accepted


def authenticate_rate(n: int) -> float:
    """Returns token authentications per second alone (HMAC verify + claims parse), for the cost split."""
    tokens = [_token(2 * 10**9 + i) for i in range(n)]
    start = time.perf_counter()
    for token in tokens:
        authenticate(token, KEYRING, NOW)
    return n / (time.perf_counter() - start)


def main(n: int = 20_000, rounds: int = 5) -> dict:
    """Runs the benchmark, prints the figures and writes the results JSON."""
    run_round(1_000, 10**9)  # warm-up: imports, pydantic validators, policy cache
    rates = []
    for r in range(rounds):
        rate, accepted = run_round(n, r * n)
        rates.append(rate)
        print(f"round {r + 1}: {rate:,.0f} decisions/s ({accepted}/{n} accepted)")
    value = statistics.median(rates)
    auth = authenticate_rate(n)
    print(f"authenticate alone: {auth:,.0f} tokens/s")
    result = write_result(
        NAME, round(value), "decisions/s", True, TARGET, COMMAND, ratio=round(value / TARGET, 2),
        rounds=[round(r) for r in rates], decisions_per_round=n, authenticate_only_per_s=round(auth),
        machine={"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                 "loadavg_1m_at_end": round(os.getloadavg()[0], 2)},
        notes="median of rounds; HMAC-SHA256 verify + schema parse + defaults + 14 rules + replay claim; 80% accepted")
    print(f"{NAME}: {value:,.0f} decisions/s (target {TARGET:,}, ratio {value / TARGET:.1f}x) -> results/{NAME}.json")
    return result


if __name__ == "__main__":
    main()
