"""Observable gauges computed from a service's own state, on its own event loop.

A Prometheus scrape runs on the exporter's HTTP thread, while a service's state (the quota engine, the
scheduler's snapshot) is changed by the event loop; reading it from the scrape thread could see a dict change
size under it. So each gauge's ``compute`` runs on the loop every ``period_s`` (plain or async: a Postgres count
is fine) and the scrape reports the latest values. A compute that fails keeps its previous values and is
logged once.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from libs.platform.periodic import every

log = logging.getLogger("batchyard.metrics")

class NotNow(Exception):
    """Raised by a compute whose state is not there just now (being rebuilt): the gauge keeps its last values."""


Sample = tuple[float, dict[str, str]]  # a value and its labels
Compute = Callable[[], Iterable[Sample] | Awaitable[Iterable[Sample]]]


class Gauges:
    """A service's observable gauges and the loop task that refreshes them."""

    def __init__(self, period_s: float = 2.0) -> None:
        self.period_s = period_s  # how often every compute runs
        self._meter = metrics.get_meter("batchyard")
        self._computes: dict[str, Compute] = {}  # gauge name -> how its samples are computed
        self._samples: dict[str, list[Sample]] = {}  # gauge name -> its latest samples (read by the scrape)
        self._failed: set[str] = set()  # gauges whose compute failure was logged

    def gauge(self, name: str, description: str, compute: Compute) -> None:
        """Declares an observable gauge ``name`` whose samples ``compute`` returns."""
        self._computes[name] = compute
        self._meter.create_observable_gauge(name, callbacks=[self._reader(name)], description=description)

    def counter(self, name: str, description: str, compute: Compute) -> None:
        """Declares an observable counter ``name`` (exported as ``name_total``): ``compute`` returns running totals
        kept in the service's own state (e.g. rows in Postgres), so they survive a restart."""
        self._computes[name] = compute
        self._meter.create_observable_counter(name, callbacks=[self._reader(name)], description=description)

    def _reader(self, name: str):
        def read(options: CallbackOptions) -> list[Observation]:
            return [Observation(value, labels) for value, labels in self._samples.get(name, ())]
        return read

    async def refresh(self) -> None:
        """Runs every compute now and keeps its samples."""
        for name, compute in self._computes.items():
            try:
                result = compute()
                self._samples[name] = list(await result if inspect.isawaitable(result) else result)
            except asyncio.CancelledError:
                raise
            except NotNow:
                pass
            except Exception as exc:  # noqa: BLE001 - a gauge must never stop a service
                if name not in self._failed:
                    self._failed.add(name)
                    log.warning("gauge %s could not be computed (%r); it keeps its last values", name, exc)

    def start(self) -> asyncio.Task:
        """Starts refreshing on the running loop; the caller cancels the task at stop."""
        return asyncio.create_task(every(self.period_s, self.refresh, name="metrics refresh"), name="gauges")

