"""Watches every topic of a namespace and keeps a per-workload picture: for the demo, the CLI and tests.

It reads without a consumer group (no offsets committed), so it never disturbs the services.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition

from libs.events import CATALOG, DecodeError, Event, decode

@dataclass
class WorkloadView:
    """What the observer knows of one workload."""

    state: str = "submitted"  # the type of the latest lifecycle-relevant event, shortened
    tenant: str | None = None
    reason: str | None = None
    placed_ids: set = field(default_factory=set)  # distinct WorkloadPlaced event ids
    evicted_ids: set = field(default_factory=set)  # distinct WorkloadEvicted event ids (each is requeued)
    retried: dict = field(default_factory=dict)  # failed run number → reason, for each failure retried
    reserved_flavors: list = field(default_factory=list)  # flavor of each distinct QuotaReserved, in arrival order
    cluster_choice: tuple[str, str] | None = None  # (cluster, why) of its latest placement on a multi-cluster flavor
    accrual_ids: set = field(default_factory=set)  # distinct CostAccrued event ids
    cost_micros: int = 0
    trace_ids: set = field(default_factory=set)
    priority: int | None = None  # as admission accepted it, or as its latest WorkloadPriorityChanged says
    # topic (unqualified) → (event type, producer, event) in the order its partition carried them (no accruals)
    log: dict = field(default_factory=lambda: defaultdict(list))


STATE_OF = {"WorkloadSubmitted": "submitted", "WorkloadAccepted": "accepted", "WorkloadRejected": "rejected",
            "WorkloadPending": "pending", "QuotaReserved": "reserved", "WorkloadUnschedulable": "unschedulable",
            "WorkloadPlaced": "placed", "WorkloadRunning": "running", "WorkloadSucceeded": "succeeded",
            "WorkloadFailed": "failed", "WorkloadEvicted": "evicted", "WorkloadCancelled": "cancelled",
            "WorkloadCancelRefused": "cancel-refused", "WorkloadRequestRefused": "request-refused",
            "WorkloadSuspended": "suspended", "WorkloadResumed": "resumed"}
ORDER = [*STATE_OF.values(), "retrying"]  # retrying: a failed run its backoff limit retries (requeued)
TERMINAL = ("succeeded", "failed", "rejected", "cancelled")


class FlowObserver:
    def __init__(self, bootstrap: str, namespace: str = "", **client_options) -> None:
        """``client_options``: extra aiokafka consumer options, e.g. SASL/TLS (cli.submit.kafka_client_options)."""
        self.bootstrap, self.namespace = bootstrap, namespace
        self.client_options = client_options
        self.workloads: dict[str, WorkloadView] = defaultdict(WorkloadView)
        self.seen_ids: set = set()
        self.counts: Counter[str] = Counter()  # distinct events by type
        self.deliveries: Counter[str] = Counter()  # records by type, duplicates included
        self.dead_letters: list[Event] = []
        self.reachability: list[Event] = []  # ClusterReachabilityChanged, in the order read
        self.repairs: list[Event] = []  # NodeRepairTransitioned, in the order read
        self.preempted: Counter[str] = Counter()  # workload id → distinct PreemptionRequested events naming it
        self.undecodable = 0
        self._task: asyncio.Task | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def start(self) -> "FlowObserver":
        self._consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False,
                                          auto_offset_reset="earliest", **self.client_options)
        await self._consumer.start()
        partitions = []
        for topic in CATALOG:
            name = topic.qualified(self.namespace)
            for p in self._consumer.partitions_for_topic(name) or range(topic.partitions):
                partitions.append(TopicPartition(name, p))
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning()
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def _run(self) -> None:
        while True:
            batches = await self._consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batches.values():
                for record in records:
                    self._observe(record)

    def _observe(self, record) -> None:
        try:
            event = decode(record.value)
        except DecodeError:
            self.undecodable += 1
            return
        self.deliveries[event.type] += 1
        if event.event_id in self.seen_ids:
            return
        self.seen_ids.add(event.event_id)
        self.counts[event.type] += 1
        if event.type == "MessageDeadLettered":
            self.dead_letters.append(event)
            return
        if event.type == "ClusterReachabilityChanged":
            self.reachability.append(event)
            return
        if event.type == "NodeRepairTransitioned":
            self.repairs.append(event)
            return
        if event.type == "PreemptionRequested" and event.workload_id:
            self.preempted[event.workload_id] += 1
        if not event.workload_id:
            return
        view = self.workloads[event.workload_id]
        if event.type != "CostAccrued":  # many per workload, and counted below
            topic = record.topic.removeprefix(f"{self.namespace}.") if self.namespace else record.topic
            view.log[topic].append((event.type, event.producer, event))
        if event.type not in STATE_OF and event.type not in ("CostAccrued", "WorkloadPriorityChanged"):
            return
        headers = dict(record.headers or [])
        if tp := headers.get("traceparent"):
            view.trace_ids.add(tp.decode().split("-")[1])
        if event.tenant:
            view.tenant = str(event.tenant)
        self._apply(view, event)

    @staticmethod
    def _apply(view: WorkloadView, event: Event) -> None:
        if event.type == "CostAccrued":
            view.accrual_ids.add(event.event_id)
            view.cost_micros += event.amount_micros
            return
        if event.type == "WorkloadPlaced":
            view.placed_ids.add(event.event_id)
            if event.cluster_reason:
                view.cluster_choice = (event.cluster, event.cluster_reason)
        if event.type == "WorkloadEvicted":
            view.evicted_ids.add(event.event_id)
        if event.type == "QuotaReserved":
            view.reserved_flavors.append(event.flavors[0].flavor if event.flavors else None)
        if event.type == "WorkloadAccepted" and view.priority is None:
            view.priority = event.priority
        if event.type == "WorkloadPriorityChanged":  # not a state: the workload stays where it is
            if event.producer == "admission":  # quota's copy on its own topic may be read before or after
                view.priority = event.priority
            return
        if event.type == "WorkloadSuspended" and event.producer != "admission":
            return  # quota's and the scheduler's copies travel other topics and may come after the resume
        if event.type in ("WorkloadCancelRefused", "WorkloadRequestRefused"):  # the workload stays as it was
            view.reason = event.message
            return
        new = STATE_OF[event.type]
        if event.type == "WorkloadFailed" and event.reason == "cancelled":
            # the runner's end of a cancelled run: it travels the lifecycle topic and may be read before every
            # WorkloadCancelled copy (admission, quota and placement topics), so it says "cancelled" itself
            new = "cancelled"
        elif event.type == "WorkloadFailed" and not event.final:
            view.retried[event.attempt] = event.reason
            new = "retrying"
        # a suspended workload stays so (its run's end and the copies say nothing new) until it is resumed
        terminal = view.state in TERMINAL or (view.state == "suspended" and new not in ("resumed", "cancelled",
                                                                                      "succeeded", "failed"))
        # an evicted or resumed workload starts over: any later event moves it on
        requeued = view.state in ("evicted", "resumed", "retrying")
        if not terminal and (requeued or ORDER.index(new) >= ORDER.index(view.state)
                             or new in ("pending", "unschedulable")):
            view.state = new
        if hasattr(event, "message") and event.type in ("WorkloadRejected", "WorkloadPending",
                                                        "WorkloadUnschedulable"):
            view.reason = event.message

    def states(self, prefix: str = "") -> Counter[str]:
        return Counter(v.state for k, v in self.workloads.items() if k.startswith(prefix))

    async def wait_for(self, predicate, *, timeout: float, poll: float = 0.25) -> bool:
        """Waits until ``predicate(self)`` holds; returns whether it did before ``timeout``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            if predicate(self):
                return True
            await asyncio.sleep(poll)
        return predicate(self)
