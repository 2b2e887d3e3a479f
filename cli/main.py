"""The ``batchyard`` command: run services, manage local infrastructure, submit work, run the demo."""

from __future__ import annotations

import asyncio
import importlib
import logging
import signal
import sys
from pathlib import Path

import typer

from cli.common import CommandGroup, fail
from cli.registry import SERVICES

app = CommandGroup(help="batchyard: a Kafka-native platform for batch and ML workloads.", no_args_is_help=True,
                   add_completion=False)
infra = CommandGroup(help="Throwaway Kafka and PostgreSQL on 127.0.0.1 (no Docker needed).", no_args_is_help=True)
app.add_typer(infra, name="infra")


def version() -> str:
    """Returns the installed batchyard version (the project's, when run from a checkout)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed
    try:
        return installed("batchyard")
    except PackageNotFoundError:
        import tomllib
        return tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"batchyard {version()}")
        raise typer.Exit()


@app.callback()
def _options(show_version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                               help="Print the version and exit.")) -> None:
    """batchyard: a Kafka-native platform for batch and ML workloads."""

# Command groups that live in their own modules: each module defines ``app`` (a typer.Typer) and ``NAME``.
COMMAND_GROUPS = ("cli.cost", "cli.nodes", "cli.audit", "cli.queues", "cli.replay", "cli.roles", "cli.kafka",
                  "cli.workloads")
for _module in COMMAND_GROUPS:
    try:
        _group = importlib.import_module(_module)
    except ModuleNotFoundError as _missing:
        if _missing.name != _module:
            raise
        continue
    app.add_typer(_group.app, name=_group.NAME)


from cli.ui.serve import ui as _ui  # noqa: E402 - after the groups, as the command list shows them

app.command("ui")(_ui)


@app.command()
def run(service: str = typer.Argument(..., help=f"One of: {', '.join(SERVICES)}")) -> None:
    """Run one service in the foreground (its own process, consumer group and Postgres schema)."""
    if service not in SERVICES:
        fail(f"unknown service {service!r}; choose one of: {', '.join(SERVICES)}")
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s")
    from cli.registry import create_app
    service_app = create_app(service)
    service_app.after_startup(freeze_heap)
    service_app.after_startup(dump_tasks_on_sigusr1)

    async def bound_the_shutdown() -> None:  # a coroutine function: FastStream runs plain callables in a thread
        await bounded_shutdown(service_app, service)

    service_app.after_startup(bound_the_shutdown)
    from libs.platform.startup_wait import DependencyUnavailable
    try:
        asyncio.run(service_app.run())
    except DependencyUnavailable as gave_up:  # the one line says it all: no traceback
        logging.getLogger("batchyard").error("%s stopped: %s", service, gave_up)
        sys.exit(1)
    except Exception:
        logging.getLogger("batchyard").exception("%s stopped", service)  # the operator's log keeps the traceback
        raise


SHUTDOWN_GRACE_S = 10.0  # under the 15 s the test launcher (libs.localinfra.processes) waits before SIGKILL


async def bounded_shutdown(service_app, service: str, grace_s: float = SHUTDOWN_GRACE_S) -> None:
    """SIGTERM or SIGINT starts a graceful stop, which must end within ``grace_s``; past that, or on a second
    signal, the process exits at once.

    A graceful stop can wait on Kafka or Postgres: an offset commit retried while the group coordinator moves or
    is gone, a handler retrying a lost database. Without a bound the service ignored SIGTERM and outlived its
    launcher (the broker-loss test). Exiting hard is safe: like a crash, unhandled records are redelivered and the
    inbox drops what was already handled; unpublished outbox rows are published by the next start.
    """
    import os
    import threading

    loop, log, stopping = asyncio.get_running_loop(), logging.getLogger("batchyard"), threading.Event()

    def hard_exit(why: str) -> None:
        log.error("%s: %s; exiting without finishing the graceful stop", service, why)
        logging.shutdown()
        os._exit(70)

    def on_signal(signum: int) -> None:
        if stopping.is_set():  # a second signal: the operator insists
            hard_exit(f"signal {signum} during shutdown")
        stopping.set()
        timer = threading.Timer(grace_s, hard_exit, args=(f"shutdown took longer than {grace_s:.0f}s",))
        timer.daemon = True  # a thread: it fires even if the event loop itself is stuck
        timer.start()
        service_app.exit()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


async def dump_tasks_on_sigusr1() -> None:
    """``kill -USR1 <pid>`` logs where every asyncio task of the service is waiting: what a stalled service is
    stuck on, without stopping it."""
    loop = asyncio.get_running_loop()

    def dump() -> None:
        lines = []
        for task in asyncio.all_tasks(loop):
            lines.append(f"--- {task.get_name()}")
            awaited = task.get_coro()
            while awaited is not None:  # the whole await chain, not just the task's outer frame
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                if frame is not None:
                    lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
        logging.getLogger("batchyard.tasks").warning("asyncio tasks on SIGUSR1:\n%s", "\n".join(lines))

    loop.add_signal_handler(signal.SIGUSR1, dump)


def freeze_heap() -> None:
    """Moves everything start-up allocated (modules, schemas, config) out of the cyclic GC's sight.

    A long-running service would otherwise rescan those objects on every full collection; for admission that was
    about a quarter of its CPU (docs/benchmarks.md). Objects made later are collected as usual.
    """
    import gc
    gc.collect()
    gc.freeze()


@app.command()
def demo(workloads: int = typer.Option(120, help="How many workloads to submit."),
         time_scale: float = typer.Option(600.0, help="Simulated seconds per wall second."),
         seed: int = typer.Option(42, help="Seed of the workload mix."),
         connector: str = typer.Option("sim", help="sim: the simulated fleet; kubernetes: real API servers (one "
                                       "per cluster, kwok nodes) and the Kubernetes connector.")) -> None:
    """Run the whole platform on the simulated fleet with a sample workload mix, and summarize what happened."""
    if connector not in ("sim", "kubernetes"):
        fail(f"unknown connector {connector!r}; choose sim or kubernetes")
    # SIGTERM ends the demo as Ctrl-C does: asyncio.run cancels it, and its servers and services are stopped
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if connector == "kubernetes":
        from cli.demo import console
        from cli.demo_kube import run_kube_demo
        sys.exit(asyncio.run(run_kube_demo(console, workloads=workloads, time_scale=time_scale, seed=seed)))
    from cli.demo import run_demo
    sys.exit(asyncio.run(run_demo(workloads=workloads, time_scale=time_scale, seed=seed)))


@app.command()
def submit(path: Path = typer.Argument(..., exists=True, dir_okay=False, help="A workload YAML file."),
           org: str = typer.Option(..., help="Your org."), team: str = typer.Option(..., help="Your team.")) -> None:
    """Submit a workload described in YAML to the submission topic."""
    from cli.submit import SubmitError, submit_file
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # an unreachable broker is reported once, in words
    try:
        workload_id = asyncio.run(submit_file(path, org=org, team=team))
    except SubmitError as exc:
        fail(str(exc))
    typer.echo(f"submitted {workload_id}")


@app.command()
def cancel(workload: str = typer.Argument(..., help="The workload id `batchyard submit` printed."),
           org: str = typer.Option(..., help="Your org."), team: str = typer.Option(..., help="Your team."),
           reason: str = typer.Option("", help="Why, for the audit log and the workload's status.")) -> None:
    """Ask to cancel one of your team's workloads: admission answers WorkloadCancelled, or a refusal with a reason
    (`batchyard audit list --workload ID`)."""
    from cli.cancel import cancel_workload
    from cli.submit import SubmitError
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # an unreachable broker is reported once, in words
    try:
        asyncio.run(cancel_workload(workload, org=org, team=team, reason=reason))
    except SubmitError as exc:
        fail(str(exc))
    typer.echo(f"cancel requested for {workload}")


def _lifecycle(verb: str, workload: str, org: str, team: str, reason: str, **fields: str) -> None:
    from cli.lifecycle import request_workload
    from cli.submit import SubmitError
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # an unreachable broker is reported once, in words
    try:
        asyncio.run(request_workload(verb, workload, org=org, team=team, reason=reason, **fields))
    except SubmitError as exc:
        fail(str(exc))
    typer.echo(f"{verb} requested for {workload}")


@app.command()
def suspend(workload: str = typer.Argument(..., help="The workload id `batchyard submit` printed."),
            org: str = typer.Option(..., help="Your org."), team: str = typer.Option(..., help="Your team."),
            reason: str = typer.Option("", help="Why, for the audit log and the workload's status.")) -> None:
    """Suspend one of your team's workloads (Kueue's active: false): its quota is released and its pods stopped
    until `batchyard resume`; admission answers WorkloadSuspended or a refusal with a reason."""
    _lifecycle("suspend", workload, org, team, reason)


@app.command()
def resume(workload: str = typer.Argument(..., help="The workload id `batchyard submit` printed."),
           org: str = typer.Option(..., help="Your org."), team: str = typer.Option(..., help="Your team."),
           reason: str = typer.Option("", help="Why, for the audit log and the workload's status.")) -> None:
    """Resume one of your team's suspended workloads: it waits in its queue again, pending, as a fresh attempt."""
    _lifecycle("resume", workload, org, team, reason)


@app.command()
def priority(workload: str = typer.Argument(..., help="The workload id `batchyard submit` printed."),
             priority_class: str = typer.Option(..., "--class", help="The priority class it should have from now "
                                                "(one your team may use)."),
             org: str = typer.Option(..., help="Your org."), team: str = typer.Option(..., help="Your team."),
             reason: str = typer.Option("", help="Why, for the audit log and the workload's status.")) -> None:
    """Change the priority class of one of your team's pending, running or suspended workloads (Kueue's meaning):
    a pending one moves in its queue at once, a running one defends its quota and nodes with the new priority;
    admission answers WorkloadPriorityChanged or a refusal with a reason (`batchyard audit list --workload ID`)."""
    _lifecycle("priority", workload, org, team, reason, priority_class=priority_class)


@app.command()
def schemas() -> None:
    """Export every event's JSON Schema and every service's AsyncAPI document into schemas/."""
    from cli.schemas import export_all
    for path in export_all():
        typer.echo(path)


@infra.command("up")
def infra_up(kubernetes: bool = typer.Option(False, "--kubernetes", help="Also start a Kubernetes control plane "
                                             "(etcd, kube-apiserver, kube-controller-manager, kwok) with batchyard's "
                                             "CRDs and the demo fleet's on-prem nodes."),
             secure: bool = typer.Option(False, "--secure", help="Kafka with SASL_SSL (SCRAM-SHA-512) and the "
                                         "StandardAuthorizer: one principal per service, producers, ops, finance and "
                                         "admin, with the catalog's ACLs applied (env files in var/principals/)."),
             brokers: int = typer.Option(1, "--brokers", min=1, max=9, help="Kafka nodes (KRaft, each a broker and "
                                         "a controller voter); 3 or more: topics replicated 3 times with "
                                         "min.insync.replicas 2, so one broker may be lost.")
             ) -> None:
    """Start Kafka and PostgreSQL (and optionally Kubernetes) in the background; prints the environment to use them."""
    from cli.infra import up
    up(kubernetes=kubernetes, secure=secure, brokers=brokers)


@infra.command("down")
def infra_down() -> None:
    """Stop the servers started by ``infra up`` and delete their data."""
    from cli.infra import down
    down()


@infra.command("status")
def infra_status() -> None:
    """Show whether the local servers run."""
    from cli.infra import status
    status()


def main() -> None:
    app()


if __name__ == "__main__":
    main()
