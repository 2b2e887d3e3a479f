"""Readiness probes that speak the servers' own protocols (an open port is not enough)."""

from __future__ import annotations

import asyncio

from libs.localinfra._proc import run_coroutine


def kafka_ready(bootstrap: str, **client_options) -> bool:
    """Returns True once the broker answers a metadata request and reports a controller (``client_options``:
    aiokafka security options, e.g. SASL_SSL)."""
    from aiokafka.admin import AIOKafkaAdminClient

    async def probe() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000, **client_options)
        try:
            await admin.start()
            cluster = await admin.describe_cluster()
            return bool(cluster.get("brokers")) and cluster.get("controller_id", -1) != -1
        finally:
            await admin.close()

    return run_coroutine(lambda: asyncio.wait_for(probe(), timeout=8))


def postgres_ready(dsn: str) -> bool:
    """Returns True once PostgreSQL accepts a connection and runs a query."""
    import asyncpg

    async def probe() -> bool:
        conn = await asyncpg.connect(dsn, timeout=3)
        try:
            return await conn.fetchval("select 1") == 1
        finally:
            await conn.close()

    return run_coroutine(lambda: asyncio.wait_for(probe(), timeout=8))
