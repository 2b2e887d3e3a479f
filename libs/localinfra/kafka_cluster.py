"""A Kafka cluster of several KRaft nodes on loopback (each a broker and a controller voter), for tests and
``batchyard infra up --brokers 3``: replication 3 with min.insync.replicas 2, so one node may be lost."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from libs.localinfra._proc import free_port
from libs.localinfra.kafka import KafkaServer, _cluster_id


@dataclass
class KafkaCluster:
    """``brokers`` KafkaServer nodes sharing a cluster id and a controller quorum; ``start()`` returns once every
    node answers. ``kill(i)`` and ``restart(i)`` lose and bring back one node (its data directory is kept)."""

    workdir: Path
    brokers: int = 3
    tied: bool = False
    heap: str = "512m"
    leader_rebalance_s: int = 300  # a restarted node takes back its preferred leaderships (and coordinators) this often
    nodes: list[KafkaServer] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        if not 1 <= self.brokers <= 9:
            raise ValueError(f"a local Kafka cluster has 1 to 9 brokers, not {self.brokers}")
        controller_ports = [free_port() for _ in range(self.brokers)]
        voters = ",".join(f"{i + 1}@127.0.0.1:{port}" for i, port in enumerate(controller_ports))
        cluster_id, replicas = _cluster_id(), min(3, self.brokers)
        self.nodes = [KafkaServer(self.workdir / f"node-{i + 1}", controller_port=port, heap=self.heap,
                                  tied=self.tied, node_id=i + 1, voters=voters, cluster_id=cluster_id,
                                  replicas=replicas, leader_rebalance_s=self.leader_rebalance_s)
                      for i, port in enumerate(controller_ports)]

    @property
    def bootstrap(self) -> str:
        return ",".join(node.bootstrap for node in self.nodes)

    @property
    def pids(self) -> list[int | None]:
        return [node.pid for node in self.nodes]

    def start(self, *, timeout: float = 120.0, progress=print) -> "KafkaCluster":
        progress(f"starting a {self.brokers}-node Kafka cluster (KRaft) on 127.0.0.1 ...")
        procs = []
        try:
            for node in self.nodes:
                procs.append(node.launch(progress=progress))
            for node, proc in zip(self.nodes, procs):
                node.wait_ready(proc, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def kill(self, index: int) -> None:
        """SIGKILLs node ``index`` (0-based)."""
        self.nodes[index].kill()

    def restart(self, index: int, *, timeout: float = 120.0, progress=print) -> None:
        """Starts node ``index`` again on its kept data directory and waits until it answers."""
        self.nodes[index].start(timeout=timeout, progress=progress)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
