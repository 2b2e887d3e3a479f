"""The Helm chart (deploy/helm/batchyard): ``helm lint``, and ``helm template`` for each values profile (minimal,
HA) applied with ``kubectl apply --dry-run=server`` to a real API server, in a namespace that enforces the
``restricted`` Pod Security Standard; then what the rendered objects promise (docs/deploy.md, ADR 0015)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from libs.localinfra.helm_build import ensure_helm
from tests.support.polling import eventually

pytestmark = pytest.mark.integration
CHART = Path("deploy/helm/batchyard")
PROFILES = ("minimal", "ha")
PLATFORM = ("admission", "quota", "scheduler", "node-repair", "cost-reporting", "kube-connector")
LEADER_ELECTED = ("scheduler", "quota")  # the services that elect a leader, so run a warm standby in HA


class RenderError(Exception):
    """helm refused to render the chart."""


@pytest.fixture(scope="module")
def helm() -> Path:
    return ensure_helm()


def render(helm: Path, release: str, *values: str, chart: Path = CHART, sets: tuple[str, ...] = ()) -> str:
    """Returns ``helm template``'s output for the release in a namespace of its name, with the values files."""
    args = [str(helm), "template", release, str(chart), "--namespace", release]
    for path in values:
        args += ["-f", str(chart / path)]
    for item in sets:
        args += ["--set", item]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RenderError(done.stderr)
    return done.stdout


def objects(text: str) -> list[dict]:
    return [d for d in yaml.safe_load_all(text) if d]


def find(docs: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]


def dry_run(cluster, namespace: str, text: str) -> subprocess.CompletedProcess:
    """Creates ``namespace`` (enforcing the restricted Pod Security Standard) and applies ``text`` in a server
    dry run; returns kubectl's result (its warnings are in stderr)."""
    cluster.kubectl("create", "namespace", namespace, check=False)
    cluster.kubectl("label", "--overwrite", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/warn=restricted")
    return cluster.kubectl("apply", "--server-side", "--force-conflicts", "--field-manager", "batchyard-test",
                           "--dry-run=server", "-f", "-", stdin=text, check=False)


@pytest.fixture(scope="module")
def rendered(helm) -> dict[str, list[dict]]:
    return {p: objects(render(helm, f"by-{p}", f"values-{p}.yaml")) for p in PROFILES}


@pytest.mark.parametrize("profile", PROFILES)
def test_helm_lint_passes_strictly(helm, profile):
    done = subprocess.run([str(helm), "lint", "--strict", str(CHART), "-f", str(CHART / f"values-{profile}.yaml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_each_profile_passes_a_server_side_dry_run(kube_session, helm, profile):
    text = render(helm, f"by-{profile}", f"values-{profile}.yaml")
    done = dry_run(kube_session["onprem-dc1"], f"by-{profile}", text)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("(server dry run)") == len(objects(text)), done.stdout
    assert "would violate PodSecurity" not in done.stderr, done.stderr


def test_the_simulated_fleet_renders_and_passes_too(kube_session, helm):
    text = render(helm, "by-sim", "values-minimal.yaml", sets=("services.sim-fleet.enabled=true",
                                                              "services.kube-connector.enabled=false"))
    assert [d["metadata"]["name"] for d in find(objects(text), "Deployment")] == [
        f"by-sim-{s}" for s in ("admission", "quota", "scheduler", "node-repair", "cost-reporting", "sim-fleet")]
    done = dry_run(kube_session["onprem-dc1"], "by-sim", text)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("profile", PROFILES)
def test_every_service_runs_its_own_deployment(rendered, profile):
    docs = rendered[profile]
    deployments = {d["metadata"]["name"]: d for d in find(docs, "Deployment")}
    assert set(deployments) == {f"by-{profile}-{s}" for s in PLATFORM}
    for service in PLATFORM:
        pod = deployments[f"by-{profile}-{service}"]["spec"]["template"]["spec"]
        assert pod["containers"][0]["args"] == ["run", service]
        assert pod["serviceAccountName"] == f"by-{profile}-{service}"
        env = {e["name"] for e in pod["containers"][0]["env"]}
        assert {"BATCHYARD_KAFKA_BOOTSTRAP", "BATCHYARD_DATABASE_URL", "BATCHYARD_METRICS_PORT"} <= env


def test_ha_runs_a_standby_and_a_disruption_budget_where_a_leader_is_elected(rendered):
    ha, minimal = rendered["ha"], rendered["minimal"]
    for service in (*LEADER_ELECTED, "admission"):
        assert find(ha, "Deployment", f"by-ha-{service}")[0]["spec"]["replicas"] == 2
        (pdb,) = find(ha, "PodDisruptionBudget", f"by-ha-{service}")
        assert pdb["spec"]["minAvailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == service
    # the rest have no leader election: one replica, never two at once in a rollout, and no budget to block drains
    for service in sorted(set(PLATFORM) - {*LEADER_ELECTED, "admission"}):
        deployment = find(ha, "Deployment", f"by-ha-{service}")[0]
        assert (deployment["spec"]["replicas"], deployment["spec"]["strategy"]["type"]) == (1, "Recreate")
    assert not find(minimal, "PodDisruptionBudget")
    assert {d["spec"]["replicas"] for d in find(minimal, "Deployment")} == {1}


@pytest.mark.parametrize("profile", PROFILES)
def test_only_the_kube_connector_can_talk_to_the_api_server(rendered, profile):
    docs = rendered[profile]
    connector = f"by-{profile}-kube-connector"
    assert not find(docs, "Role") and not find(docs, "RoleBinding")
    bindings = find(docs, "ClusterRoleBinding")
    assert [s["name"] for b in bindings for s in b["subjects"]] == [connector]
    for account in find(docs, "ServiceAccount"):
        assert account["automountServiceAccountToken"] is (account["metadata"]["name"] == connector)
    for deployment in find(docs, "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is (deployment["metadata"]["name"] == connector)
    api_ports = {443, 6443}
    for policy in find(docs, "NetworkPolicy"):
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert bool(ports & api_ports) is (policy["metadata"]["name"] == connector), policy


def test_the_connectors_rights_are_those_of_deploy_kube_rbac(rendered):
    shipped = [d for d in yaml.safe_load_all(Path("deploy/kube/rbac.yaml").read_text())
               if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "batchyard-kube-connector"]
    (charted,) = find(rendered["ha"], "ClusterRole", "by-ha-kube-connector")
    assert charted["rules"] == shipped[0]["rules"]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_container_runs_as_non_root_with_resources_and_probes(rendered, profile):
    for deployment in find(rendered[profile], "Deployment"):
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
        for container in pod["containers"]:
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"]
            for probe in ("readinessProbe", "livenessProbe"):
                assert container[probe]["exec"]["command"][:2] == ["python", "-c"], container[probe]


@pytest.mark.parametrize("profile", PROFILES)
def test_network_policies_deny_ingress_and_allow_only_dns_kafka_and_postgres(rendered, profile):
    docs = rendered[profile]
    policies = {p["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: p
                for p in find(docs, "NetworkPolicy")}
    assert set(policies) == set(PLATFORM)
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"] and policy["spec"]["ingress"] == []
    allowed = {53, 5432, 9093 if profile == "ha" else 9092}
    for service, policy in policies.items():
        ports = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
        assert ports == allowed | ({443, 6443} if service == "kube-connector" else set()), service


def test_the_chart_ships_batchyards_crd_unchanged():
    for path in Path("deploy/kube/crds").glob("*.yaml"):
        assert (CHART / "crds" / path.name).read_text() == path.read_text(), f"copy {path} into {CHART}/crds"


def test_the_default_connector_config_loads(tmp_path):
    from services.kube_connector.config import load_connector_config
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    path = tmp_path / "connector.yaml"
    path.write_text(values["services"]["kube-connector"]["configFiles"]["BATCHYARD_KUBE_CONNECTOR_CONFIG"])
    assert load_connector_config(path).signing_key_file == "/etc/batchyard/keys/connector-keys.yaml"


@pytest.mark.parametrize("setting, message", [
    ("services.node-repair.replicas=2", "node-repair elects no leader"),
    ("services.schedular.enabled=true", "services.schedular: no such service"),
    ("services.quota.configFiles.quota_yaml=x", "name a BATCHYARD_ setting"),
    ("services.kube-connector.configFiles=null", "the connector needs its config"),
], ids=["replicas-without-leader", "unknown-service", "config-not-a-setting", "connector-without-config"])
def test_values_the_chart_refuses(helm, setting, message):
    with pytest.raises(RenderError, match=message):
        render(helm, "by-bad", "values-minimal.yaml", sets=(setting,))


def test_a_broken_template_fails_the_render(helm, tmp_path):
    chart = shutil.copytree(CHART, tmp_path / "batchyard")
    template = chart / "templates" / "pdb.yaml"
    template.write_text(template.read_text().replace("{{- end }}\n", "", 1))
    with pytest.raises(RenderError):
        render(helm, "by-broken", "values-ha.yaml", chart=chart)


def test_an_object_the_api_server_refuses_fails_the_dry_run(kube_session, helm, tmp_path):
    chart = shutil.copytree(CHART, tmp_path / "batchyard")
    template = chart / "templates" / "pdb.yaml"
    template.write_text(template.read_text().replace("minAvailable:", "minimumAvailable:"))
    done = dry_run(kube_session["onprem-dc1"], "by-refused", render(helm, "by-refused", "values-ha.yaml", chart=chart))
    assert done.returncode != 0 and "minimumAvailable" in done.stderr, done.stdout + done.stderr


async def test_the_probe_answers_once_the_service_runs(helm, services):
    """The rendered probe command, run as the kubelet would inside the container (with this venv's python), fails
    while nothing serves the metrics port and succeeds once `batchyard run admission` serves it."""
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    docs = objects(render(helm, "by-probe", "values-minimal.yaml", sets=(f"metrics.port={port}",)))
    (container,) = find(docs, "Deployment", "by-probe-admission")[0]["spec"]["template"]["spec"]["containers"]
    command = [sys.executable, *container["readinessProbe"]["exec"]["command"][1:]]
    assert container["livenessProbe"]["exec"]["command"] == container["readinessProbe"]["exec"]["command"]
    env = {e["name"]: e["value"] for e in container["env"] if "value" in e}
    assert env["BATCHYARD_METRICS_PORT"] == str(port)

    def answers() -> bool:
        return subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    assert not answers()
    services.start_as("admission", "admission", {"BATCHYARD_METRICS_PORT": env["BATCHYARD_METRICS_PORT"]})

    async def ready() -> bool:
        return await asyncio.to_thread(answers)

    assert await eventually(ready, timeout=60), services.logs()
