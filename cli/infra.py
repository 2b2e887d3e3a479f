"""``batchyard infra up|down|status``: local servers that outlive the command, recorded in var/infra.json."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import typer

from libs.localinfra import KafkaServer, PostgresServer
from libs.localinfra._proc import port_open, stop_group

STATE = Path("var") / "infra.json"


def up() -> None:
    if STATE.exists() and _running(json.loads(STATE.read_text())):
        typer.echo("already running:")
        _print_env(json.loads(STATE.read_text()))
        return
    root = Path("var") / "infra"
    shutil.rmtree(root, ignore_errors=True)
    kafka = KafkaServer(root.resolve() / "kafka").start(progress=typer.echo)
    try:
        postgres = PostgresServer(root.resolve() / "postgres").start(progress=typer.echo)
    except Exception:
        kafka.stop()
        raise
    state = {"kafka": {"pid": kafka.pid, "port": kafka.port, "bootstrap": kafka.bootstrap},
             "postgres": {"pid": postgres.pid, "port": postgres.port, "dsn": postgres.dsn}}
    STATE.parent.mkdir(exist_ok=True)
    STATE.write_text(json.dumps(state, indent=2))
    (Path("var") / "infra.env").write_text(_env_lines(state))
    typer.echo("Kafka and PostgreSQL are up:")
    _print_env(state)


def down() -> None:
    if not STATE.exists():
        typer.echo("nothing to stop")
        return
    state = json.loads(STATE.read_text())
    for name in ("kafka", "postgres"):
        stop_group(state[name]["pid"])
        typer.echo(f"stopped {name}")
    STATE.unlink()
    (Path("var") / "infra.env").unlink(missing_ok=True)
    shutil.rmtree(Path("var") / "infra", ignore_errors=True)


def status() -> None:
    if not STATE.exists():
        typer.echo("not running")
        raise typer.Exit(1)
    state = json.loads(STATE.read_text())
    for name in ("kafka", "postgres"):
        alive = port_open(state[name]["port"])
        typer.echo(f"{name}: {'up' if alive else 'DOWN'} on 127.0.0.1:{state[name]['port']} (pid {state[name]['pid']})")
    _print_env(state)


def _running(state: dict) -> bool:
    return all(port_open(state[n]["port"]) for n in ("kafka", "postgres"))


def _env_lines(state: dict) -> str:
    return (f"BATCHYARD_KAFKA_BOOTSTRAP={state['kafka']['bootstrap']}\n"
            f"BATCHYARD_DATABASE_URL={state['postgres']['dsn']}\n")


def _print_env(state: dict) -> None:
    for line in _env_lines(state).splitlines():
        typer.echo(f"  export {line}")
    if os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"):
        typer.echo("(note: BATCHYARD_KAFKA_BOOTSTRAP is already set in this shell)")
