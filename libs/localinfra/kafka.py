"""An Apache Kafka 4.1 broker+controller (KRaft) started from its Maven Central jars: alone, or as one node of a
cluster on loopback (libs.localinfra.kafka_cluster)."""

from __future__ import annotations

import base64
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from libs.localinfra._proc import (InfraError, die_with_parent, free_port, kill_group, port_open, stop_group,
                                   wait_until)
from libs.events.topics import replication
from libs.localinfra.tls import make_tls_files

KAFKA_VERSION = "4.1.2"  # pinned in deploy/kafka/pom.xml as well
REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
SCRAM_MECHANISM = "SCRAM-SHA-512"  # the only SASL mechanism the opt-in secured listener enables
BROKER_USER = "broker"  # the broker's own SCRAM identity on its SASL_SSL listener (inter-broker traffic)
_SAFE_CREDENTIAL = re.compile(r"^[A-Za-z0-9._-]{1,128}$")  # fits --add-scram and JAAS without quoting

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
    """One KRaft broker+controller on 127.0.0.1 in ``workdir``; ``start()`` returns once it answers.

    By default clients speak PLAINTEXT. Opt-in transport security: give ``scram_users`` (name → password) and
    the client listener becomes SASL_SSL (SCRAM-SHA-512 over TLS, with a certificate from a throwaway CA in
    ``workdir/tls``, see ``ca_file``) and nothing else; the controller listener stays PLAINTEXT on loopback.
    """

    workdir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "768m"
    pid: int | None = None
    scram_users: Mapping[str, str] | None = None
    tied: bool = False  # the broker dies with the process that started it (throwaway servers; not infra up)
    node_id: int = 1
    voters: str | None = None  # controller.quorum.voters of a cluster; None: this node alone
    cluster_id: str | None = None  # a cluster's nodes share one; a lone broker draws its own
    replicas: int = 1  # replication of the internal topics (and the default for new topics)
    leader_rebalance_s: int = 300  # how often leadership goes back to preferred replicas (Kafka's default: 300)
    _broker_password: str = field(default_factory=lambda: secrets.token_urlsafe(18), init=False, repr=False)

    def __post_init__(self) -> None:
        for name, password in (self.scram_users or {}).items():
            if not (_SAFE_CREDENTIAL.match(name) and _SAFE_CREDENTIAL.match(password)) or name == BROKER_USER:
                raise ValueError(f"SCRAM user {name!r}: names and passwords must match {_SAFE_CREDENTIAL.pattern} "
                                 f"and {BROKER_USER!r} is the broker's own")

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secured(self) -> bool:
        """True when clients must use SASL_SSL (``scram_users`` given)."""
        return bool(self.scram_users)

    @property
    def ca_file(self) -> Path:
        """The throwaway CA that signed the broker's certificate (what clients trust); only when ``secured``."""
        return self.workdir / "tls" / "ca.crt"

    def client_options(self, username: str, password: str | None = None) -> dict:
        """Returns aiokafka options to reach the SASL_SSL listener as ``username`` (password: its own by default)."""
        import ssl

        users = {**(self.scram_users or {}), BROKER_USER: self._broker_password}
        return {"security_protocol": "SASL_SSL", "ssl_context": ssl.create_default_context(cafile=str(self.ca_file)),
                "sasl_mechanism": SCRAM_MECHANISM, "sasl_plain_username": username,
                "sasl_plain_password": users[username] if password is None else password}

    @property
    def log_path(self) -> Path:
        return self.workdir / "kafka.log"

    def start(self, *, timeout: float = 90.0, progress=print) -> "KafkaServer":
        proc = self.launch(progress=progress)
        return self.wait_ready(proc, timeout=timeout)

    def launch(self, *, progress=print) -> subprocess.Popen:
        """Formats the storage (once) and starts the broker process without waiting for it to answer: the nodes
        of a cluster must all be launched before any can elect a controller."""
        lib = ensure_jars(progress)
        self.workdir.mkdir(parents=True, exist_ok=True)
        props = self._write_config()
        java = shutil.which("java") or "java"
        classpath = f"{lib}/*"
        self.cluster_id = self.cluster_id or _cluster_id()
        fmt = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", self.cluster_id,
                              "-c", str(props), "--ignore-formatted", *self._scram_format_args()],
                             capture_output=True, text=True)
        if fmt.returncode != 0:
            raise InfraError(f"kafka storage format failed:\n{fmt.stdout}{fmt.stderr}")
        env = dict(os.environ, KAFKA_HEAP_OPTS=f"-Xmx{self.heap}")
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [java, f"-Xmx{self.heap}", "-Xms256m", "-XX:+UseG1GC", "-XX:TieredStopAtLevel=1",
                 f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.yaml'}", "-cp", classpath,
                 "kafka.Kafka", str(props)],
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env,
                preexec_fn=die_with_parent if self.tied else None)
        self.pid = proc.pid
        return proc

    def wait_ready(self, proc: subprocess.Popen, *, timeout: float = 90.0) -> "KafkaServer":
        """Returns once the broker answers with a controller elected; stops it and raises InfraError if not."""
        try:
            wait_until(self._answers, timeout=timeout, what=f"Kafka (node {self.node_id})", proc=proc,
                       log=self.log_path)
        except InfraError:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        if not port_open(self.port):
            return False
        from libs.localinfra.probe import kafka_ready  # aiokafka import kept off the cold path
        return kafka_ready(self.bootstrap, **(self.client_options(BROKER_USER) if self.secured else {}))

    def _scram_format_args(self) -> list[str]:
        """Returns the storage tool's --add-scram arguments: KRaft stores SCRAM credentials in its metadata log."""
        if not self.secured:
            return []
        users = {**self.scram_users, BROKER_USER: self._broker_password}
        return [arg for name, password in users.items()
                for arg in ("--add-scram", f"{SCRAM_MECHANISM}=[name={name},password={password}]")]

    def stop(self) -> None:
        if self.pid is not None:
            stop_group(self.pid)
            self.pid = None

    def kill(self) -> None:
        """SIGKILL: the broker dies mid-write, as a crashed machine's would (tests of broker loss)."""
        if self.pid is not None:
            kill_group(self.pid)
            self.pid = None

    def _write_config(self) -> Path:
        (self.workdir / "log4j2.yaml").write_text(_LOG4J2)
        props = self.workdir / "server.properties"
        client = "SASL_SSL" if self.secured else "PLAINTEXT"  # the listener's name is its protocol's
        props.write_text("\n".join([
            "process.roles=broker,controller",
            f"node.id={self.node_id}",
            f"controller.quorum.voters={self.voters or f'{self.node_id}@127.0.0.1:{self.controller_port}'}",
            f"listeners={client}://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners={client}://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            f"inter.broker.listener.name={client}",
            f"listener.security.protocol.map={client}:{client},CONTROLLER:PLAINTEXT",
            *(self._security_config() if self.secured else ()),
            f"log.dirs={self.workdir / 'data'}",
            "num.partitions=3",
            f"default.replication.factor={self.replicas}",
            f"min.insync.replicas={replication(self.replicas)[1]}",
            f"offsets.topic.replication.factor={self.replicas}",
            "offsets.topic.num.partitions=6",
            f"transaction.state.log.replication.factor={self.replicas}",
            f"transaction.state.log.min.isr={replication(self.replicas)[1]}",
            "transaction.state.log.num.partitions=3",
            f"share.coordinator.state.topic.replication.factor={self.replicas}",
            f"share.coordinator.state.topic.min.isr={replication(self.replicas)[1]}",
            "group.initial.rebalance.delay.ms=0",
            f"leader.imbalance.check.interval.seconds={self.leader_rebalance_s}",
            "auto.create.topics.enable=false",
            "log.flush.interval.messages=9223372036854775807",
            "",
        ]))
        return props

    def _security_config(self) -> list[str]:
        """Returns the SASL_SSL listener's settings: SCRAM-SHA-512 only, TLS with a PEM key store and trust store."""
        tls = make_tls_files(self.workdir / "tls")
        keystore = tls.key.with_name("server-keystore.pem")  # Kafka's PEM key store: the key, then its chain
        keystore.write_text(tls.key.read_text() + tls.cert.read_text() + tls.ca_cert.read_text())
        keystore.chmod(0o600)
        jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{BROKER_USER}" '
                f'password="{self._broker_password}";')
        return [
            f"sasl.enabled.mechanisms={SCRAM_MECHANISM}",
            f"sasl.mechanism.inter.broker.protocol={SCRAM_MECHANISM}",
            f"listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config={jaas}",
            "ssl.keystore.type=PEM",
            f"ssl.keystore.location={keystore}",
            "ssl.truststore.type=PEM",
            f"ssl.truststore.location={tls.ca_cert}",
            "ssl.client.auth=none",
        ]
