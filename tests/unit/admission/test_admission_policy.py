"""Policy documents: layering (baseline < default < org < team), loading errors, defaults."""

from __future__ import annotations

import pytest
from admission_builders import POLICY, a_job

from libs.admission import BASELINE, Policy, PolicyError, apply_defaults, load_policy


def test_team_override_merges_over_org_over_default() -> None:
    vision = POLICY.for_tenant("acme", "vision")
    assert vision.allowed_registries == ("registry.batchyard.io", "ghcr.io/acme")  # from org
    assert vision.job_limits.max_gpus == 32  # from team
    assert vision.job_limits.max_pods == 64  # nested group inherits field by field
    assert vision.allowed_priority_classes == ("batch-low", "batch-normal", "batch-high")
    assert vision.required_labels == ("cost-center",)  # from default


def test_tenants_without_overrides_get_the_default() -> None:
    other = POLICY.for_tenant("globex", "ml")
    assert other.allowed_registries == ("registry.batchyard.io",)
    assert other.job_limits.max_gpus == 16
    assert other.allow_privileged is False


def test_an_org_override_does_not_leak_into_other_orgs_or_teams() -> None:
    assert POLICY.for_tenant("acme", "infra").allow_privileged is True
    assert POLICY.for_tenant("acme", "vision").allow_privileged is False
    assert POLICY.for_tenant("acmeinfra", "x").allow_privileged is False


def test_empty_policy_fails_closed() -> None:
    assert Policy().for_tenant("a", "b") == BASELINE
    assert BASELINE.allowed_registries == () and BASELINE.allowed_priority_classes == ()
    assert not any([BASELINE.allow_privileged, BASELINE.allow_host_network, BASELINE.allow_host_pid, BASELINE.allow_host_path])


def test_resolution_is_cached_and_stable() -> None:
    assert POLICY.for_tenant("acme", "vision") is POLICY.for_tenant("acme", "vision")


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("default: [unclosed", "not valid YAML"),
        ("default:\n  allow_privleged: true\n", "allow_privleged"),
        ("default:\n  allow_privileged: 'yes'\n", "allow_privileged"),
        ("default:\n  job_limits: {max_gpus: -1}\n", "max_gpus"),
        ("default:\n  allowed_registries: ['https://docker.io']\n", "allowed_registries"),
        ("tenants:\n  Acme/Vision: {}\n", "tenants"),
        ("tenants:\n  a/b/c: {}\n", "tenants"),
        ("version: 2\n", "version"),
        ("- just a list\n", "policy"),
    ],
    ids=["bad-yaml", "typo-field", "bool-as-string", "negative-limit", "registry-with-scheme", "bad-tenant-case",
         "bad-tenant-depth", "unknown-version", "not-a-mapping"],
)
def test_invalid_policies_raise_policy_error_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(PolicyError, match=error):
        load_policy(text)


def test_empty_document_is_the_baseline() -> None:
    assert load_policy("").for_tenant("a", "b") == BASELINE


def test_defaults_fill_only_what_was_left_out() -> None:
    spec = a_job().pod_set("a", resources={"cpu_milli": 2000}).pod_set("b").spec()
    defaulted, filled = apply_defaults(spec, POLICY.for_tenant("acme", "vision"))
    assert (defaulted.queue, defaulted.priority_class, defaulted.max_runtime_s) == ("default", "batch-normal", 86400)
    a, b = defaulted.pod_sets
    assert (a.resources.cpu_milli, a.resources.memory_mib, a.resources.gpu_count) == (2000, 1024, 0)
    assert (b.resources.cpu_milli, b.resources.memory_mib) == (500, 1024)
    assert filled == (
        "queue", "priority_class", "max_runtime_s", "pod_sets.a.resources.memory_mib",
        "pod_sets.b.resources.cpu_milli", "pod_sets.b.resources.memory_mib",
    )


def test_defaults_never_override_what_the_submission_set() -> None:
    spec = a_job().set(queue="gpu", priority_class="batch-low", max_runtime_s=60).spec()
    defaulted, filled = apply_defaults(spec, POLICY.for_tenant("acme", "vision"))
    assert (defaulted.queue, defaulted.priority_class, defaulted.max_runtime_s) == ("gpu", "batch-low", 60)
    assert "queue" not in filled


def test_explicit_default_runtime_wins_over_the_limit() -> None:
    policy = load_policy("default:\n  job_limits: {max_runtime_s: 7200}\n  defaults: {max_runtime_s: 600}\n")
    defaulted, _ = apply_defaults(a_job().spec(), policy.for_tenant("acme", "vision"))
    assert defaulted.max_runtime_s == 600
