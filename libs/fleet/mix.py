"""A sample workload mix for the demo and tests: batch, Spark, Ray, PyTorch and LLM inference from several teams."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from libs.events import PodSet, Resources, Tenant, TopologyRequest, WorkloadSpec, WorkloadSubmitted

TEAMS = (Tenant(org="acme", team="vision"), Tenant(org="acme", team="nlp"), Tenant(org="globex", team="research"))
GPU_MODEL = {"vision": "A100|L4", "nlp": "H100|A100", "research": "L4|A100"}


def _batch(rng: random.Random, team: str) -> tuple[PodSet, ...]:
    return (PodSet(name="worker", count=rng.randint(1, 8),
                   requests=Resources(cpu_milli=rng.choice([1000, 2000, 4000]), memory_mib=4096)),)


def _spark(rng: random.Random, team: str) -> tuple[PodSet, ...]:
    return (PodSet(name="driver", count=1, requests=Resources(cpu_milli=2000, memory_mib=8192)),
            PodSet(name="executor", count=rng.randint(4, 16), requests=Resources(cpu_milli=4000, memory_mib=16384)))


def _ray(rng: random.Random, team: str) -> tuple[PodSet, ...]:
    worker = Resources(cpu_milli=8000, memory_mib=65536, gpu=1)
    return (PodSet(name="head", count=1, requests=Resources(cpu_milli=4000, memory_mib=16384, gpu=1),
                   gpu_model=GPU_MODEL[team]),
            PodSet(name="worker", count=rng.randint(2, 8), requests=worker, gpu_model=GPU_MODEL[team]))


def _pytorch(rng: random.Random, team: str) -> tuple[PodSet, ...]:
    gpus = 8 if team != "research" else 4
    per_pod = Resources(cpu_milli=32000 if gpus == 8 else 16000, memory_mib=262144 if gpus == 8 else 65536, gpu=gpus)
    return (PodSet(name="master", count=1, requests=per_pod, gpu_model=GPU_MODEL[team]),
            PodSet(name="worker", count=rng.randint(1, 3), requests=per_pod, gpu_model=GPU_MODEL[team],
                   topology=TopologyRequest(level="rack", mode="preferred")))


def _inference(rng: random.Random, team: str) -> tuple[PodSet, ...]:
    share = rng.choice([Resources(cpu_milli=4000, memory_mib=16384, gpu_milli=500),
                        Resources(cpu_milli=8000, memory_mib=32768, gpu=1)])
    return (PodSet(name="server", count=rng.randint(1, 4), requests=share, gpu_model=GPU_MODEL[team]),)


KINDS = (("batch", _batch, 30, (600, 1800)), ("spark", _spark, 20, (900, 2700)), ("ray", _ray, 20, (1200, 3600)),
         ("pytorch", _pytorch, 15, (1800, 5400)), ("llm-inference", _inference, 15, (600, 2400)))


Signer = Callable[[WorkloadSubmitted], WorkloadSubmitted]  # returns the submission carrying an identity token


def workload_mix(count: int, *, seed: int = 42, prefix: str = "wl",
                 signer: Signer | None = None) -> Iterator[WorkloadSubmitted]:
    """Yields ``count`` submissions, reproducible for a seed; durations are simulated seconds.

    ``signer`` adds each submission's identity token (admission refuses unsigned work), e.g.
    ``services.admission.signing.demo_signer()``; without one the submissions are unsigned.
    """
    rng = random.Random(seed)
    weights = [k[2] for k in KINDS]
    for i in range(count):
        tenant = TEAMS[i % len(TEAMS)]
        kind, build, _, (lo, hi) = rng.choices(KINDS, weights=weights)[0]
        spec = WorkloadSpec(name=f"{kind}-{i}", kind=kind, pod_sets=build(rng, tenant.team),
                            duration_s=rng.randint(lo, hi), priority_class=rng.choice(["normal"] * 4 + ["high"]))
        event = WorkloadSubmitted(workload_id=f"{prefix}-{i:05d}", tenant=tenant, spec=spec, producer="demo")
        yield signer(event) if signer else event
