"""``python -m libs.localinfra.fetch [--kubernetes]``: fetch what the local servers need now (cached), unless the
environment points at existing servers: Apache Kafka's jars and, with ``--kubernetes``, Kubernetes' binaries
(built from the Go module proxy: several minutes the first time), the job operators' CRDs and helm (for the
chart's tests: the one on PATH if new enough, else built from the Go module proxy too)."""

from __future__ import annotations

import os
import sys

from libs.localinfra._proc import InfraError
from libs.localinfra.kafka import ensure_jars


def main(argv: list[str]) -> int:
    try:
        if not os.environ.get("BATCHYARD_KAFKA_BOOTSTRAP"):
            ensure_jars(progress=print)
        if "--kubernetes" in argv:
            from libs.localinfra.helm_build import ensure_helm
            from libs.localinfra.kube_build import ensure_kube_binaries
            from libs.localinfra.kube_crds import module_dirs
            if not os.environ.get("BATCHYARD_KUBECONFIG"):
                ensure_kube_binaries(progress=print)
            module_dirs()
            ensure_helm(progress=print)
    except InfraError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
