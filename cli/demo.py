"""``batchyard demo``: the whole platform on the simulated fleet with a sample workload mix, shown live."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
import uuid
from pathlib import Path

from rich.live import Live

from cli.demo_report import live_table, summary
from cli.demo_view import demo_console, live_view
from libs.events import PodSet, Tenant, WorkloadSpec, WorkloadSubmitted
from libs.events.topics import SUBMITTED
from libs.fleet.mix import workload_mix
from services.admission.signing import demo_signer
from libs.localinfra.databases import create_database
from libs.localinfra.processes import Platform
from libs.localinfra.session import servers
from libs.platform.observer import FlowObserver
from libs.platform.publisher import EventPublisher
from libs.platform.topics_admin import ensure_topics

console = demo_console()  # plain lines, no redraws, when the output is a file or a pipe
logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # transient leader errors right after topic creation
WAVES = 4  # arrivals come in waves, so queues fill, drain and refill
MALFORMED = b'{"type": "WorkloadSubmitted", "workload_id": "demo-bad-json", "spec": {"pod_sets": "lots"}}'


def bad_submissions() -> list[WorkloadSubmitted]:
    """Submissions admission must refuse, to show its reasons: a privileged pod, an unknown priority class."""
    tenant = Tenant(org="acme", team="vision")
    privileged = WorkloadSpec(name="root-shell", pod_sets=(PodSet(name="main", count=1, privileged=True),))
    unknown = WorkloadSpec(name="vip", priority_class="platinum", pod_sets=(PodSet(name="main", count=1),))
    sign = demo_signer()  # signed, so admission refuses them for policy (pod.privileged, priority.allowed)
    return [sign(WorkloadSubmitted(workload_id="demo-bad-privileged", tenant=tenant, spec=privileged, producer="demo")),
            sign(WorkloadSubmitted(workload_id="demo-bad-priority", tenant=tenant, spec=unknown, producer="demo"))]


async def run_demo(*, workloads: int, time_scale: float, seed: int, timeout_s: float = 600) -> int:
    """Runs the demo; returns the exit code (0 when every admitted workload finished)."""
    namespace = f"demo{uuid.uuid4().hex[:6]}"
    with servers(progress=console.print) as infra:
        database = await create_database(infra.database_url)
        await ensure_topics(infra.bootstrap, namespace)
        logs = Path(tempfile.mkdtemp(prefix="batchyard-demo-logs-"))
        platform = Platform(infra.bootstrap, database, namespace, logs,
                            extra_env={"BATCHYARD_TIME_SCALE": str(time_scale)})
        console.print(f"starting 6 services (namespace {namespace}, logs in {logs}) ...")
        platform.start()
        observer = await FlowObserver(infra.bootstrap, namespace).start()
        try:
            started = time.monotonic()
            finished = await _drive(platform, observer, infra.bootstrap, namespace, workloads, seed, timeout_s)
            console.print()
            console.print(summary(observer, time.monotonic() - started, time_scale))
        finally:
            await observer.stop()
            platform.stop()
    if not finished:
        console.print(f"[red]not every workload finished within {timeout_s:.0f}s[/red]; service logs: {logs}")
        return 1
    return 0


async def _drive(platform: Platform, observer: FlowObserver, bootstrap: str, namespace: str, count: int, seed: int,
                 timeout_s: float) -> bool:
    submissions = list(workload_mix(count, seed=seed, prefix="demo", signer=demo_signer()))
    expected = count + len(bad_submissions())
    deadline = time.monotonic() + timeout_s
    async with EventPublisher(bootstrap, namespace) as pub:
        with live_view(console, observer, expected) as live:
            await pub.publish(bad_submissions())
            await (await pub.send_raw(SUBMITTED, MALFORMED, key=b"demo-bad-json"))
            per_wave = -(-count // WAVES)
            for wave in range(WAVES):
                await pub.publish(submissions[wave * per_wave:(wave + 1) * per_wave])
                await _watch(live, observer, expected, until=time.monotonic() + 4)
            while time.monotonic() < deadline:
                platform.assert_alive()
                if _done(observer, expected):
                    live.update(live_table(observer, expected))
                    return True
                await _watch(live, observer, expected, until=time.monotonic() + 1)
    return False


def _done(observer: FlowObserver, expected: int) -> bool:
    views = [v for k, v in observer.workloads.items() if k.startswith("demo")]
    return len(views) >= expected and all(v.state in ("succeeded", "failed", "rejected") for v in views) and all(
        v.accrual_ids for v in views if v.state == "succeeded")


async def _watch(live: Live, observer: FlowObserver, expected: int, *, until: float) -> None:
    while time.monotonic() < until:
        live.update(live_table(observer, expected))
        await asyncio.sleep(0.25)
