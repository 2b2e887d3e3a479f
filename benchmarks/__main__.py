"""``python -m benchmarks [name ...]``: runs the benchmarks (all, or those whose module name contains a given
word), each as its own process, then rewrites docs/benchmarks.md from the results and the prose sections."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
SKIP = {"__init__", "__main__", "report", "record"}


def modules() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem not in SKIP and not p.stem.endswith("_common"))


def main(words: list[str]) -> int:
    chosen = [m for m in modules() if not words or any(w in m for w in words)]
    if not chosen:
        print(f"no benchmark matches {words}; known: {', '.join(modules())}", file=sys.stderr)
        return 2
    failed = []
    for index, module in enumerate(chosen, start=1):
        print(f"[{index}/{len(chosen)}] benchmarks.{module}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"benchmarks.{module}"])
        print(f"    {'ok' if code == 0 else f'FAILED ({code})'} in {time.monotonic() - started:.0f}s", flush=True)
        if code:
            failed.append(module)
    from benchmarks.report import write_report
    print(f"wrote {write_report()}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
