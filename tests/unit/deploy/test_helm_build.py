"""Which helm the chart's tests use: the one on PATH when new enough, else the build cached from the Go module
proxy (no build happens here: the cache is faked as complete)."""

from __future__ import annotations

import pytest

from libs.localinfra.helm_build import HELM_VERSION, ensure_helm, version_of


@pytest.fixture
def fake_helm(tmp_path, monkeypatch):
    """Returns a function that puts a helm answering ``version`` on PATH (alone), and fakes a complete cache."""
    cache = tmp_path / "cache"
    (cache / f"helm-{HELM_VERSION}").mkdir(parents=True)
    (cache / f"helm-{HELM_VERSION}" / ".complete").write_text(HELM_VERSION)
    monkeypatch.setenv("BATCHYARD_CACHE_DIR", str(cache))

    def put(answer: str):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir(exist_ok=True)
        helm = bin_dir / "helm"
        helm.write_text(f"#!/bin/sh\necho '{answer}'\n")
        helm.chmod(0o755)
        monkeypatch.setenv("PATH", str(bin_dir))
        return helm

    return put


@pytest.mark.parametrize("answer, version", [("v3.21.4", (3, 21)), ("v4.3.2+gabc", (4, 3)), ("hello", None)],
                         ids=["v3", "v4", "not-helm"])
def test_version_of(fake_helm, answer, version):
    assert version_of(fake_helm(answer)) == version


def test_a_new_enough_helm_on_path_is_used(fake_helm):
    helm = fake_helm("v3.17.0")
    assert ensure_helm(progress=None) == helm


@pytest.mark.parametrize("answer", ["v3.8.2", "not helm"], ids=["too-old", "not-helm"])
def test_otherwise_the_cached_build(fake_helm, tmp_path, answer):
    fake_helm(answer)
    assert ensure_helm(progress=None) == tmp_path / "cache" / f"helm-{HELM_VERSION}" / "helm"
