"""The real CRDs of the job operators batchyard runs (KubeRay's RayJob, Kubeflow's PyTorchJob and
SparkApplication), of Kueue (to check our Kueue-shaped quota files) and of kwok (its Stages), read from their Go
modules.

``deploy/kube/operator-crds`` pins the modules (go.mod, with checksums in go.sum); ``go mod download`` puts
them in the module cache, and the CRD files are read from there. No operator is built or run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from libs.localinfra._proc import InfraError
from libs.localinfra.kafka import REPO_ROOT

MODULE = REPO_ROOT / "deploy" / "kube" / "operator-crds"
OWN_CRDS = REPO_ROOT / "deploy" / "kube" / "crds"
# module -> CRD files inside it (the kinds batchyard runs, and what they need)
OPERATOR_CRDS = {
    "github.com/ray-project/kuberay/ray-operator": ("config/crd/bases/ray.io_rayjobs.yaml",
                                                   "config/crd/bases/ray.io_rayclusters.yaml"),
    "github.com/kubeflow/training-operator": ("manifests/base/crds/kubeflow.org_pytorchjobs.yaml",),
    "github.com/kubeflow/spark-operator/v2": ("config/crd/bases/sparkoperator.k8s.io_sparkapplications.yaml",),
}
KUEUE, KWOK = "sigs.k8s.io/kueue", "sigs.k8s.io/kwok"
KUEUE_CRDS = tuple(f"config/components/crd/bases/kueue.x-k8s.io_{name}.yaml" for name in (
    "resourceflavors", "clusterqueues", "localqueues", "cohorts", "workloadpriorityclasses", "topologies"))


def module_dirs() -> dict[str, Path]:
    """Returns each pinned module's directory in the Go module cache, downloading it first if needed."""
    go = shutil.which("go")
    if go is None:
        raise InfraError("go is not on PATH: it is needed once to fetch the job operators' CRDs from the Go "
                         "module proxy")
    done = subprocess.run([go, "mod", "download", "-json", *OPERATOR_CRDS, KUEUE, KWOK], cwd=MODULE,
                          capture_output=True, text=True, env={**os.environ, "GOFLAGS": "-mod=readonly"})
    if done.returncode != 0:
        raise InfraError(f"go mod download of the operators' CRDs failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    decoder, text, dirs = json.JSONDecoder(), done.stdout.strip(), {}
    while text:
        info, end = decoder.raw_decode(text)
        dirs[info["Path"]] = Path(info["Dir"])
        text = text[end:].strip()
    return dirs


def operator_crd_files() -> list[Path]:
    """Returns the CRD files of RayJob (and RayCluster), PyTorchJob and SparkApplication."""
    dirs = module_dirs()
    return [dirs[module] / path for module, paths in OPERATOR_CRDS.items() for path in paths]


def kueue_crd_files() -> list[Path]:
    """Returns Kueue's CRDs for the kinds of our quota files (ResourceFlavor, ClusterQueue, LocalQueue, ...)."""
    return [module_dirs()[KUEUE] / path for path in KUEUE_CRDS]


def kwok_crd_files() -> list[Path]:
    """Returns kwok's Stage CRD (to check our stage file)."""
    return [module_dirs()[KWOK] / "kustomize/crd/bases/kwok.x-k8s.io_stages.yaml"]


def own_crd_files() -> list[Path]:
    return sorted(OWN_CRDS.glob("*.yaml"))
