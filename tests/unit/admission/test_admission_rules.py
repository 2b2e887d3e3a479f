"""Policy rules: one firing and one passing case per rule, registry matching, and ordering."""

from __future__ import annotations

import pytest
from admission_builders import POLICY, JobBuilder, a_job

from libs.admission import RULE_IDS, TeamUsage, Violation, apply_defaults, evaluate, registry_allowed


def violations_of(job: JobBuilder, usage: TeamUsage = TeamUsage()) -> tuple[Violation, ...]:
    spec = job.spec()
    policy = POLICY.for_tenant(spec.tenant.org, spec.tenant.team)
    defaulted, _ = apply_defaults(spec, policy)
    return evaluate(defaulted, policy, usage)


def rules_of(job: JobBuilder, usage: TeamUsage = TeamUsage()) -> list[str]:
    return [v.rule for v in violations_of(job, usage)]


FIRING = [
    pytest.param("image.registry", a_job().pod_set(image="docker.io/library/ubuntu:22.04"), TeamUsage(), id="image-docker-hub"),
    pytest.param("image.registry", a_job().pod_set(image="ubuntu"), TeamUsage(), id="image-implicit-docker-hub"),
    pytest.param("image.registry", a_job().pod_set(image="registry.batchyard.io.evil.com/x:1"), TeamUsage(), id="image-lookalike-host"),
    pytest.param("image.registry", a_job().pod_set(image="ghcr.io/acme-evil/x:1"), TeamUsage(), id="image-lookalike-path"),
    pytest.param("image.registry", a_job().pod_set(image="registry.batchyard.io:5000/x:1"), TeamUsage(), id="image-other-port"),
    pytest.param("pod.privileged", a_job().pod_set(privileged=True), TeamUsage(), id="privileged"),
    pytest.param("pod.host_network", a_job().pod_set(host_network=True), TeamUsage(), id="host-network"),
    pytest.param("pod.host_pid", a_job().pod_set(host_pid=True), TeamUsage(), id="host-pid"),
    pytest.param("pod.host_path", a_job().pod_set(host_path=True), TeamUsage(), id="host-path"),
    pytest.param("job.max_gpus", a_job().gpus(per_pod=8, count=5), TeamUsage(), id="job-gpus-over-team-override-32"),
    pytest.param("job.max_gpus", a_job().tenant("acme", "nlp").gpus(per_pod=1, count=17), TeamUsage(), id="job-gpus-over-default-16"),
    pytest.param(
        "job.max_gpus", a_job().tenant("acme", "nlp").pod_set(count=33, resources={"gpu_milli": 500}), TeamUsage(),
        id="job-fractional-gpus-add-up",
    ),
    pytest.param("job.max_pods", a_job().pod_set("a", 40).pod_set("b", 25), TeamUsage(), id="job-pods-across-pod-sets"),
    pytest.param("job.max_runtime", a_job().set(max_runtime_s=86401), TeamUsage(), id="job-runtime"),
    pytest.param("team.max_gpus", a_job().gpus(per_pod=8), TeamUsage(gpu_milli=60_000), id="team-gpus"),
    pytest.param("team.max_pods", a_job().pod_set(count=10), TeamUsage(pods=250), id="team-pods"),
    pytest.param("team.max_workloads", a_job(), TeamUsage(workloads=100), id="team-workloads"),
    pytest.param("labels.required", a_job().set(labels={}), TeamUsage(), id="labels-missing"),
    pytest.param("priority.allowed", a_job().set(priority_class="system-critical"), TeamUsage(), id="priority-not-allowed"),
    pytest.param("priority.allowed", a_job().tenant("acme", "nlp").set(priority_class="batch-high"), TeamUsage(), id="priority-only-in-other-team"),
    pytest.param("queue.allowed", a_job().tenant("acme", "infra").set(queue="gpu"), TeamUsage(), id="queue-not-granted-by-policy"),
]


@pytest.mark.parametrize(("rule", "job", "usage"), FIRING)
def test_rule_fires_alone_with_its_id(rule: str, job: JobBuilder, usage: TeamUsage) -> None:
    violations = violations_of(job, usage)
    assert [v.rule for v in violations] == [rule]
    assert violations[0].message


def test_every_rule_has_a_firing_case() -> None:
    assert {p.values[0] for p in FIRING} == set(RULE_IDS)


PASSING = [
    pytest.param(a_job(), TeamUsage(), id="plain"),
    pytest.param(a_job().pod_set(image="registry.batchyard.io/vision/train@sha256:" + "a" * 64), TeamUsage(), id="image-digest"),
    pytest.param(a_job().pod_set(image="ghcr.io/acme/tools:2"), TeamUsage(), id="image-org-registry-prefix"),
    pytest.param(a_job().pod_set(image="GHCR.IO/acme/tools:2"), TeamUsage(), id="image-host-case-insensitive"),
    pytest.param(a_job().tenant("acme", "infra").pod_set(privileged=True, host_network=True), TeamUsage(), id="infra-may-be-privileged"),
    pytest.param(a_job().gpus(per_pod=8, count=4), TeamUsage(), id="gpus-at-team-override"),
    pytest.param(a_job().pod_set("a", 32).pod_set("b", 32), TeamUsage(), id="pods-at-limit"),
    pytest.param(a_job().set(max_runtime_s=86400), TeamUsage(), id="runtime-at-limit"),
    pytest.param(a_job().gpus(per_pod=4), TeamUsage(gpu_milli=60_000, pods=255, workloads=99), id="team-at-limits"),
    pytest.param(a_job().set(priority_class="batch-high"), TeamUsage(), id="team-extra-priority"),
    pytest.param(a_job().tenant("acme", "infra").set(queue="default"), TeamUsage(), id="queue-granted-by-policy"),
]


@pytest.mark.parametrize(("job", "usage"), PASSING)
def test_compliant_jobs_have_no_violations(job: JobBuilder, usage: TeamUsage) -> None:
    assert violations_of(job, usage) == ()


def test_all_violations_are_reported_in_rule_table_then_pod_set_order() -> None:
    job = (
        a_job().set(labels={}, priority_class="vip", max_runtime_s=999_999)
        .pod_set("b", 70, image="docker.io/x:1", host_pid=True)
        .pod_set("a", 1, image="quay.io/y:1", privileged=True, resources={"gpu_count": 65})
    )
    violations = violations_of(job)
    assert [(v.rule, v.pod_set) for v in violations] == [
        ("image.registry", "b"), ("image.registry", "a"), ("pod.privileged", "a"), ("pod.host_pid", "b"),
        ("job.max_gpus", None), ("job.max_pods", None), ("job.max_runtime", None), ("team.max_gpus", None),
        ("labels.required", None), ("priority.allowed", None),
    ]
    assert violations == violations_of(job)


@pytest.mark.parametrize(
    ("image", "allowed", "ok"),
    [
        ("ubuntu", ("docker.io",), True),
        ("ubuntu", ("docker.io/library",), True),
        ("acme/tool", ("docker.io/library",), False),
        ("localhost/x", ("localhost",), True),
        ("localhost:5000/x", ("localhost",), False),
        ("reg.io/a/b/c:1", ("reg.io/a/b",), True),
        ("reg.io/a/bc:1", ("reg.io/a/b",), False),
        ("reg.io/a:1", ("reg.io/a/",), False),
        ("reg.io/a/b:1", ("reg.io/a/",), True),
        ("reg.io/x", (), False),
    ],
    ids=lambda v: str(v),
)
def test_registry_matching_is_by_whole_path_components(image: str, allowed: tuple[str, ...], ok: bool) -> None:
    assert registry_allowed(image, allowed) is ok
