"""A single-node Apache Kafka 4.1 broker+controller (KRaft) started from its Maven Central jars."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from libs.localinfra._proc import InfraError, free_port, port_open, stop_group, wait_until

KAFKA_VERSION = "4.1.2"  # pinned in deploy/kafka/pom.xml as well
REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"

_LOG4J2 = """Configuration:
  status: warn
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.BrokerServer
        level: INFO
"""


def cache_dir() -> Path:
    """Returns where fetched jars are kept between runs (``BATCHYARD_CACHE_DIR`` or ~/.cache/batchyard)."""
    base = os.environ.get("BATCHYARD_CACHE_DIR") or Path.home() / ".cache" / "batchyard"
    return Path(base)


def ensure_jars(progress=print) -> Path:
    """Returns the directory holding Kafka's runtime jars, fetching them with mvn on first use."""
    lib = cache_dir() / f"kafka-{KAFKA_VERSION}" / "lib"
    if (lib / ".complete").exists():
        return lib
    if shutil.which("mvn") is None:
        raise InfraError("mvn is not on PATH: it is needed once to fetch Apache Kafka's jars from Maven Central")
    progress(f"fetching Apache Kafka {KAFKA_VERSION} jars with mvn (once; cached in {lib.parent}) ...")
    lib.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="jars-", dir=lib.parent))
    cmd = ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
           "-DincludeScope=runtime", f"-DoutputDirectory={staging}", f"-Dkafka.version={KAFKA_VERSION}"]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0 or not any(staging.glob("kafka_2.13-*.jar")):
        shutil.rmtree(staging, ignore_errors=True)
        raise InfraError(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    (staging / ".complete").write_text(KAFKA_VERSION)
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)  # atomic: a half-fetched cache is never mistaken for a whole one
    return lib


def _cluster_id() -> str:
    """Returns a Kafka cluster id: 16 random bytes, base64url without padding (as StorageTool random-uuid).

    Like Kafka's own Uuid.randomUuid, never one starting with '-', which the command line would read as a flag.
    """
    while (cluster_id := base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")).startswith("-"):
        pass
    return cluster_id


@dataclass
class KafkaServer:
    """One KRaft broker+controller on 127.0.0.1 in ``workdir``; ``start()`` returns once it answers."""

    workdir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "768m"
    pid: int | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "kafka.log"

    def start(self, *, timeout: float = 90.0, progress=print) -> "KafkaServer":
        lib = ensure_jars(progress)
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        java = shutil.which("java") or "java"
        classpath = f"{lib}/*"
        fmt = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", _cluster_id(),
                              "-c", str(props), "--ignore-formatted"], capture_output=True, text=True)
        if fmt.returncode != 0:
            raise InfraError(f"kafka storage format failed:\n{fmt.stdout}{fmt.stderr}")
        env = dict(os.environ, KAFKA_HEAP_OPTS=f"-Xmx{self.heap}")
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [java, f"-Xmx{self.heap}", "-Xms256m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                 f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.yaml'}", "-cp", classpath,
                 "kafka.Kafka", str(props)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
        self.pid = proc.pid
        try:
            wait_until(self._answers, timeout=timeout, what="Kafka", proc=proc, log=self.log_path)
        except InfraError:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if not port_open(self.port):
            return False
        from libs.localinfra.probe import kafka_ready  # aiokafka import kept off the cold path
        return kafka_ready(self.bootstrap)

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid)
            self.pid = None

    def _write_config(self) -> Path:
        (self.workdir / "log4j2.yaml").write_text(_LOG4J2)
        props = self.workdir / "server.properties"
        props.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={self.workdir / 'data'}",
            "num.partitions=3",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=6",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=3",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.flush.interval.messages=9223372036854775807",
            "",
        ]))
        return props
