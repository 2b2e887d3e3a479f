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


def up(*, kubernetes: bool = False) -> None:
    if _state().exists() and _running(state := json.loads(_state().read_text())):
        typer.echo("already running:")
        _print_env(state)
        return
    root = _var() / "infra"
    shutil.rmtree(root, ignore_errors=True)
    kafka = KafkaServer(root.resolve() / "kafka").start(progress=typer.echo)
    started = [kafka.stop]
    try:
        postgres = PostgresServer(root.resolve() / "postgres").start(progress=typer.echo)
        started.append(postgres.stop)
        state = {"kafka": {"pid": kafka.pid, "port": kafka.port, "bootstrap": kafka.bootstrap},
                 "postgres": {"pid": postgres.pid, "port": postgres.port, "dsn": postgres.dsn}}
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
        for pid in (state[name]["pids"].values() if name == "kubernetes" else [state[name]["pid"]]):
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
        pids = ", ".join(map(str, state[name]["pids"].values())) if "pids" in state[name] else state[name]["pid"]
        typer.echo(f"{name}: {'up' if alive else 'DOWN'} on 127.0.0.1:{state[name]['port']} (pid {pids})")
    _print_env(state)


def _running(state: dict) -> bool:
    return all(port_open(state[n]["port"]) for n in ("kafka", "postgres", "kubernetes") if n in state)


def _env_lines(state: dict) -> str:
    lines = (f"BATCHYARD_KAFKA_BOOTSTRAP={state['kafka']['bootstrap']}\n"
             f"BATCHYARD_DATABASE_URL={state['postgres']['dsn']}\n")
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
