"""The connector's door to one Kubernetes API server: kubernetes-asyncio for configuration, authentication,
TLS and connections; plain JSON in and out (no model objects: a watch of thousands of pods stays cheap).

Every request waits for a slot (``concurrency`` in flight at most); ``background`` requests (status, Events) have
a few slots of their own, so they never crowd out the creates and binds that start work. Failures raise
``KubeError`` with the API's status code and reason, so callers can treat "already exists" / "already bound" as
success.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from urllib.parse import quote, urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import aiohttp
from kubernetes_asyncio import client, config

log = logging.getLogger("batchyard.kube_connector.api")
MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


class KubeError(Exception):
    """A request the API server refused (``status`` >= 400), or could not be reached (``status`` 0)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    @property
    def conflict(self) -> bool:
        return self.status == 409

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def gone(self) -> bool:
        return self.status == 410


class KubeApi:
    """JSON requests and watch streams against one API server."""

    def __init__(self, api_client: client.ApiClient, *, concurrency: int = 32) -> None:
        self.api_client = api_client
        self.slots = asyncio.Semaphore(concurrency)
        self.background_slots = asyncio.Semaphore(max(2, concurrency // 8))

    @classmethod
    async def connect(cls, kubeconfig: str | None, context: str | None = None, *,
                      concurrency: int = 32) -> "KubeApi":
        """Returns a client for the kubeconfig's cluster, or the in-cluster service account without one."""
        configuration = client.Configuration()
        if kubeconfig:
            await config.load_kube_config(config_file=kubeconfig, context=context,
                                          client_configuration=configuration)
        else:
            config.load_incluster_config(client_configuration=configuration)
        configuration.connection_pool_maxsize = concurrency + 16  # watches hold connections of their own
        configuration.proxy = configuration.proxy or env_proxy(configuration.host)
        api_client = client.ApiClient(configuration)
        # kubernetes-asyncio's session trusts the environment, so aiohttp looks up proxy variables and ~/.netrc in
        # a thread for every request (a tenth of the connector's CPU while binding). The proxy is looked up once,
        # above, instead; the API server's credentials come from the kubeconfig, never from .netrc.
        api_client.rest_client.pool_manager._trust_env = False
        return cls(api_client, concurrency=concurrency)

    async def close(self) -> None:
        await self.api_client.close()

    async def request(self, method: str, path: str, *, query: dict | None = None, body=None,
                      content_type: str = "application/json", timeout: float = 30.0, background: bool = False) -> dict:
        """Returns the decoded JSON answer; raises KubeError for a refusal or an unreachable server."""
        async with self.background_slots if background else self.slots:
            try:
                response = await self.api_client.call_api(
                    path, method, query_params=list((query or {}).items()), body=body,
                    header_params={"Content-Type": content_type, "Accept": "application/json"},
                    auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout)
                async with response:
                    text = await response.text()
                    status = response.status
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise KubeError(0, "Unreachable", f"{method} {path}: {exc!r}") from None
        data = json.loads(text) if text else {}
        if status >= 400:
            raise KubeError(status, data.get("reason") or "Error", data.get("message") or text[:500])
        return data

    async def watch(self, path: str, query: dict, *, timeout_s: int = 300) -> AsyncIterator[dict]:
        """Yields the events of a watch (``{"type": ..., "object": ...}``) until the server ends it."""
        query = {**query, "watch": "true", "allowWatchBookmarks": "true", "timeoutSeconds": str(timeout_s)}
        try:
            response = await self.api_client.call_api(
                path, "GET", query_params=list(query.items()), header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False,
                _request_timeout=aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=timeout_s + 30))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"watch {path}: {exc!r}") from None
        async with response:
            if response.status >= 400:
                text = await response.text()
                data = json.loads(text) if text.startswith("{") else {}
                raise KubeError(response.status, data.get("reason") or "Error", data.get("message") or text[:500])
            try:
                async for line in response.content:
                    if line.strip():
                        yield json.loads(line)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                raise KubeError(0, "Unreachable", f"watch {path} broke: {exc!r}") from None

    async def ready(self, *, timeout: float) -> None:
        """Returns if the API server answers ``/readyz`` (itself and its etcd ready) within ``timeout``; raises
        KubeError saying why not. Uses no request slot: a cluster busy with binds is still reachable."""
        try:
            response = await self.api_client.call_api(
                "/readyz", "GET", header_params={"Accept": "text/plain"}, auth_settings=["BearerToken"],
                _preload_content=False, _request_timeout=timeout)
            async with response:
                text, status = await response.text(), response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise KubeError(0, "Unreachable", f"GET /readyz: {exc!r}") from None
        if status != 200:
            raise KubeError(status, "NotReady", f"GET /readyz: {text.strip()[:400]}")

    # -- the writes the connector makes ----------------------------------------------------------------------

    async def patch(self, path: str, body: dict, *, content_type: str = MERGE_PATCH, background: bool = False) -> dict:
        return await self.request("PATCH", path, body=body, content_type=content_type, background=background)

    async def create(self, path: str, body: dict, *, dry_run: bool = False, background: bool = False) -> dict:
        return await self.request("POST", path, body=body, query={"dryRun": "All"} if dry_run else None,
                                  background=background)

    async def bind(self, namespace: str, pod: str, node: str) -> None:
        """Binds a pod to a node (the Binding subresource, as kube-scheduler does)."""
        body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": pod, "namespace": namespace},
                "target": {"apiVersion": "v1", "kind": "Node", "name": node}}
        await self.create(f"/api/v1/namespaces/{q(namespace)}/pods/{q(pod)}/binding", body)

    async def evict(self, namespace: str, pod: str, *, grace_s: int | None = None) -> None:
        """Evicts a pod through the Eviction API (PodDisruptionBudgets apply)."""
        body = {"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": namespace}}
        if grace_s is not None:
            body["deleteOptions"] = {"gracePeriodSeconds": grace_s}
        await self.create(f"/api/v1/namespaces/{q(namespace)}/pods/{q(pod)}/eviction", body)

    async def delete(self, path: str, *, grace_s: int | None = None) -> None:
        query = {"gracePeriodSeconds": str(grace_s)} if grace_s is not None else None
        await self.request("DELETE", path, query=query)


def env_proxy(url: str) -> str | None:
    """Returns the proxy the environment (``HTTPS_PROXY``, ``NO_PROXY`` and the like) names for ``url``, if any."""
    parts = urlsplit(url)
    if parts.hostname is None or proxy_bypass_environment(parts.hostname):
        return None
    return getproxies_environment().get(parts.scheme)


def q(part: str) -> str:
    """Quotes one path segment."""
    return quote(part, safe="")


def objects_path(group: str, version: str, plural: str, namespace: str | None = None) -> str:
    """Returns the collection path of a resource: core (group "") or a named group; all namespaces if None."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return f"{base}/namespaces/{q(namespace)}/{plural}" if namespace else f"{base}/{plural}"
