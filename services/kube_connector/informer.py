"""List, then watch from the list's resourceVersion, the way client-go's informers do.

The informer keeps the latest copy of every object it sees (``store``, by uid) and calls ``on_change``
with the kind of change and the object (never the raw stream). A watch that ends is resumed from the
last resourceVersion it saw (bookmarks included); 410 Gone means that version was compacted away, so
it lists again and reports what changed meanwhile, deletions included. An unreachable API server is
retried with a capped exponential backoff, without losing the store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from services.kube_connector.api import KubeApi, KubeError

log = logging.getLogger("batchyard.kube_connector.informer")
ADDED, MODIFIED, DELETED = "ADDED", "MODIFIED", "DELETED"
PAGE = 500


class Informer:
    """The cache of one resource collection (optionally filtered by label or field selector)."""

    def __init__(self, api: KubeApi, path: str, on_change: Callable[[str, dict], None], *, name: str,
                 query: dict | None = None, max_backoff_s: float = 5.0) -> None:
        self.api, self.path, self.on_change, self.name = api, path, on_change, name
        self.query = dict(query or {})  # labelSelector / fieldSelector
        self.max_backoff_s = max_backoff_s
        self.store: dict[str, dict] = {}  # uid -> latest object
        self.resource_version: str | None = None  # where the next watch resumes; None: list first
        self.synced = asyncio.Event()  # set once the first list is in the store
        self.relists = 0  # how many times the informer had to list again (410 Gone or first start)

    async def run(self) -> None:
        backoff = 0.2
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
                backoff = 0.2
            except KubeError as exc:
                if exc.gone:
                    log.info("%s: resourceVersion %s expired; listing again", self.name, self.resource_version)
                    self.resource_version = None
                    continue
                log.warning("%s: %s; retrying in %.1fs", self.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_s)

    async def _list(self) -> None:
        seen: dict[str, dict] = {}
        query, version = {**self.query, "limit": str(PAGE)}, None
        while True:
            page = await self.api.request("GET", self.path, query=query, timeout=120)
            for obj in page.get("items") or ():
                seen[obj["metadata"]["uid"]] = obj
            meta = page.get("metadata") or {}
            version = version or meta.get("resourceVersion")
            if not meta.get("continue"):
                break
            query = {**query, "continue": meta["continue"]}
        for uid in set(self.store) - set(seen):
            self.on_change(DELETED, self.store.pop(uid))
        for uid, obj in seen.items():
            change = ADDED if uid not in self.store else MODIFIED
            if change == ADDED or self.store[uid]["metadata"].get("resourceVersion") != \
                    obj["metadata"].get("resourceVersion"):
                self.store[uid] = obj
                self.on_change(change, obj)
        self.resource_version, self.relists = version, self.relists + 1
        self.synced.set()

    async def _watch(self) -> None:
        async for event in self.api.watch(self.path, {**self.query, "resourceVersion": self.resource_version}):
            kind, obj = event.get("type"), event.get("object") or {}
            if kind == "ERROR":
                raise KubeError(obj.get("code", 500), obj.get("reason", "Error"), obj.get("message", ""))
            version = (obj.get("metadata") or {}).get("resourceVersion")
            if kind == "BOOKMARK":
                self.resource_version = version or self.resource_version
                continue
            uid = obj["metadata"]["uid"]
            if kind == DELETED:
                self.store.pop(uid, None)
            else:
                self.store[uid] = obj
            self.resource_version = version or self.resource_version
            self.on_change(kind, obj)
