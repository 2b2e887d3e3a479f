"""The connector's API client looks up the environment's proxy once, when it connects, and not per request:
kubernetes-asyncio's session trusts the environment, which made aiohttp read proxy variables and ~/.netrc in a
thread for every create and bind."""

from __future__ import annotations

import pytest

from services.kube_connector.api import KubeApi, env_proxy

KUBECONFIG = """
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://10.1.2.3:6443", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""

PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy",
                   "ALL_PROXY", "all_proxy")


@pytest.fixture
def clean_env(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_the_environment_names_the_proxy_for_a_url_unless_no_proxy_excludes_its_host(clean_env):
    assert env_proxy("https://10.1.2.3:6443") is None
    clean_env.setenv("HTTPS_PROXY", "http://proxy:3128")
    assert env_proxy("https://10.1.2.3:6443") == "http://proxy:3128"
    assert env_proxy("http://10.1.2.3:8080") is None  # only an https proxy is set
    clean_env.setenv("NO_PROXY", "10.1.2.3,.cluster.local")
    assert env_proxy("https://10.1.2.3:6443") is None
    assert env_proxy("https://api.cluster.local") is None
    assert env_proxy("https://elsewhere:6443") == "http://proxy:3128"


@pytest.mark.parametrize("proxy", [None, "http://proxy:3128"])
async def test_connect_resolves_the_proxy_once_and_stops_the_per_request_lookup(clean_env, tmp_path, proxy):
    if proxy:
        clean_env.setenv("HTTPS_PROXY", proxy)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    api = await KubeApi.connect(str(kubeconfig))
    try:
        rest = api.api_client.rest_client
        assert rest.pool_manager.trust_env is False
        assert rest.proxy == proxy
    finally:
        await api.close()
