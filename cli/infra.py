"""``batchyard infra up|down|status``: local servers that outlive the command, recorded in var/infra.json
(``BATCHYARD_INFRA_DIR`` moves var/)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import typer

from libs.localinfra import KafkaServer, PostgresServer
from libs.localinfra._proc import port_open, stop_group



def _var() -> Path:
    """Where infra up keeps its servers and state: ``var/`` (``BATCHYARD_INFRA_DIR`` elsewhere)."""
    return Path(os.environ.get("BATCHYARD_INFRA_DIR") or "var")


def _state() -> Path:
    return _var() / "infra.json"


def up(*, kubernetes: bool = False, secure: bool = False, brokers: int = 1) -> None:
    if secure and brokers > 1:
        from cli.common import fail
        fail("--secure runs one broker: a secured cluster of several (--brokers) is not supported yet")
    if _state().exists() and _running(state := json.loads(_state().read_text())):
        typer.echo("already running:")
        _print_env(state)
        return
    root = _var() / "infra"
    shutil.rmtree(root, ignore_errors=True)
    kafka = _kafka(root.resolve() / "kafka", secure, brokers).start(progress=typer.echo)
    started = [kafka.stop]
    try:
        postgres = PostgresServer(root.resolve() / "postgres").start(progress=typer.echo)
        started.append(postgres.stop)
        kafka_state = ({"pid": kafka.pid, "port": kafka.port} if brokers == 1 else
                       {"pids": kafka.pids, "port": kafka.nodes[0].port, "brokers": brokers})
        state = {"kafka": {**kafka_state, "bootstrap": kafka.bootstrap},
                 "postgres": {"pid": postgres.pid, "port": postgres.port, "dsn": postgres.dsn}}
        if secure:
            state["kafka"]["principals"] = _secure_bus(kafka, ("onprem-dc1",) if kubernetes else ())
        if kubernetes:
            state["kubernetes"] = _kubernetes(root.resolve() / "kubernetes", started)
    except Exception:
        for stop in reversed(started):
            stop()
        raise
    _var().mkdir(parents=True, exist_ok=True)
    _state().write_text(json.dumps(state, indent=2))
    (_var() / "infra.env").write_text(_env_lines(state))
    typer.echo("Kafka, PostgreSQL and Kubernetes are up:" if kubernetes else "Kafka and PostgreSQL are up:")
    _print_env(state)


def _kafka(workdir: Path, secure: bool, brokers: int = 1):
    """Returns the Kafka to start: plain, a cluster of ``brokers`` nodes, or (``--secure``) SASL_SSL with ACLs and
    one SCRAM user per principal."""
    if brokers > 1:
        from libs.localinfra.kafka_cluster import KafkaCluster
        return KafkaCluster(workdir, brokers)
    if not secure:
        return KafkaServer(workdir)
    import secrets

    from libs.localinfra.kafka_authz import AuthorizingKafkaServer
    from libs.platform.acls import principals
    users = {name: secrets.token_urlsafe(18) for name in (*principals(("onprem-dc1",)), "admin")}
    return AuthorizingKafkaServer(workdir, scram_users=users)


def _secure_bus(kafka, kube_clusters: tuple[str, ...]) -> dict[str, str]:
    """Creates the topics and applies the catalog's ACLs as the admin; writes one env file per principal
    (var/principals/<name>.env) and returns name -> file."""
    from libs.localinfra._proc import run_coroutine
    from libs.platform import kafka_acls
    from libs.platform.topics_admin import ensure_topics

    admin = kafka.client_options("admin")
    run_coroutine(lambda: ensure_topics(kafka.bootstrap, **admin))
    run_coroutine(lambda: kafka_acls.apply(kafka.bootstrap, "", kube_clusters, **admin))
    directory = _var().resolve() / "principals"
    directory.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, password in kafka.scram_users.items():
        path = directory / f"{name}.env"
        path.write_text(f"BATCHYARD_KAFKA_SECURITY_PROTOCOL=SASL_SSL\nBATCHYARD_KAFKA_SASL_MECHANISM=SCRAM-SHA-512\n"
                        f"BATCHYARD_KAFKA_SASL_USERNAME={name}\nBATCHYARD_KAFKA_SASL_PASSWORD={password}\n"
                        f"BATCHYARD_KAFKA_SSL_CAFILE={kafka.ca_file}\n"
                        + ("" if name in ("admin", "producer", "ops", "finance") else "BATCHYARD_ENSURE_TOPICS=false\n"))
        path.chmod(0o600)
        files[name] = str(path)
    typer.echo(f"Kafka authorizes (SASL_SSL, ACLs from the topic catalog): one env file per principal in {directory}")
    return files


def _kubernetes(workdir: Path, started: list) -> dict:
    """Starts a control plane that outlives this command, ready for batchyard, with the demo fleet's on-prem nodes."""
    from libs.fleet import load_fleet
    from libs.fleet.kube_nodes import cluster_nodes
    from libs.localinfra.kube import KubeControlPlane
    from libs.localinfra.kube_fleet import TEAM_NAMESPACES
    from libs.localinfra.kube_session import KubeCluster

    plane = KubeControlPlane(workdir, name="onprem-dc1", tied=False).start(progress=typer.echo)
    started.append(plane.stop)
    cluster = KubeCluster(plane.name, plane.kubeconfig, None, plane).prepare(namespaces=TEAM_NAMESPACES)
    cluster.add_nodes(cluster_nodes(load_fleet("deploy/fleet/demo.yaml"), plane.name))
    return {"pids": plane.pids, "port": plane.port, "kubeconfig": str(plane.kubeconfig),
            "kubectl": str(plane.bin_dir / "kubectl")}


def down() -> None:
    if not _state().exists():
        typer.echo("nothing to stop")
        return
    state = json.loads(_state().read_text())
    for name in ("kubernetes", "kafka", "postgres"):
        if name not in state:
            continue
        for pid in _pids(state[name]):
            stop_group(pid)
        typer.echo(f"stopped {name}")
    _state().unlink()
    (_var() / "infra.env").unlink(missing_ok=True)
    shutil.rmtree(_var() / "infra", ignore_errors=True)


def status() -> None:
    if not _state().exists():
        typer.echo("not running")
        raise typer.Exit(1)
    state = json.loads(_state().read_text())
    for name in ("kafka", "postgres", "kubernetes"):
        if name not in state:
            continue
        alive = port_open(state[name]["port"])
        pids = ", ".join(map(str, _pids(state[name])))
        where = state[name].get("bootstrap") if "brokers" in state[name] else f"127.0.0.1:{state[name]['port']}"
        typer.echo(f"{name}: {'up' if alive else 'DOWN'} on {where} (pid {pids})")
    _print_env(state)


def _pids(server: dict) -> list[int]:
    """Returns the pids a server entry of infra.json records: one, a list (Kafka nodes) or by name (Kubernetes)."""
    pids = server.get("pids", [server.get("pid")])
    return [pid for pid in (pids.values() if isinstance(pids, dict) else pids) if pid]


def _running(state: dict) -> bool:
    return all(port_open(state[n]["port"]) for n in ("kafka", "postgres", "kubernetes") if n in state)


def _env_lines(state: dict) -> str:
    lines = (f"BATCHYARD_KAFKA_BOOTSTRAP={state['kafka']['bootstrap']}\n"
             f"BATCHYARD_DATABASE_URL={state['postgres']['dsn']}\n")
    if "principals" in state["kafka"]:  # the admin's credentials; each service sources its own file
        lines += Path(state["kafka"]["principals"]["admin"]).read_text()
    if "kubernetes" in state:
        lines += f"BATCHYARD_KUBECONFIG={state['kubernetes']['kubeconfig']}\n"
    return lines


def _print_env(state: dict) -> None:
    for line in _env_lines(state).splitlines():
        typer.echo(f"  export {line}")
    if os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"):
        typer.echo("(note: BATCHYARD_KAFKA_BOOTSTRAP is already set in this shell)")
    if "kubernetes" in state:
        typer.echo(f"  kubectl: {state['kubernetes']['kubectl']} (matches the API server)")
