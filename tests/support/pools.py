"""Connection pools for a service's tables in schemas of their own, for tests that compare two runs side by side."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from libs.platform import store


@asynccontextmanager
async def migrated_pools(database_url: str, schemas: tuple[str, ...], service_dir: Path, tables: str, size: int = 2):
    """Yields one pool per schema, each migrated for the service in ``service_dir`` and with ``tables`` (a comma
    separated list) emptied; closes them after."""
    made = []
    try:
        for schema in schemas:
            pool = await store.create_pool(database_url, schema, size=size)
            made.append(pool)
            await store.migrate(pool, schema, service_dir)
            await pool.execute(f"truncate {tables}")
        yield made
    finally:
        for pool in made:
            await pool.close()
