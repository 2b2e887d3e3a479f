"""service_start: the CPU a service process spends importing its code, with and without cached bytecode.

Every integration test, the demo and every benchmark start service processes (six per platform, a connector per
cluster). Where ``PYTHONDONTWRITEBYTECODE`` is set, as on this project's machines, Python never writes
``__pycache__``, so unless ``./task setup`` compiled the virtualenv's bytecode, each process compiles
kubernetes-asyncio, numpy, pydantic and the rest from source as it starts. This times ``import <service module>``
in a fresh interpreter (user + system CPU of the child), alternating two arms in the same run:

- cached: the bytecode ``./task setup`` wrote (``uv sync --compile-bytecode``, ``compileall``);
- from source: the same interpreter pointed at an empty bytecode prefix (``PYTHONPYCACHEPREFIX``) with writing off,
  which is what a process sees when nothing was compiled.

Run: .venv/bin/python -m benchmarks.service_start [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from cli.registry import SERVICES

from .record import write_result

CMD = ".venv/bin/python -m benchmarks.service_start"


def import_cpu(module: str, env: dict[str, str]) -> float:
    """Returns the CPU seconds (user + system) a fresh interpreter spends importing ``module``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", f"import {module}"], env=env, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per service and arm")
    args = parser.parse_args()
    started = time.monotonic()
    cached = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    cached.pop("PYTHONPYCACHEPREFIX", None)
    with tempfile.TemporaryDirectory(prefix="batchyard-nopyc-") as empty:
        source = {**cached, "PYTHONPYCACHEPREFIX": empty}
        per_service = {}
        for name, module in SERVICES.items():
            arms: dict[str, list[float]] = {"cached": [], "source": []}
            for _ in range(args.rounds):
                arms["cached"].append(import_cpu(module, cached))
                arms["source"].append(import_cpu(module, source))
            per_service[name] = {arm: round(statistics.median(v), 3) for arm, v in arms.items()}
            print(f"  {name:15s} cached {per_service[name]['cached']:.2f} s CPU, "
                  f"from source {per_service[name]['source']:.2f} s", flush=True)
    platform = [n for n in SERVICES if n not in ("kube-connector",)]
    total = {arm: round(sum(per_service[n][arm] for n in platform), 2) for arm in ("cached", "source")}
    ratio = round(total["source"] / total["cached"], 2)
    load = os.getloadavg()[0]
    print(f"service_start: one platform start ({', '.join(platform)}) imports in {total['cached']:.2f} s of CPU "
          f"with cached bytecode, {total['source']:.2f} s from source ({ratio}x); a kube connector "
          f"{per_service['kube-connector']['cached']:.2f} s against {per_service['kube-connector']['source']:.2f} s "
          f"(medians of {args.rounds} alternating rounds, load average {load:.1f}, {time.monotonic() - started:.0f} s)")
    write_result("service_start", ratio, "× less CPU to import a platform's services with cached bytecode", True, 2,
                 CMD, per_service=per_service, platform_cpu_s=total, rounds=args.rounds,
                 load_average=round(load, 2))


if __name__ == "__main__":
    main()
