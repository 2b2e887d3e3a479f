"""Gauges computed on the service's loop: what a scrape reads, and what a failing compute leaves."""

from __future__ import annotations

import logging

from libs.platform.gauges import Gauges, NotNow


async def test_a_scrape_reads_what_the_last_refresh_computed():
    state = {"acme": 3}
    gauges = Gauges()
    gauges.gauge("batchyard_test_pending", "test", lambda: [(n, {"team": t}) for t, n in state.items()])
    read = gauges._reader("batchyard_test_pending")
    assert read(None) == []  # nothing computed yet
    await gauges.refresh()
    state["acme"] = 5  # changed after the refresh: the scrape still sees the refreshed value
    assert [(o.value, o.attributes) for o in read(None)] == [(3, {"team": "acme"})]


async def test_a_failing_compute_keeps_its_last_values_and_is_logged_once(caplog):
    calls = {"n": 0}

    async def compute():
        calls["n"] += 1
        if calls["n"] == 1:
            return [(1.0, {})]
        if calls["n"] == 2:
            raise NotNow("rebuilding")
        raise RuntimeError("postgres gone")

    gauges = Gauges()
    gauges.gauge("batchyard_test_nodes", "test", compute)
    with caplog.at_level(logging.WARNING, "batchyard.metrics"):
        for _ in range(4):
            await gauges.refresh()
    assert [o.value for o in gauges._reader("batchyard_test_nodes")(None)] == [1.0]
    assert caplog.text.count("batchyard_test_nodes could not be computed") == 1
    assert "rebuilding" not in caplog.text
