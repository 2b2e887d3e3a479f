"""The admission service's configuration: keyring and policy files, hot reload, signing, contract mapping."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from cli.roles import roles_sql
from cli.submit import SubmitError, signed_submission, signer_from_env
from libs.admission import InMemoryReplayCache, Identity, PolicyError, authenticate, decide
from libs.events import PodSet, Resources, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.fleet.mix import workload_mix
from services.admission.keyring import KeyringError, load_keyring, load_verifier_keyring, parse_keyring
from services.admission.policy import load_service_policy, parse_service_policy
from services.admission.reload import HotFile
from services.admission.signing import DEMO_KEYRING, DEMO_SIGNING_KEYS, demo_signer
from services.admission.translate import job_document, with_defaults

REPO = Path(__file__).resolve().parents[3]
SECRET = "A" * 43  # 32 bytes, base64url


def now() -> datetime:
    return datetime.now(timezone.utc)


def keyring_yaml(*keys: str, extra: str = "") -> str:
    return "keys:\n" + "".join(f"  - {k}\n" for k in keys) + extra


@pytest.mark.parametrize("text, message", [
    pytest.param("keys: []", "non-empty 'keys'", id="no-keys"),
    pytest.param(keyring_yaml("{kid: a, secret: " + SECRET + ", colour: red}"), "unknown fields", id="typo-field"),
    pytest.param(keyring_yaml("{kid: a, secret: QUJD}"), "at least 32 bytes", id="short-secret"),
    pytest.param(keyring_yaml("{kid: a, secret: " + SECRET + ", secret_env: X}"), "exactly one", id="two-sources"),
    pytest.param(keyring_yaml("{kid: a, secret_env: NOT_SET_ANYWHERE}"), "is not set", id="env-missing"),
    pytest.param(keyring_yaml("{kid: a, secret: " + SECRET + ", team: x}"), "needs an org", id="team-without-org"),
    pytest.param(keyring_yaml("{kid: a, secret: " + SECRET + "}", "{kid: a, secret: " + SECRET + "}"),
                 "duplicate key id", id="duplicate-kid"),
    pytest.param(keyring_yaml("{kid: a, secret: " + SECRET + ", retired_at: soon}"), "not an ISO time",
                 id="bad-retired-at"),
    pytest.param("keys: [oops", "not valid YAML", id="broken-yaml"),
])
def test_an_invalid_keyring_is_refused_naming_the_problem(text, message):
    with pytest.raises(KeyringError, match=message):
        parse_keyring(text, env={})


def test_the_demo_keyring_loads_with_scopes_and_a_retired_key():
    keyring = load_keyring(DEMO_KEYRING)
    keys = keyring.keyring.keys
    assert keys["demo-acme-vision-2026"].covers("acme", "vision") and not keys["demo-acme-vision-2026"].covers(
        "acme", "nlp")
    assert keys["demo-acme-ci-2026"].covers("acme", "nlp") and keys["demo-acme-vision-2025"].retired_at
    assert keyring.keyring.leeway_s == 30


def test_admissions_keyring_holds_public_keys_only_and_hmac_only_for_listed_tenants(caplog):
    loaded = load_verifier_keyring(DEMO_KEYRING)  # what admission loads
    assert not any(e.key.can_sign for e in loaded.entries if e.key.algorithm == "EdDSA")
    assert loaded.deprecated == () and "deprecated" not in caplog.text, "the demo keyring has no HMAC key left"
    with pytest.raises(KeyringError, match="public keys only"):
        load_keyring(DEMO_SIGNING_KEYS, public_only=True)
    team_hmac = keyring_yaml("{kid: h, secret: " + SECRET + ", org: acme, team: vision}")
    with pytest.raises(KeyringError, match="not in hmac_tenants"):
        parse_keyring(team_hmac, env={}, public_only=True)
    allowed = parse_keyring(team_hmac + "hmac_tenants: [acme/vision]\n", env={}, public_only=True)
    assert allowed.keyring.hmac_allowed("acme", "vision") and not allowed.keyring.hmac_allowed("acme", "nlp")


def test_secrets_come_from_the_environment_or_a_file(tmp_path):
    (tmp_path / "k").write_text(SECRET + "\n")
    text = keyring_yaml("{kid: e, secret_env: MY_KEY, org: acme}", "{kid: f, secret_file: k}")
    keyring = parse_keyring(text, base=tmp_path, env={"MY_KEY": SECRET}).keyring
    assert keyring.keys["e"].secret == keyring.keys["f"].secret == b"\x00" * 32


def test_the_policy_file_subsumes_the_spine_rules():
    policy = load_service_policy(REPO / "deploy/admission/policy.yaml")
    vision = policy.policy.for_tenant("acme", "vision")
    assert vision.defaults.queue == "default" and vision.defaults.priority_class == "normal"
    assert not vision.allow_privileged and "critical" not in vision.allowed_priority_classes
    assert policy.priority_of("high") == 100 and policy.priority_of("critical") == 1000


@pytest.mark.parametrize("text, message", [
    pytest.param("priority_classes: {low: x}", "priority_classes", id="bad-priority-table"),
    pytest.param("default: {allow_privleged: true}", "allow_privleged", id="typo-names-field"),
    pytest.param("[1, 2]", "mapping", id="not-a-mapping"),
])
def test_an_invalid_policy_is_refused_naming_the_field(text, message):
    with pytest.raises(PolicyError, match=message):
        parse_service_policy(text)


def test_a_changed_file_is_reloaded_and_a_broken_edit_keeps_the_last_good_version(tmp_path):
    path, now = tmp_path / "p.yaml", [0.0]
    path.write_text("priority_classes: {low: 1}")
    hot = HotFile(path, load_service_policy, interval_s=5, clock=lambda: now[0])
    path.write_text("priority_classes: {low: 22}")
    assert hot.current().priorities == {"low": 1}, "not re-checked before the interval"
    now[0] = 6
    assert hot.current().priorities == {"low": 22} and hot.reloads == 1
    path.write_text("priority_classes: [broken")
    now[0] = 12
    assert hot.current().priorities == {"low": 22} and hot.errors == 1


def test_the_demo_mix_signed_by_the_demo_signer_is_accepted_with_defaults_written_back():
    handlers_policy = load_service_policy(REPO / "deploy/admission/policy.yaml").policy
    keyring = load_keyring(DEMO_KEYRING).keyring
    for event in workload_mix(30, signer=demo_signer()):
        decision = decide(job_document(event), event.token, keyring, handlers_policy, now(), InMemoryReplayCache())
        assert decision.accepted, decision.rejection
        spec = with_defaults(event.spec, decision.spec)
        assert spec.queue == "default" and spec.max_runtime_s == 604800 and spec.pod_sets == event.spec.pod_sets


def test_omitted_requests_are_defaulted_into_the_contract_spec():
    event = demo_signer()(WorkloadSubmitted(workload_id="w-1", tenant=Tenant(org="acme", team="vision"),
                                            spec=WorkloadSpec(name="j", pod_sets=(PodSet(name="main", count=2),))))
    policy = load_service_policy(REPO / "deploy/admission/policy.yaml").policy
    decision = decide(job_document(event), event.token, load_keyring(DEMO_KEYRING).keyring, policy, now(),
                      InMemoryReplayCache())
    spec = with_defaults(event.spec, decision.spec)
    assert spec.pod_sets[0].requests == Resources(cpu_milli=1000, memory_mib=2048)
    assert spec.priority_class == "normal"


def test_the_signer_prefers_the_team_key_and_skips_retired_keys():
    signer = demo_signer()
    assert signer.key_for("acme", "vision").key.kid == "demo-acme-vision-2026"
    assert signer.key_for("acme", "platform").key.kid == "demo-acme-ci-2026"  # no team key: the org key
    identity = authenticate(signer.token("acme", "nlp"), load_keyring(DEMO_KEYRING).keyring, now())
    assert isinstance(identity, Identity) and identity.kid == "demo-acme-nlp-2026"


def test_the_cli_signs_with_a_key_from_the_environment_and_lists_the_jobs_queue():
    private = "uBx-POrAjX8vOeFgYBau3f6c0KYv1NLP7jfLqaEkIcQ"  # the demo key's, as a user would export it
    inline = signer_from_env(org="acme", team="vision", subject="ci",
                             env={"BATCHYARD_SIGNING_KEY": f"demo-acme-vision-2026:ed25519:{private}"})
    assert isinstance(authenticate(inline.token("acme", "vision"), load_keyring(DEMO_KEYRING).keyring, now()), Identity)
    signer = signer_from_env(org="acme", team="vision", env={"BATCHYARD_SIGNING_KEY_FILE": str(DEMO_SIGNING_KEYS)},
                             subject="me")
    event = signed_submission(WorkloadSpec(name="j", queue="gpu", pod_sets=(PodSet(name="m", count=1),)),
                              org="acme", team="vision", signer=signer)
    identity = authenticate(event.token, load_keyring(DEMO_KEYRING).keyring, now())
    assert identity.subject == "me" and identity.queues == {"default", "gpu"}
    with pytest.raises(SubmitError, match="no signing key"):
        signer_from_env(org="acme", team="vision", env={})


def test_the_roles_sql_gives_each_service_its_own_schema():
    sql = "\n".join(roles_sql("batchyard", prefix="by_", schemas=("admission", "quota")))
    assert "alter schema admission owner to by_admission" in sql and "alter schema quota owner to by_quota" in sql
    assert "grant select on all tables in schema admission to by_auditor" in sql
    with pytest.raises(ValueError):
        roles_sql("batchyard", prefix="x; drop table", schemas=("admission",))
