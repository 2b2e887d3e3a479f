"""The informer follows client-go: list, watch from the list's version, resume from the last version seen (bookmarks
included), list again after 410 Gone reporting what vanished meanwhile, and retry an unreachable server."""

from __future__ import annotations

import asyncio

from services.kube_connector.api import KubeError
from services.kube_connector.informer import Informer


def obj(uid: str, version: str) -> dict:
    return {"metadata": {"uid": uid, "name": uid, "resourceVersion": version}}


class FakeApi:
    """Answers lists and watches from a script; records what it was asked."""

    def __init__(self, lists: list, watches: list) -> None:
        self.lists, self.watches, self.asked = lists, watches, []

    async def request(self, method, path, *, query=None, timeout=0, **_):
        self.asked.append(("list", dict(query or {})))
        answer = self.lists.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    async def watch(self, path, query, **_):
        self.asked.append(("watch", dict(query)))
        script = self.watches.pop(0) if self.watches else None
        if script is None:
            await asyncio.Event().wait()  # nothing more to say: a quiet watch
        for item in script:
            if isinstance(item, Exception):
                raise item
            yield item


async def run_until(informer: Informer, done) -> None:
    task = asyncio.create_task(informer.run())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if done():
            break
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_resumes_from_the_last_version_and_lists_again_after_410_gone():
    changes = []
    api = FakeApi(
        lists=[{"metadata": {"resourceVersion": "10"}, "items": [obj("a", "5"), obj("b", "6")]},
               {"metadata": {"resourceVersion": "40"}, "items": [obj("b", "31"), obj("c", "39")]}],
        watches=[[{"type": "MODIFIED", "object": obj("a", "11")},
                  {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}}],
                 [{"type": "ERROR", "object": {"code": 410, "reason": "Expired", "message": "too old"}}]])
    informer = Informer(api, "/api/v1/pods", lambda kind, o: changes.append((kind, o["metadata"]["uid"])),
                        name="test", max_backoff_s=0.01)
    await run_until(informer, lambda: ("ADDED", "c") in changes)
    watches = [q for kind, q in api.asked if kind == "watch"]
    assert watches[0]["resourceVersion"] == "10", "the first watch starts where the list left off"
    assert watches[1]["resourceVersion"] == "20", "a new watch resumes from the last version, bookmarks included"
    assert changes == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"),  # first list, then the watch
                       ("DELETED", "a"), ("MODIFIED", "b"), ("ADDED", "c")]  # after 410: the relist's difference
    assert set(informer.store) == {"b", "c"} and informer.relists == 2


async def test_an_unreachable_server_is_retried_and_nothing_is_lost():
    changes = []
    api = FakeApi(lists=[KubeError(0, "Unreachable", "connection refused"),
                         {"metadata": {"resourceVersion": "3"}, "items": [obj("a", "2")]}],
                  watches=[[KubeError(0, "Unreachable", "reset")], [{"type": "ADDED", "object": obj("b", "4")}]])
    informer = Informer(api, "/api/v1/pods", lambda kind, o: changes.append((kind, o["metadata"]["uid"])),
                        name="test", max_backoff_s=0.01)
    await run_until(informer, lambda: ("ADDED", "b") in changes)
    assert changes == [("ADDED", "a"), ("ADDED", "b")]
    assert [q.get("resourceVersion") for kind, q in api.asked if kind == "watch"][:3] == ["3", "3", "4"]
