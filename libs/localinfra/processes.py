"""Runs batchyard services as real processes (``batchyard run <service>``): for the demo and the tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from dataclasses import dataclass, field
from pathlib import Path

from libs.localinfra._proc import die_with_parent

REPO = Path(__file__).resolve().parents[2]  # services run from the repository root (relative config paths)
ALL_SERVICES = ("admission", "quota", "scheduler", "node-repair", "cost-reporting", "sim-fleet")
CORE_SERVICES = ALL_SERVICES[:-1]  # everything but a cluster connector


@dataclass
class ServiceProcess:
    name: str  # names its log files (and is the service, unless ``service`` says otherwise)
    env: dict[str, str]
    log_dir: Path
    proc: subprocess.Popen | None = None
    starts: int = 0
    service: str | None = None  # the service to run (``batchyard run <service>``), e.g. one connector of several

    def start(self) -> "ServiceProcess":
        self.starts += 1
        log = open(self.log_dir / f"{self.name}.{self.starts}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "cli.main", "run", self.service or self.name], cwd=REPO,
                                     preexec_fn=die_with_parent,
                                     env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no flush, no offset commit."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        path = self.log_dir / f"{self.name}.{self.starts}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


@dataclass
class Platform:
    """All services of one test, sharing a topic namespace and a database."""

    bootstrap: str
    database_url: str
    namespace: str
    log_dir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceProcess] = field(default_factory=dict)

    def env(self) -> dict[str, str]:
        return {**os.environ, "BATCHYARD_KAFKA_BOOTSTRAP": self.bootstrap,
                "BATCHYARD_DATABASE_URL": self.database_url, "BATCHYARD_TOPIC_NAMESPACE": self.namespace,
                "PYTHONUNBUFFERED": "1", **self.extra_env}

    def start(self, names=ALL_SERVICES) -> "Platform":
        for name in names:
            self.services[name] = ServiceProcess(name, self.env(), self.log_dir).start()
        return self

    def start_as(self, name: str, service: str, env: dict[str, str]) -> ServiceProcess:
        """Starts ``service`` under the label ``name`` with extra environment (e.g. one connector per cluster)."""
        self.services[name] = ServiceProcess(name, {**self.env(), **env}, self.log_dir, service=service).start()
        return self.services[name]

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()

    def assert_alive(self) -> None:
        dead = {n: s for n, s in self.services.items() if s.proc and s.proc.poll() is not None}
        assert not dead, "\n".join(f"{n} exited {s.proc.returncode}:\n{s.log_tail()}" for n, s in dead.items())

    def logs(self) -> str:
        return "\n".join(f"--- {n}\n{s.log_tail(15)}" for n, s in self.services.items())


