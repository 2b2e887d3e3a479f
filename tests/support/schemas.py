"""A service's schema, migrated on a test's own database: for tests of its SQL without Kafka."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from libs.platform import store

SERVICES = Path(__file__).resolve().parents[2] / "services"


@asynccontextmanager
async def migrated(database_url: str, service: str):
    """Yields a pool on ``service``'s schema (its directory under services/), every migration applied."""
    schema = service.replace("-", "_")
    pool = await store.create_pool(database_url, schema)
    try:
        await store.migrate(pool, schema, SERVICES / schema)
        yield pool
    finally:
        await pool.close()
